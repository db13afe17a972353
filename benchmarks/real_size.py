"""What real VLMs cost per image, per model and resolution policy: figures a host can plan with.

    python -m benchmarks.real_size [--models smolvlm-256m,llava-ov-0.5b] [--max-image-tokens
        default,320,0] [--layers N] [--vision-layers N] [--examples 4] [--device cuda
        --dtype bfloat16] [--json]

Models are built by scripts/real_size.py (published configs, random weights, offline, cached;
`--layers` / `--vision-layers` keep fewer layers at real width). Each (model, policy) runs in a
fresh process, so its peak RSS is its own: load, the image tokens of a 640x480 photo, extract
(`savs.extract`, seconds per example), fit from those activations, then predict and explain
one example (seconds each). `default` is the architecture's classification default, 0 the
processor's own settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import torch
import savs
from PIL import Image
from savs import Example

folder, policy, n, device, dtype = sys.argv[1:6]
tokens = None if policy == "default" else int(policy)
torch.set_num_threads(int(sys.argv[6]))


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


def photo(rgb, i):
    img = Image.new("RGB", (640, 480), rgb)
    img.paste(tuple(c // 2 for c in rgb), (40 * i, 30, 40 * i + 200, 230))
    return img


colours = {"red": (220, 30, 30), "blue": (30, 40, 220)}
examples = [Example("What colour is it?", label=name, images=(photo(rgb, i),))
            for i in range(int(n)) for name, rgb in colours.items()][: max(4, int(n))]
start = time.perf_counter()
model = savs.load_model(folder, device=device, dtype=None if dtype == "auto" else dtype,
                        max_image_tokens=tokens)
load_s = time.perf_counter() - start
inputs = model.encode(examples[:1])
# the model's own image token (Gemma3's processor names its begin-of-image token instead)
token_id = getattr(model.model.config, "image_token_id", None)
if token_id is None:
    token_id = model.model.config.image_token_index
image_tokens = int((inputs["input_ids"] == token_id).sum())
sync()
start = time.perf_counter()
acts = savs.extract(model, examples, batch_size=1)
sync()
extract_s = (time.perf_counter() - start) / len(examples)
clf = savs.fit_activations(acts, [ex.label for ex in examples], k=8,
                           config=savs.pipeline.classifier_config(model, None))
start = time.perf_counter()
savs.predict(model, clf, examples[:1])
sync()
predict_s = time.perf_counter() - start
start = time.perf_counter()
savs.explain(model, clf, examples[0])
sync()
explain_s = time.perf_counter() - start
out = {"image_tokens": image_tokens, "max_image_tokens": model.max_image_tokens,
       "load_s": load_s, "extract_s": extract_s, "predict_s": predict_s, "explain_s": explain_s,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "device": str(model.device), "dtype": str(model.dtype)}
if device == "cuda":
    out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""


def real_size_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    import real_size

    return real_size


def run_one(folder: Path, policy: str, args: argparse.Namespace) -> dict:
    argv = [folder, policy, args.examples, args.device, args.dtype, args.threads]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    head = (
        "| model | policy | image tokens (640x480) | extract / example | predict | explain "
        "| peak RSS |\n|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['policy']} | error: {r['error']} | | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['policy']} | {r['image_tokens']:,} | {r['extract_s']:.2f} s "
            f"| {r['predict_s']:.2f} s | {r['explain_s']:.2f} s | {r['peak_rss_mb']:,.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="smolvlm-256m")
    parser.add_argument("--max-image-tokens", default="default,0", help="policies, comma-separated")
    parser.add_argument("--layers", type=int, help="text layers kept (real width)")
    parser.add_argument("--vision-layers", type=int, help="vision layers kept (real width)")
    parser.add_argument("--examples", type=int, default=4, help="extracted per model and policy")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="1: see RESULTS.md, conditions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    real_size = real_size_module()
    rows = []
    for name in args.models.split(","):
        folder = real_size.build(name.strip(), args.layers, args.vision_layers)
        for policy in args.max_image_tokens.split(","):
            row = {"model": name, "policy": policy.strip(), "layers": args.layers}
            row.update(run_one(folder, policy.strip(), args))
            rows.append(row)
            if not args.json:
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(json.dumps(rows, indent=1) if args.json else table(rows))


if __name__ == "__main__":
    main()
