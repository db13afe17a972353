"""End-to-end speed of live classification: frames sent to a running app through gradio_client,
answered and read back, per second.

    python -m benchmarks.live --url http://127.0.0.1:7860 --api-name /classify_frame \\
        --inputs '["{frame}"]' [--frames 50] [--in-flight 1] [--task colour] [--json]

Generic on purpose: the endpoint's name and how a frame becomes its inputs are parameters, so it
works for whatever event the app exposes for the webcam loop. A frame is a bundled-task scene
(savs.tiny.tasks) saved as PNG, so the answers can be checked against its label too.

Figures (all end to end, from this process: upload, queue, model, download):
- frames_per_second: frames answered / wall time of the run (warm-up frames excluded);
- latency_ms_median / latency_ms_p90: per-frame round trip;
- accuracy: share of answers equal to the frame's label, when labels are known.
With --in-flight N, up to N frames are in the queue at once (a browser that does not wait for
an answer before sending the next frame); 1 is the strict request-answer loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

InputBuilder = Callable[[int], Sequence[Any]]  # frame index -> the endpoint's inputs


@dataclass
class LiveResult:
    frames: int
    seconds: float
    frames_per_second: float
    latency_ms_median: float
    latency_ms_p90: float
    errors: int
    accuracy: float | None = None
    answers: list[str] = field(default_factory=list)
    first_error: str = ""  # the first failed frame's error, to tell app errors from overload


def first_label(output: Any) -> str:
    """The label in an endpoint's output: the first output of several; a gr.Label value's
    'label'; a plain string as it is."""
    if isinstance(output, (list, tuple)):
        output = output[0] if output else ""
    if isinstance(output, dict):
        output = output.get("label", "")
    return str(output)


def measure_live(
    url: str,
    api_name: str,
    build_inputs: InputBuilder,
    n_frames: int = 50,
    warmup: int = 2,
    in_flight: int = 1,
    expected: Sequence[str] | None = None,
    label_of: Callable[[Any], str] = first_label,
    client: Any = None,
) -> LiveResult:
    """Send `n_frames` frames (inputs from `build_inputs(i)`) to `api_name` of the app at `url`
    and time the answers. `expected[i]`, when given, is frame i's right label (for accuracy).
    Warm-up frames (connection, first-call caches) are sent first and not counted. A frame whose
    call fails counts as an error, not as an answer."""
    from gradio_client import Client

    if n_frames < 1 or in_flight < 1:
        raise ValueError("n_frames and in_flight must be at least 1")
    client = client or Client(url, verbose=False)
    for i in range(warmup):
        client.predict(*build_inputs(i), api_name=api_name)
    answers: list[str | None] = [None] * n_frames
    latencies: list[float] = []
    failures: list[str] = []
    pending, start = [], time.perf_counter()

    def collect(job, i: int, sent: float) -> None:
        try:
            answers[i] = label_of(job.result())
            latencies.append(time.perf_counter() - sent)
        except Exception as e:  # noqa: BLE001 -- an app error for one frame: count it, go on
            failures.append(f"frame {i}: {type(e).__name__}: {e}")

    for i in range(n_frames):
        if len(pending) >= in_flight:
            collect(*pending.pop(0))
        pending.append((client.submit(*build_inputs(i), api_name=api_name), i, time.perf_counter()))
    for job in pending:
        collect(*job)
    seconds = time.perf_counter() - start
    answered = [a for a in answers if a is not None]
    accuracy = None
    if expected is not None:
        accuracy = sum(a == e for a, e in zip(answers, expected)) / n_frames
    ms = sorted(1000 * t for t in latencies) or [float("nan")]
    return LiveResult(
        frames=len(answered),
        seconds=seconds,
        frames_per_second=len(answered) / seconds if seconds > 0 else float("nan"),
        latency_ms_median=statistics.median(ms),
        latency_ms_p90=ms[min(len(ms) - 1, int(0.9 * len(ms)))],
        errors=len(failures),
        accuracy=accuracy,
        answers=[a or "" for a in answers],
        first_error=failures[0] if failures else "",
    )


def scene_frame_files(
    folder: str | Path, task: str = "colour", labels: Sequence[str] = (), n: int = 10
) -> list[tuple[str, Path]]:
    """n (label, PNG path) frames of a bundled task's scenes, labels taken in turn, from a seed
    range of their own (9,000,000+, away from the task's and the tiny model's scenes)."""
    from savs.tiny.tasks import TASKS, task_scene

    labels = list(labels) or TASKS[task][1]
    out = []
    for i in range(n):
        label = labels[i % len(labels)]
        path = Path(folder) / f"frame_{i:04d}.png"
        task_scene(task, label, 9_000_000 + i).image.save(path)
        out.append((label, path))
    return out


def file_inputs(paths: Sequence[Path], template: Sequence[Any]) -> InputBuilder:
    """An input builder: `template` with every "{frame}" replaced by frame i's file (cycled)."""
    from gradio_client import handle_file

    def build(i: int) -> list[Any]:
        frame = handle_file(str(paths[i % len(paths)]))
        return [frame if v == "{frame}" else v for v in template]

    return build


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.live", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", required=True, help="the running app, e.g. http://127.0.0.1:7860")
    parser.add_argument("--api-name", required=True, help="the endpoint, e.g. /classify_frame")
    parser.add_argument(
        "--inputs",
        default='["{frame}"]',
        help='JSON list of the endpoint\'s inputs; "{frame}" is the frame file',
    )
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--task", default="colour", help="bundled task whose scenes are the frames")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        frames = scene_frame_files(folder, args.task, n=min(args.frames, 20))
        expected = [frames[i % len(frames)][0] for i in range(args.frames)]
        result = measure_live(
            args.url,
            args.api_name,
            file_inputs([p for _, p in frames], json.loads(args.inputs)),
            n_frames=args.frames,
            warmup=args.warmup,
            in_flight=args.in_flight,
            expected=expected,
        )
    out = {k: v for k, v in asdict(result).items() if k != "answers"}
    out.update(url=args.url, api_name=args.api_name, in_flight=args.in_flight)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:20s} {v:.3f}" if isinstance(v, float) else f"{k:20s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
