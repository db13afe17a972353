"""Fit SAVs with a model on the bundled example tasks, print the accuracy table and the heads each
pair of tasks shares (`savs.overlap.head_overlap`) for README, and render the tasks' selected
heads on one layer x head grid (`savs.plots.tasks_figure`, the app's "Compare tasks" overlay)
into one PNG (headless Chromium, no internet needed).

    python scripts/readme_figures.py [--model tiny] [--tasks colour shape count position]
                                     [--out assets/readme/tasks.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from savs import (  # noqa: E402
    ActivationCache,
    evaluate,
    fit,
    load_examples,
    load_model,
    plots,  # noqa: E402
)
from savs.models.registry import ASSETS  # noqa: E402
from savs.overlap import head_overlap  # noqa: E402


def render_png(figures: list, out: Path, width: int = 560, columns: int = 2) -> None:
    """Screenshot plotly figures (inline plotly.js) side by side in a grid of `columns`."""
    import plotly.io as pio
    from playwright.sync_api import sync_playwright

    parts = [
        pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False, default_width=f"{width}px")
        for i, fig in enumerate(figures)
    ]
    html = (
        "<html><body style='margin:0;background:white'><div style='display:grid;"
        f"grid-template-columns:repeat({columns},{width}px);gap:8px'>"
        + "".join(f"<div>{p}</div>" for p in parts)
        + "</div></body></html>"
    )
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "figures.html"
        page_path.write_text(html, encoding="utf-8")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": columns * width + 8, "height": 400})
            page.goto(page_path.as_uri())
            page.wait_for_timeout(1500)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--tasks", nargs="+", default=["colour", "shape", "count", "position"])
    parser.add_argument("--heads", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "assets" / "readme" / "tasks.png"))
    args = parser.parse_args()

    model = load_model(args.model)
    rows, classifiers = [], {}
    for task in args.tasks:
        folder = ASSETS / "examples" / task
        train, test = load_examples(folder / "train.jsonl"), load_examples(folder / "test.jsonl")
        start = time.perf_counter()
        clf = fit(model, train, k=args.heads, cache=ActivationCache())
        report, _ = evaluate(model, clf, test)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "task": task,
                "classes": len(clf.labels),
                "train": len(train),
                "test": len(test),
                "test_accuracy": report.accuracy,
                "heads": [list(h) for h in clf.heads[:5]],
                "seconds": round(seconds, 1),
            }
        )
        classifiers[task] = clf
        print(json.dumps(rows[-1]), flush=True)
    print("\n| task | classes | train | test | test accuracy | fit + eval (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['classes']} | {r['train']} | {r['test']} | "
            f"{r['test_accuracy']:.1%} | {r['seconds']} |"
        )
    overlap = head_overlap(classifiers)
    print("\n| tasks | shared heads | jaccard | which |\n|---|---|---|---|")
    for a, b, n, jaccard, which in plots.overlap_rows(overlap):
        print(f"| {a} & {b} | {n} | {jaccard:.2f} | {which or '-'} |")
    for name, info in overlap["classifiers"].items():
        print(f"{name}: layers {info['layers']}")
    title = f"{model.name}: the top {args.heads} heads of each task"
    render_png([plots.tasks_figure(classifiers, title)], Path(args.out), width=760, columns=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
