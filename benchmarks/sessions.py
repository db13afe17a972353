"""Many users, one server: a session's classify latency while another session works on another
model, and what the model pool keeps resident.

    python -m benchmarks.sessions [--classifies 20] [--json]

Everything runs through the real app (`python app.py` as its own process on 127.0.0.1, driven
with gradio_client from this one), as a Space serves it:
- session A builds the colour task on `tiny` and classifies one image `--classifies` times with
  the server idle, then the same number of times while session B runs `/evaluate_task` on the
  safety task with `smollm2` (a hundred forward passes of a 135M model, over and over);
- the ratio busy / idle of A's median latency is the figure (goal <= 1.5 on 2 CPU cores: each
  resident model gets its share of the cores, and models have their own locks);
- the server's RSS with one and with both models resident is reported (that at most
  SAVS_MAX_MODELS stay resident is proved by tests/unit/test_pool.py).
The live loop's frames per second are measured in a browser: benchmarks/live_browser.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY_LABEL = "red"


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


@contextmanager
def _app_process(log: Callable[[str], None]) -> Iterator[tuple[str, int]]:
    """`python app.py --model tiny` as its own process (as a Space runs it: the clients here do
    not share its interpreter); yields (url, pid)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--model", "tiny", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        log(f"app answering on {url}")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _rss_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(classifies: int = 20, log: Callable[[str], None] = print) -> dict:
    from gradio_client import Client, handle_file

    from studio.pool import max_models_from_env

    stop = threading.Event()
    rounds: list[float] = []
    with _app_process(log) as (url, pid), tempfile.TemporaryDirectory() as tmp:
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
        rss_one_model = _rss_of(pid)
        b = Client(url, verbose=False)
        log("B: loading smollm2 (converted once to $SAVS_CACHE)")
        b.predict("smollm2", api_name="/load_model")
        b.predict("safety", api_name="/load_example_task")
        b.predict("Is this request harmful or harmless?", 20, "loo", api_name="/extract")
        busy_b = threading.Event()

        def keep_b_busy() -> None:
            while not stop.is_set():
                busy_b.set()
                start = time.perf_counter()
                try:
                    b.predict(False, api_name="/evaluate_task")
                except Exception:  # noqa: BLE001 - the server closed under a last round
                    if stop.is_set():
                        return
                    raise
                rounds.append(time.perf_counter() - start)

        worker = threading.Thread(target=keep_b_busy, daemon=True)
        worker.start()
        busy_b.wait()
        time.sleep(1.0)  # B is inside its evaluation
        log("A: classifies while B evaluates on smollm2")
        busy = _timed(classify, classifies)
        rss_two_models = _rss_of(pid)
        stop.set()
    idle_ms, busy_ms = statistics.median(idle) * 1e3, statistics.median(busy) * 1e3
    return {
        "classify_idle_ms_median": round(idle_ms, 1),
        "classify_while_other_model_busy_ms_median": round(busy_ms, 1),
        "busy_over_idle": round(busy_ms / idle_ms, 2),
        "other_session_evaluate_s": [round(r, 1) for r in rounds],
        "max_models": max_models_from_env(),
        "server_rss_mb_tiny": round(rss_one_model),
        "server_rss_mb_tiny_and_smollm2": round(rss_two_models),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sessions", description=__doc__)
    parser.add_argument("--classifies", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.classifies, log=lambda s: print(s, file=sys.stderr))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
