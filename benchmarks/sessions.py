"""Many users, one server: a session's classify latency while another session works on another
model, and what the model pool keeps resident. Also the live loop's frames per second.

    python -m benchmarks.sessions [--classifies 20] [--json]

Everything runs through the real app (launched in this process on 127.0.0.1, driven with
gradio_client), as a Space serves it:
- session A builds the colour task on `tiny` and classifies one image `--classifies` times with
  the server idle, then the same number of times while session B runs `/evaluate_task` on the
  safety task with `smollm2` (a hundred forward passes of a 135M model, over and over);
- the ratio busy / idle of A's median latency is the figure (goal <= 1.5 on 2 CPU cores: each
  resident model gets its share of the cores, and models have their own locks);
- the pool's resident models are sampled throughout (never more than SAVS_MAX_MODELS), and the
  process's RSS with both models resident is reported;
- the live loop: frames per second through `/classify_frame` (benchmarks.live), goal >= 5.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY_LABEL = "red"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _query_image(folder: Path) -> Path:
    from savs.tiny.tasks import task_scene

    path = folder / "query.png"
    task_scene("colour", QUERY_LABEL, 987_654).image.save(path)
    return path


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run(classifies: int = 20, frames: int = 40, log: Callable[[str], None] = print) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import torch
    from gradio_client import Client, handle_file

    import app
    from benchmarks.live import file_inputs, measure_live
    from savs.pool import max_models_from_env

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max_models_from_env()))  # as app.main
    app.start("tiny")
    demo = app.build_demo()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.launch_kwargs()
    )
    resident: list[int] = []
    stop = threading.Event()

    def sample_pool() -> None:
        while not stop.is_set():
            resident.append(len(app.POOL.resident()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample_pool, daemon=True)
    sampler.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            query = _query_image(Path(tmp))
            a = Client(url, verbose=False)
            a.predict("colour", api_name="/load_example_task")
            a.predict("What colour is the shape?", 20, "loo", api_name="/extract")

            def classify() -> None:
                label = a.predict(handle_file(query), "", api_name="/classify")[0]["label"]
                assert label == QUERY_LABEL, label

            classify()  # warm
            log("A: idle classifies")
            idle = _timed(classify, classifies)
            b = Client(url, verbose=False)
            log("B: loading smollm2 (converted once to $SAVS_CACHE)")
            b.predict("smollm2", api_name="/load_model")
            b.predict("safety", api_name="/load_example_task")
            b.predict("Is this request harmful or harmless?", 20, "loo", api_name="/extract")
            busy_b = threading.Event()
            rounds = []

            def keep_b_busy() -> None:
                while not stop.is_set():
                    busy_b.set()
                    start = time.perf_counter()
                    b.predict(False, api_name="/evaluate_task")
                    rounds.append(time.perf_counter() - start)

            worker = threading.Thread(target=keep_b_busy, daemon=True)
            worker.start()
            busy_b.wait()
            time.sleep(1.0)  # B is inside its evaluation
            log("A: classifies while B evaluates on smollm2")
            busy = _timed(classify, classifies)
            rss_two_models = _rss_mb()
            log("live loop: /classify_frame")
            live = measure_live(
                url,
                "/classify_frame",
                file_inputs([str(query)] * frames, ["{frame}", ""]),
                n_frames=frames,
                client=a,
            )
            stop.set()
            worker.join(timeout=600)
    finally:
        stop.set()
        demo.close()
    idle_ms, busy_ms = statistics.median(idle) * 1e3, statistics.median(busy) * 1e3
    return {
        "classify_idle_ms_median": round(idle_ms, 1),
        "classify_while_other_model_busy_ms_median": round(busy_ms, 1),
        "busy_over_idle": round(busy_ms / idle_ms, 2),
        "other_session_evaluate_s": [round(r, 1) for r in rounds],
        "max_resident_models": max(resident),
        "max_models": max_models_from_env(),
        "rss_mb_two_models_resident": round(rss_two_models),
        "live_frames_per_second": round(live.frames_per_second, 2),
        "live_latency_ms_median": round(live.latency_ms_median, 1),
        "live_errors": live.errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sessions", description=__doc__)
    parser.add_argument("--classifies", type=int, default=20)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.classifies, args.frames, log=lambda s: print(s, file=sys.stderr))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
