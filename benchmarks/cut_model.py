"""Load time and resident memory of a model loaded whole against loaded cut after N layers
(`savs.load_model(name, layers=N)`), side by side in one run.

    python -m benchmarks.cut_model [--models tiny,smollm2] [--rounds 3] [--json]

Each load runs in a fresh Python process (so resident memory is that load's alone), interleaved
whole / cut / whole / cut ..., and the medians are compared. The figure for memory is the
process's peak RSS after the load minus its peak RSS after importing savs and torch, and the
same after every weight has been read once (weights may be memory-mapped: a model in use has
read them all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import savs, torch
torch.set_num_threads(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
name, layers = sys.argv[1], (int(sys.argv[2]) or None)
start = time.perf_counter()
adapter = savs.load_model(name, device="cpu", layers=layers)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# weights may be memory-mapped: a model in use has every page read, so touch them all
params = 0
for p in adapter.model.parameters():
    p.detach().sum()
    params += p.numel()
used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_mb": (after - before) / 1024,
                  "used_mb": (used - before) / 1024, "params": params,
                  "layers": adapter.num_layers, "full_layers": adapter.full_layers}))
"""

CUTS = {"tiny": [4, 2], "smollm2": [15, 8]}  # layers kept: half and about a quarter


def load_once(name: str, layers: int | None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(layers or 0)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(name: str, cuts: list[int], rounds: int) -> list[dict]:
    runs: dict[int | None, list[dict]] = {None: [], **{n: [] for n in cuts}}
    load_once(name, None)  # warm-up: file caches, the GGUF conversion cache
    for _ in range(rounds):
        for layers in runs:
            runs[layers].append(load_once(name, layers))
    whole_s = statistics.median(r["seconds"] for r in runs[None])
    whole_mb = statistics.median(r["rss_mb"] for r in runs[None])
    whole_used = statistics.median(r["used_mb"] for r in runs[None])
    rows = []
    for results in runs.values():
        seconds = statistics.median(r["seconds"] for r in results)
        rss = statistics.median(r["rss_mb"] for r in results)
        used = statistics.median(r["used_mb"] for r in results)
        rows.append(
            {
                "model": name,
                "layers": results[0]["layers"],
                "full_layers": results[0]["full_layers"],
                "params": results[0]["params"],
                "load_s": seconds,
                "rss_mb": rss,
                "load_ratio": seconds / whole_s,
                "rss_ratio": rss / whole_mb if whole_mb else float("nan"),
                "used_mb": used,
                "used_ratio": used / whole_used if whole_used else float("nan"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,smollm2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        cuts = CUTS.get(name, [2])
        rows += measure(name, cuts, args.rounds)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(
        "| model | layers | parameters | load (s) | load / whole | RSS after load (MB) | "
        "/ whole | RSS in use (MB) | / whole |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['layers']} of {r['full_layers']} | {r['params'] / 1e6:.2f} M | "
            f"{r['load_s']:.2f} | {r['load_ratio']:.2f} | {r['rss_mb']:.0f} | "
            f"{r['rss_ratio']:.2f} | {r['used_mb']:.0f} | {r['used_ratio']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
