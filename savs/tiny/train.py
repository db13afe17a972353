"""Train the bundled tiny VLM from scratch on procedural scenes (CPU, seeded).

    python -m savs.tiny.train --out assets/tiny

Writes the tokenizer, processor and fp16 safetensors weights with ``save_pretrained``.
Loss is on the answer tokens only (+ the closing ``<|end|>``); prompts are built with
the same chat template the processor uses. Training scenes use seeds
``[--data-seed, --data-seed + --scenes)``; the bundled tasks and the evaluation use
disjoint seed ranges (see ``savs.tiny.tasks`` and ``savs.tiny.evaluate``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import time
from dataclasses import fields

import numpy as np

from .build import END, IMAGE, TinyConfig, build_model, build_processor
from .scenes import make_scene, qa_pairs

TRAIN_SEED_BASE = 1_000_000
# Sampling weights of the question types in a training batch.
TYPE_WEIGHTS = {"colour": 1.0, "shape": 1.2, "count": 1.0, "position": 1.0, "exists": 0.8,
                "caption": 0.4}


class Batcher:
    """Turns (scene index, question, answer) into padded tensors, caching tokenizations."""

    def __init__(self, tokenizer, n_image_tokens: int):
        self.tok = tokenizer
        self.n_img = n_image_tokens
        self.image_id = tokenizer.convert_tokens_to_ids(IMAGE)
        self.end_id = tokenizer.convert_tokens_to_ids(END)
        self.pad_id = tokenizer.pad_token_id
        self._prompt: dict[str, list[int]] = {}
        self._answer: dict[str, list[int]] = {}

    def prompt_ids(self, question: str) -> list[int]:
        ids = self._prompt.get(question)
        if ids is None:
            msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            text = self.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            raw = self.tok(text, add_special_tokens=False)["input_ids"]
            ids = []
            for t in raw:
                ids.extend([self.image_id] * self.n_img if t == self.image_id else [t])
            self._prompt[question] = ids
        return ids

    def answer_ids(self, answer: str) -> list[int]:
        ids = self._answer.get(answer)
        if ids is None:
            ids = self.tok(answer, add_special_tokens=False)["input_ids"] + [self.end_id]
            self._answer[answer] = ids
        return ids

    def __call__(self, items):
        import torch

        seqs, labels = [], []
        for q, a in items:
            p, ans = self.prompt_ids(q), self.answer_ids(a)
            seqs.append(p + ans)
            labels.append([-100] * len(p) + ans)
        T = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)
        lab = torch.full((len(seqs), T), -100, dtype=torch.long)
        mask = torch.zeros((len(seqs), T), dtype=torch.long)
        for i, (s, l) in enumerate(zip(seqs, labels)):
            ids[i, : len(s)] = torch.tensor(s)
            lab[i, : len(l)] = torch.tensor(l)
            mask[i, : len(s)] = 1
        return ids, mask, lab


def make_pool(n: int, base: int, log=print):
    t0 = time.time()
    scenes, images = [], np.zeros((n, 64, 64, 3), dtype=np.uint8)
    for i in range(n):
        # 40% single-object scenes (the easiest questions, and what the bundled colour,
        # shape and position tasks ask about); the rest 1-4 objects uniformly.
        sc = make_scene(base + i, n_objects=1 if (base + i) % 5 < 2 else None)
        images[i] = np.asarray(sc.image)
        sc.image = None  # keep only the pixels array
        scenes.append(sc)
    log(f"rendered {n} training scenes in {time.time() - t0:.1f}s")
    return scenes, images


def sample_batch(rng: random.Random, scenes, batch_size: int):
    types = list(TYPE_WEIGHTS)
    weights = [TYPE_WEIGHTS[t] for t in types]
    idx, items, qtypes = [], [], []
    for _ in range(batch_size):
        i = rng.randrange(len(scenes))
        qtype = rng.choices(types, weights)[0]
        pairs = {t: (q, a) for t, q, a in qa_pairs(scenes[i], rng)}
        idx.append(i)
        items.append(pairs[qtype])
        qtypes.append(qtype)
    return idx, items, qtypes


def to_pixels(images_u8: np.ndarray):
    import torch

    x = torch.from_numpy(images_u8).float().permute(0, 3, 1, 2)
    return x / 127.5 - 1.0  # SigLIP processor: rescale 1/255, mean 0.5, std 0.5


def train(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    log_f = open(os.path.join(args.out, "train_log.txt"), "w") if args.out else None

    def log(msg):
        print(msg, flush=True)
        if log_f:
            log_f.write(msg + "\n")
            log_f.flush()

    cfg = TinyConfig(**{f.name: getattr(args, f.name) for f in fields(TinyConfig)
                        if getattr(args, f.name, None) is not None})
    t_start = time.time()
    processor = build_processor(cfg)
    tok = processor.tokenizer
    model = build_model(cfg, tok, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"config {json.dumps(cfg.to_dict())}")
    log(f"params {n_params / 1e6:.2f}M")
    scenes, images = make_pool(args.scenes, args.data_seed, log)
    batcher = Batcher(tok, cfg.num_image_tokens)
    rng = random.Random(args.seed)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))

    def lr_at(step):
        # Linear warmup, then constant: the schedule does not depend on --steps, so the
        # checkpoint written at step N equals the result of a run with --steps N. The
        # saved weights are an exponential moving average (EMA) of the trained ones,
        # which plays the part of a final learning-rate decay.
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        return args.lr

    ema_model = copy.deepcopy(model).eval()
    for p in ema_model.parameters():
        p.requires_grad_(False)
    model.train()
    t0 = time.time()
    ema = None
    hits: dict[str, list[bool]] = {}
    for step in range(args.steps):
        idx, items, qtypes = sample_batch(rng, scenes, args.batch_size)
        ids, mask, lab = batcher(items)
        pix = to_pixels(images[idx])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        out = model(input_ids=ids, attention_mask=mask, pixel_values=pix)
        logits = out.logits[:, :-1].float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), lab[:, 1:].reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (step + 1) / (step + 10))
            for pe, pm in zip(ema_model.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        with torch.no_grad():  # teacher-forced exact match of each answer, per type
            tgt = lab[:, 1:]
            ok = ((logits.argmax(-1) == tgt) | (tgt == -100)).all(dim=1).tolist()
        for t, o in zip(qtypes, ok):
            hits.setdefault(t, []).append(o)
        if step % args.log_every == 0 or step == args.steps - 1:
            el = time.time() - t0
            acc = " ".join(f"{t}={sum(v) / len(v):.2f}" for t, v in sorted(hits.items()))
            hits = {}
            log(f"step {step} loss {loss.item():.4f} ema {ema:.4f} lr {lr_at(step):.2e} "
                f"{el / (step + 1):.3f}s/step elapsed {el:.0f}s | train EM {acc}")
        if args.out and args.save_every and (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            save(ema_model, processor, args.out, {"steps_done": step + 1, "intermediate": True})
            log(f"intermediate checkpoint after {step + 1} steps")
    train_time = time.time() - t0
    model = ema_model
    info = {"steps": args.steps, "batch_size": args.batch_size, "train_seconds": round(train_time, 1),
            "total_seconds": round(time.time() - t_start, 1), "final_loss_ema": round(ema, 4),
            "params": n_params, "seed": args.seed, "data_seed": args.data_seed,
            "scenes": args.scenes, "lr": args.lr, "ema": args.ema, "threads": args.threads, "config": cfg.to_dict()}
    if args.out:
        save(model, processor, args.out, info)
        log(f"saved to {args.out}")
    log(json.dumps(info))
    if log_f:
        log_f.close()
    return info


def save(model, processor, out: str, info: dict) -> None:
    import torch

    os.makedirs(out, exist_ok=True)
    import copy

    half = copy.deepcopy(model).to(torch.float16)  # never round the weights being trained
    half.config.dtype = "float16"
    half.save_pretrained(out)
    processor.save_pretrained(out)
    with open(os.path.join(out, "training_info.json"), "w") as f:
        json.dump(info, f, indent=2)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="assets/tiny", help="output folder ('' to not save)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--ema", type=float, default=0.99, help="EMA decay of the saved weights")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=TRAIN_SEED_BASE)
    ap.add_argument("--scenes", type=int, default=12000, help="training scene pool size")
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared 2-core box")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every", type=int, default=250, help="intermediate checkpoints (0: off)")
    for f in fields(TinyConfig):
        ap.add_argument("--" + f.name.replace("_", "-"), type=int, default=None,
                        help=f"model size (default {f.default})")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    train(args)


if __name__ == "__main__":
    main()
