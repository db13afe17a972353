"""A fit and its k curve from cached activations: what the CLI's `fit` and the app's Extract /
refit ask for (a classifier and the training accuracy for every k), timed on random tensors.

    python -m benchmarks.fit_curve [--repeats 9] [--json]

Figures: milliseconds, wall and CPU (median of `repeats`, one torch thread, the cases
interleaved; on a shared machine CPU time is the steadier figure) for
- "fit + curve": a classifier and its k curve, as the callers get them. Before issue 20 that was
  `fit_activations` then `k_curve` (a second cosine pass [N, M, C] over every head); since, the
  fit's own `clf.k_curve`, from the cosines its head scores came from.
- "fit": `fit_activations` alone (since issue 20 it includes the curve).
Each for a fixed k (20) and k="auto". And "app k change": the app's refit with another k
(`Studio.refit`, then `Studio.k_curve` for the redraw) on a session holding these activations;
since issue 20 it reuses the head scores and the curve (no cosine pass). Runs on the code it
finds (before or after the change), so the same script measures both.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch

from savs.classifier import fit_activations, k_curve

SHAPES: tuple[tuple[int, int, int, int], ...] = ((100, 8, 8, 16), (1000, 24, 16, 64))
NUM_CLASSES = 5


def task(shape: tuple[int, int, int, int]) -> tuple[torch.Tensor, list[str]]:
    """Random activations [N, L, H, d] with a little class signal, and their labels."""
    gen = torch.Generator().manual_seed(0)
    n = shape[0]
    y = torch.arange(n) % NUM_CLASSES  # [N]
    centres = torch.randn(NUM_CLASSES, *shape[1:], generator=gen)
    acts = torch.randn(shape, generator=gen) + 0.3 * centres[y]  # [N, L, H, d]
    return acts, [f"class {int(c)}" for c in y]


def fit_and_curve(acts: torch.Tensor, labels: list[str], k: int | str) -> list:
    """What a caller does for a classifier and its k curve, with the code installed."""
    clf = fit_activations(acts, labels, k)
    curve = getattr(clf, "k_curve", None)  # the fit's own (issue 20), else computed again
    return curve if curve is not None else k_curve(acts, labels)


def studio_with(acts: torch.Tensor, labels: list[str]):
    """An app session (studio.actions.Studio) holding `acts` as its extracted activations."""
    from studio.actions import Studio

    studio = Studio()
    for name in dict.fromkeys(labels):
        studio.add_class(name)
    for i, label in enumerate(labels):
        studio.add_examples(label, text=f"example {i}")
    studio.activations, studio.fit_config, studio.k = acts, {"model": "random"}, 20
    studio._fit(studio.training_examples())  # what Extract does once the model has run
    return studio


def k_change(studio, ks: list[int]) -> None:
    """One k change in the app: the refit, then the curve its redraw shows."""
    ks.append(ks.pop(0))
    studio.refit(k=ks[0])
    studio.k_curve()


def median_ms(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict]:
    """Median wall and CPU milliseconds per case, the cases interleaved (A, B, A, B, ...)."""
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in cases}
    for run in cases.values():  # warm-up
        run()
    for _ in range(repeats):
        for name, run in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name]["cpu"].append((time.process_time() - cpu) * 1000)
            times[name]["wall"].append((time.perf_counter() - wall) * 1000)
    return {
        name: {clock: round(statistics.median(t), 2) for clock, t in clocks.items()}
        for name, clocks in times.items()
    }


def measure(repeats: int) -> dict:
    torch.set_num_threads(1)
    out: dict = {"torch": torch.__version__, "machine": platform.machine(), "shapes": {}}
    for shape in SHAPES:
        acts, labels = task(shape)
        cases: dict[str, Callable[[], object]] = {}
        for k in (20, "auto"):
            cases[f"fit + curve, k={k}"] = lambda a=acts, y=labels, k=k: fit_and_curve(a, y, k)
            cases[f"fit, k={k}"] = lambda a=acts, y=labels, k=k: fit_activations(a, y, k)
        studio = studio_with(acts, labels)
        cases["app k change"] = lambda s=studio, ks=[19, 20, 21]: k_change(s, ks)
        out["shapes"]["x".join(map(str, shape))] = median_ms(cases, repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.repeats)
    if args.json:
        print(json.dumps(result))
        return
    for shape, figures in result["shapes"].items():
        print(f"[N, L, H, d] = [{shape.replace('x', ', ')}]")
        for name, ms in figures.items():
            print(f"  {name:<22} {ms['wall']:>9.2f} ms wall {ms['cpu']:>9.2f} ms CPU")


if __name__ == "__main__":
    main()
