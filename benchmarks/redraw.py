"""The server's work for one click, as the redraw after it learned to skip work, side by side
in one run.

    python -m benchmarks.redraw [--model tiny] [--task colour] [--rounds 20] [--json]

For Classify (the `/classify` endpoint) and a k change (`/refit`, the slider): the endpoint's
callback, then the page redraw gradio chains after it, called in-process on one session as the
app calls them, the three modes interleaved:
- "before" (issue 20): the redraw draws and sends the whole page, as every event once did;
- "after" (issue 20): the components the endpoint returned are neither drawn nor sent
  (`views.page(studio, sent)`), with no memory of what the page showed;
- "memory" (issue 21): also skipped, the views whose inputs did not change since the page last
  drew them (`studio.drawn`): what the app does now.
Figures: milliseconds of server work (median) and the bytes of JSON the outputs make (what goes
to the browser), per click. The browser's own drawing is not included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py


def payload_bytes(values: tuple) -> int:
    """JSON bytes of a callback's outputs as gradio sends them (figures as plotly JSON)."""

    def encode(value: Any) -> Any:
        if hasattr(value, "to_plotly_json"):
            return value.to_json()
        if hasattr(value, "size") and hasattr(value, "mode"):  # a PIL image goes as a file
            return "file"
        return value

    return len(json.dumps([encode(v) for v in values], default=str))


def measure(model: str, task: str, rounds: int) -> dict:
    import torch
    from PIL import Image

    import app
    from savs.models.registry import ASSETS
    from studio.actions import Studio
    from studio.drawn import forget_session
    from studio.views import PAGE, page

    torch.set_num_threads(1)
    app.start(model)
    studio = Studio()
    app.on_page_load(studio, None)
    app.load_task_cb(studio, task)
    app.extract_cb(studio, studio.prompt, 20, "loo", lambda *a, **k: None)
    picture = ASSETS / "examples" / task / "images" / "test_000.png"
    folder = Path(tempfile.mkdtemp())

    def classify() -> tuple:
        query = folder / "query.png"
        Image.open(picture).save(query)  # the endpoint deletes its upload
        return app.classify_cb(studio, str(query), "")

    ks = iter(range(10**9))

    def refit() -> tuple:
        return app.refit_cb(studio, 10 + next(ks) % 20, "loo")

    clicks = {
        "classify": (classify, ("predicted", "bars", "heatmap", "timing")),
        "k_change": (refit, ("heatmap", "top_heads", "fit_line", "summary")),
    }
    out: dict[str, dict] = {}
    modes = ("before", "after", "memory")
    for name, (endpoint, sent) in clicks.items():
        sent = frozenset(sent) & set(PAGE)
        runs: dict[str, list[float]] = {mode: [] for mode in modes}
        sizes: dict[str, int] = {}
        endpoint()  # warm-up
        page(studio)
        for _ in range(rounds):
            for mode in modes:  # interleaved: the same machine state for each
                if mode != "memory":
                    forget_session(studio)  # a page that shows nothing yet
                start = time.perf_counter()
                returned = endpoint()
                drawn = page(studio) if mode == "before" else page(studio, sent)
                runs[mode].append((time.perf_counter() - start) * 1000)
                sizes[mode] = payload_bytes(returned[1:]) + payload_bytes(drawn)
        ms = {mode: statistics.median(runs[mode]) for mode in modes}
        out[name] = {
            **{f"{mode}_ms": ms[mode] for mode in modes},
            **{f"{mode}_bytes": sizes[mode] for mode in modes},
            "speedup": ms["before"] / ms["after"],
            "memory_speedup": ms["after"] / ms["memory"],
        }
    return {"model": model, "task": task, "rounds": rounds, "clicks": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--task", default="colour")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.model, args.task, args.rounds)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['model']} on {result['task']}, median of {result['rounds']}")
    for name, r in result["clicks"].items():
        print(
            f"  {name:9s} before {r['before_ms']:6.1f} ms {r['before_bytes']:8,} B   "
            f"after {r['after_ms']:6.1f} ms {r['after_bytes']:8,} B   "
            f"memory {r['memory_ms']:6.1f} ms {r['memory_bytes']:8,} B   "
            f"{r['speedup']:.2f}x, then {r['memory_speedup']:.2f}x"
        )


if __name__ == "__main__":
    main()
