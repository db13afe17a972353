"""A minimal, self-contained SAVs check of the tiny model on the bundled tasks.

    python -m savs.tiny.probe [--model assets/tiny] [--examples assets/examples] [--k 20]

Independent of the core library on purpose (a sanity check of the bundled model, not the
implementation users run): forward pre-hooks on every decoder ``self_attn.o_proj`` take
the input at the final prompt token (prompt built with ``add_generation_prompt=True``),
split into heads; per-head class means from the training examples; each head is scored
by nearest-class-mean (cosine) accuracy on the training set; the top-k heads vote.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter

from PIL import Image


def read_task(path: str):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.append((os.path.join(os.path.dirname(path), r["image"]), r["question"], r["label"]))
    return rows


def head_features(model, processor, rows, batch_size: int = 50):
    """[N, layers, heads, head_dim] o_proj inputs at the last prompt token."""
    import torch

    text_cfg = model.config.get_text_config()
    layers = model.model.language_model.layers
    n_heads = text_cfg.num_attention_heads
    captured: dict[int, torch.Tensor] = {}

    def hook(i):
        def fn(module, args):
            captured[i] = args[0][:, -1, :].detach().float()
        return fn

    handles = [layer.self_attn.o_proj.register_forward_pre_hook(hook(i)) for i, layer in enumerate(layers)]
    feats = []
    try:
        for b in range(0, len(rows), batch_size):
            chunk = rows[b:b + batch_size]
            prompts = [processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}],
                add_generation_prompt=True, tokenize=False) for _, q, _ in chunk]
            images = [Image.open(p).convert("RGB") for p, _, _ in chunk]
            inputs = processor(text=prompts, images=images, return_tensors="pt", padding=True)
            with torch.inference_mode():
                model(**inputs, logits_to_keep=1)
            x = torch.stack([captured[i] for i in range(len(layers))], dim=1)  # [B, L, H*D]
            feats.append(x.reshape(x.shape[0], len(layers), n_heads, -1))
    finally:
        for h in handles:
            h.remove()
    return torch.cat(feats)


def savs_task(model, processor, task_dir: str, k: int = 20):
    import torch

    train, test = read_task(os.path.join(task_dir, "train.jsonl")), read_task(os.path.join(task_dir, "test.jsonl"))
    classes = sorted({lab for _, _, lab in train})
    ytr = torch.tensor([classes.index(lab) for _, _, lab in train])
    yte = torch.tensor([classes.index(lab) for _, _, lab in test])
    ftr = torch.nn.functional.normalize(head_features(model, processor, train), dim=-1)  # [N, L, H, D]
    fte = torch.nn.functional.normalize(head_features(model, processor, test), dim=-1)
    means = torch.stack([ftr[ytr == c].mean(0) for c in range(len(classes))], dim=0)  # [C, L, H, D]
    means = torch.nn.functional.normalize(means, dim=-1)

    def predict(f):  # [N, L, H] class index per head
        return torch.einsum("nlhd,clhd->nlhc", f, means).argmax(-1)

    train_acc = (predict(ftr) == ytr[:, None, None]).float().mean(0)  # [L, H]
    L, H = train_acc.shape
    top = torch.argsort(train_acc.flatten(), descending=True, stable=True)[:k]
    heads = [(int(i) // H, int(i) % H) for i in top]
    pte = predict(fte)
    votes = torch.stack([pte[:, l, h] for l, h in heads], dim=1)  # [N, k]
    pred = torch.tensor([Counter(v.tolist()).most_common(1)[0][0] for v in votes])
    acc = (pred == yte).float().mean().item()
    return {"accuracy": acc, "heads": heads, "n_test": len(test),
            "top_head_train_acc": float(train_acc.flatten()[top[0]])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="assets/tiny")
    ap.add_argument("--examples", default="assets/examples")
    ap.add_argument("--tasks", nargs="*", default=["colour", "shape", "count", "position"])
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args(argv)
    import torch

    from .evaluate import load

    torch.set_num_threads(2)
    model, processor = load(args.model)
    for task in args.tasks:
        r = savs_task(model, processor, os.path.join(args.examples, task), k=args.k)
        print(f"{task:9s} SAVs top-{args.k} accuracy {r['accuracy']:.3f} (n={r['n_test']}) "
              f"heads {r['heads'][:8]}...")


if __name__ == "__main__":
    main()
