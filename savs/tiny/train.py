"""Train the bundled tiny VLM from scratch on procedural scenes (CPU, seeded).

    python -m savs.tiny.train --out assets/tiny

Writes the tokenizer, processor and fp16 safetensors weights with ``save_pretrained``.
Loss is on the answer tokens only (+ the closing ``<|end|>``); prompts are built with
the same chat template the processor uses.

Two phases. First (``--vision-steps``) the vision tower and projector alone learn to
name what sits in each image quadrant: a linear probe on the projector output, averaged
over the quadrant's patches, predicts the quadrant's shape and colour (or "empty"). Then
the whole model trains on the answers, with probe losses beside the answer loss:
the quadrant probe (``--aux-weight``), a word probe that makes each image token read as
the words naming its object (``--word-weight``), and a grounding probe that makes each
object word of a question find its object (``--grounding-weight``). The probes are
scaffolding and are not saved; each fixed a measured failure (the model card tells which):
without the first, shape was learnt through 8 decoder layers and crawled; without the
last, the model never learnt to single out "the star" among several objects.

The shipped weights: see the three commands in ``assets/tiny/README.md``.
Training scenes use seeds
``[--data-seed, --data-seed + --scenes)``; the bundled tasks and the evaluation use
disjoint seed ranges (see ``savs.tiny.tasks`` and ``savs.tiny.evaluate``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .build import END, IMAGE, TinyConfig, build_model, build_processor
from .scenes import COLOURS, QUADRANTS, SHAPES, make_scene, qa_pairs

TRAIN_SEED_BASE = 1_000_000
# Sampling weights of the question types in a training batch.
TYPE_WEIGHTS = {
    "colour": 1.0,
    "shape": 1.2,
    "count": 1.0,
    "position": 1.0,
    "exists": 0.8,
    "caption": 0.4,
}


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
            msgs = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
            ]
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
        for i, (s, target) in enumerate(zip(seqs, labels)):
            ids[i, : len(s)] = torch.tensor(s)
            lab[i, : len(target)] = torch.tensor(target)
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


def object_classes(obj) -> tuple[int, int, int]:
    """An object's (shape, colour, quadrant) class indices, + 1: 0 stands for "none"."""
    return (
        1 + SHAPES.index(obj.shape),
        1 + list(COLOURS).index(obj.colour),
        1 + QUADRANTS.index(obj.quadrant),
    )


def quadrant_targets(scenes) -> np.ndarray:
    """Per scene and quadrant: (shape index + 1, colour index + 1), 0 for an empty quadrant."""
    out = np.zeros((len(scenes), len(QUADRANTS), 2), dtype=np.int64)  # [N, 4, 2]
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            out[i, QUADRANTS.index(obj.quadrant)] = object_classes(obj)[:2]
    return out


def patch_quadrants(n_tokens: int):
    """The quadrant (``QUADRANTS`` index) of each patch, [g*g]: patches come in raster order
    (row by row) on a g x g grid, g even."""
    import torch

    g = round(n_tokens**0.5)
    if g * g != n_tokens or g % 2:
        raise ValueError(f"expected an even square grid of patches, got {n_tokens} tokens")
    rows, cols = torch.arange(n_tokens).div(g, rounding_mode="floor"), torch.arange(n_tokens) % g
    return (rows >= g // 2).long() * 2 + (cols >= g // 2).long()


def pool_quadrants(image_tokens):
    """Average the patch tokens of each image quadrant: [B, g*g, d] -> [B, 4, d], in
    ``QUADRANTS`` order (top left, top right, bottom left, bottom right)."""
    import torch

    quadrant = patch_quadrants(image_tokens.shape[1])
    return torch.stack(
        [image_tokens[:, quadrant == q].mean(1) for q in range(len(QUADRANTS))], dim=1
    )


class AttributeProbe:
    """A linear read-out of categorical attributes (e.g. shape, colour), class 0 = "none".

    Training scaffolding only, never saved: on the pooled quadrants of the projected image
    tokens it gives the vision tower a direct, dense signal; on the question's object words
    it teaches the decoder to look the named object up in the image.
    """

    def __init__(self, dim: int, sizes: tuple[int, ...] = (len(SHAPES) + 1, len(COLOURS) + 1)):
        import torch

        self.sizes = sizes
        self.linear = torch.nn.Linear(dim, sum(sizes))

    def parameters(self):
        return self.linear.parameters()

    def loss_and_accuracy(self, features, targets):
        """features [..., d]; targets [..., len(sizes)], 0 = none. Accuracy over non-none
        targets."""
        import torch.nn.functional as F

        z = self.linear(features)
        loss, acc, start = 0.0, [], 0
        for j, n in enumerate(self.sizes):
            zj, tj = z[..., start : start + n], targets[..., j]
            loss = loss + F.cross_entropy(zj.reshape(-1, n), tj.reshape(-1))
            full = tj > 0
            acc.append(
                (zj.argmax(-1) == tj)[full].float().mean().item() if full.any() else float("nan")
            )
            start += n
        return loss, acc


def single_token_ids(tokenizer, texts) -> dict[str, int]:
    """text -> its token id, for texts that must each be exactly one token."""
    out = {}
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"{text!r} is not one token in this tokenizer")
        out[text] = ids[0]
    return out


def word_targets(scenes, tokenizer) -> np.ndarray:
    """Per scene and quadrant, the ids of the words that name its object: colour and shape
    (bare, as answered, and with a leading space, as asked) and the quadrant's two words.
    -1 marks an empty quadrant. [N, 4, 6]"""
    names = [*COLOURS, *SHAPES]
    id_of = single_token_ids(
        tokenizer, [*names, *(" " + w for w in names), "top", "bottom", " left", " right"]
    )
    out = np.full((len(scenes), len(QUADRANTS), 6), -1, dtype=np.int64)
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            vertical, horizontal = obj.quadrant.split()
            out[i, QUADRANTS.index(obj.quadrant)] = [
                id_of[obj.colour],
                id_of[" " + obj.colour],
                id_of[obj.shape],
                id_of[" " + obj.shape],
                id_of[vertical],
                id_of[" " + horizontal],
            ]
    return out


WORD_PROBE_SCALE = 20.0  # lets p(word) reach ~1/6 for each of the 6 words of an object


def word_probe_loss(image_tokens, embeddings, targets):
    """Make every image token read, through the tied word embeddings, as the words naming
    the object of its quadrant: -mean log p(word) over those words.

    Why: "What colour is the star?" needs the decoder to find the image token that holds
    a star. If that token already looks like the word " star", finding it is plain token
    matching, and answering is copying, which small transformers learn quickly; without
    this the decoder answered about a random object of the scene for thousands of steps.
    image_tokens [B, g*g, d], embeddings [V, d], targets [B, 4, W] (-1: empty quadrant).
    """
    import torch.nn.functional as F

    per_patch = targets[:, patch_quadrants(image_tokens.shape[1])]  # [B, g*g, W]
    # cosine logits: what matters for matching is direction; a fixed scale keeps the image
    # tokens' norm from growing to fit the small initial embeddings
    cos = F.normalize(image_tokens, dim=-1) @ F.normalize(embeddings, dim=-1).T  # [B, g*g, V]
    logp = (WORD_PROBE_SCALE * cos).log_softmax(-1)
    valid = per_patch >= 0
    picked = logp.gather(-1, per_patch.clamp(min=0))  # [B, g*g, W]
    return -(picked[valid]).mean() if valid.any() else logp.sum() * 0.0


def object_word_ids(tokenizer) -> dict[int, tuple[str, str]]:
    """Token id -> ("shape" | "colour", word) for the object words as they appear in a
    question (" star", " red": with their leading space)."""
    kinds = {**{w: "shape" for w in SHAPES}, **{w: "colour" for w in COLOURS}}
    id_of = single_token_ids(tokenizer, [" " + w for w in kinds])
    return {id_of[" " + w]: (kind, w) for w, kind in kinds.items()}


def grounding_targets(ids, labels, scenes, word_ids: dict[int, tuple[str, str]]):
    """Where the prompts name an object ("the star", "the red one"), what that object is.

    Returns positions [M, 2] (row, token) of object words in the prompts and targets [M, 3]:
    the named object's shape, colour and quadrant (index + 1), all 0 when the scene holds no
    such object (as in "Is there a ring?" -> no).
    """
    import torch

    positions, targets = [], []
    answer_start = (labels != -100).int().argmax(dim=1)  # [B]; labels[:, t] is the token at t
    for b, scene in enumerate(scenes):
        for t in range(int(answer_start[b])):
            word = word_ids.get(int(ids[b, t]))
            if word is None:
                continue
            kind, name = word
            obj = next((o for o in scene.objects if getattr(o, kind) == name), None)
            positions.append((b, t))
            targets.append((0, 0, 0) if obj is None else object_classes(obj))
    return (
        torch.tensor(positions, dtype=torch.long).reshape(-1, 2),
        torch.tensor(targets, dtype=torch.long).reshape(-1, 3),
    )


@contextlib.contextmanager
def capture_projector(model):
    """Keep the projector's output ([B, image tokens, hidden]) of each forward pass."""
    seen: dict = {}
    handle = model.model.multi_modal_projector.register_forward_hook(
        lambda _m, _inp, out: seen.__setitem__("tokens", out)
    )
    try:
        yield seen
    finally:
        handle.remove()


def image_tokens(model, pixel_values):
    """The projected image tokens, [B, g*g, hidden], without running the decoder."""
    import torch

    features = model.model.get_image_features(pixel_values=pixel_values)
    return torch.stack(list(features.pooler_output))


def to_pixels(images_u8: np.ndarray):
    import torch

    x = torch.from_numpy(images_u8).float().permute(0, 3, 1, 2)
    return x / 127.5 - 1.0  # SigLIP processor: rescale 1/255, mean 0.5, std 0.5


@dataclass
class TrainConfig:
    """Everything a training run depends on: the same config (and code) gives the same weights.
    `parse_args` builds it from the command line, one flag per field (``--batch-size``)."""

    out: str = field(default="assets/tiny", metadata={"help": "output folder ('' to not save)"})
    steps: int = field(default=3000, metadata={"help": "phase 2 (answers) steps"})
    batch_size: int = 32
    vision_steps: int = field(
        default=0,
        metadata={
            "help": "phase 1: steps that train only the vision tower + projector on the quadrant "
            "probe"
        },
    )
    vision_batch_size: int = 64
    grounding_weight: float = field(
        default=0.0,
        metadata={
            "help": "weight of the grounding-probe loss (object words of the question name their "
            "object)"
        },
    )
    grounding_layer: int = field(
        default=3,
        metadata={"help": "decoder hidden state (0 = embeddings) the grounding probe reads"},
    )
    word_weight: float = field(
        default=0.0,
        metadata={
            "help": "weight of the word-probe loss (image tokens read as the words naming their "
            "object)"
        },
    )
    aux_weight: float = field(
        default=1.0, metadata={"help": "weight of the quadrant-probe loss during phase 2 (0: off)"}
    )
    lr: float = 1e-3
    warmup: int = 100
    ema: float = field(default=0.99, metadata={"help": "EMA decay of the saved weights"})
    seed: int = 0
    data_seed: int = TRAIN_SEED_BASE
    scenes: int = field(default=40000, metadata={"help": "training scene pool size"})
    resume: str = field(
        default="", metadata={"help": "checkpoint folder to continue training from"}
    )
    threads: int = field(default=1, metadata={"help": "1 is fastest on a shared 2-core box"})
    log_every: int = 50
    save_every: int = field(
        default=250, metadata={"help": "intermediate checkpoints every this many steps (0: off)"}
    )
    model: TinyConfig = field(default_factory=TinyConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        model = TinyConfig(**d.pop("model", {}))
        return cls(**d, model=model)

    def to_argv(self) -> list[str]:
        """The command line that `parse_args` turns back into this config."""
        argv = []
        for f in fields(self):
            if f.name != "model":
                argv += [_flag(f.name), str(getattr(self, f.name))]
        for f in fields(self.model):
            argv += [_flag(f.name), str(getattr(self.model, f.name))]
        return argv


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class TrainLog:
    """Prints each line and, with an output folder, appends it to ``train_log.txt`` there."""

    def __init__(self, out: str):
        self.file = open(os.path.join(out, "train_log.txt"), "w") if out else None

    def __call__(self, msg: str) -> None:
        print(msg, flush=True)
        if self.file:
            self.file.write(msg + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()


@dataclass
class Pool:
    """The training scenes and what the probes read off them, indexed by scene."""

    scenes: list
    images: np.ndarray  # [N, 64, 64, 3] uint8
    targets: object  # quadrant probe targets, tensor [N, 4, 2]
    words: object  # word probe targets, tensor [N, 4, 6], or None when that probe is off


def adamw(named_params, extra, lr: float):
    """AdamW with weight decay on matrices only (not on biases and norms)."""
    import torch

    decay = [p for _, p in named_params if p.ndim >= 2] + [p for p in extra if p.ndim >= 2]
    no_decay = [p for _, p in named_params if p.ndim < 2] + [p for p in extra if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.98),
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then constant: the schedule does not depend on --steps, so the checkpoint
    written at step N equals the result of a run with --steps N. The saved weights are an
    exponential moving average (EMA) of the trained ones, which plays the part of a final
    learning-rate decay."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr


def set_lr(opt, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def train(cfg: TrainConfig) -> dict:
    """Both phases from one seed; saves to ``cfg.out`` (unless empty); returns the run's info."""
    import torch

    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    log = TrainLog(cfg.out)
    try:
        return _train(cfg, log)
    finally:
        log.close()


def _train(cfg: TrainConfig, log: TrainLog) -> dict:
    import torch

    mcfg = cfg.model
    if cfg.grounding_weight > 0 and not 0 <= cfg.grounding_layer <= mcfg.layers:
        raise SystemExit(
            f"--grounding-layer {cfg.grounding_layer}: the decoder has hidden states "
            f"0 (embeddings) to {mcfg.layers}; pick one of those"
        )
    t_start = time.time()
    processor = build_processor(mcfg)
    model = build_model(mcfg, processor.tokenizer, seed=cfg.seed)
    if cfg.resume:
        resume(model, cfg.resume, log)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"config {json.dumps(mcfg.to_dict())}")
    log(f"params {n_params / 1e6:.2f}M")
    scenes, images = make_pool(cfg.scenes, cfg.data_seed, log)
    words = word_targets(scenes, processor.tokenizer) if cfg.word_weight > 0 else None
    pool = Pool(
        scenes,
        images,
        torch.from_numpy(quadrant_targets(scenes)),
        None if words is None else torch.from_numpy(words),
    )
    batcher = Batcher(processor.tokenizer, mcfg.num_image_tokens)
    rng = random.Random(cfg.seed)
    probe = AttributeProbe(mcfg.hidden)  # on image quadrants
    vision_time = vision_phase(model, probe, pool, rng, cfg, log)
    t0 = time.time()
    model, final_ema = answer_phase(model, processor, batcher, probe, pool, rng, cfg, log)
    info = {
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "train_seconds": round(time.time() - t0, 1),
        "vision_steps": cfg.vision_steps,
        "vision_batch_size": cfg.vision_batch_size,
        "vision_seconds": round(vision_time, 1),
        "aux_weight": cfg.aux_weight,
        "word_weight": cfg.word_weight,
        "grounding_weight": cfg.grounding_weight,
        "grounding_layer": cfg.grounding_layer,
        "total_seconds": round(time.time() - t_start, 1),
        "final_loss_ema": round(final_ema, 4),
        "params": n_params,
        "seed": cfg.seed,
        "data_seed": cfg.data_seed,
        "resumed_from": cfg.resume or None,
        "scenes": cfg.scenes,
        "lr": cfg.lr,
        "ema": cfg.ema,
        "threads": cfg.threads,
        "config": mcfg.to_dict(),
    }
    if cfg.out:
        save(model, processor, cfg.out, info)
        log(f"saved to {cfg.out}")
    log(json.dumps(info))
    return info


def resume(model, folder: str, log) -> None:
    """Continue from a saved checkpoint (its EMA weights, in fp32); the optimizer starts anew."""
    import torch
    from transformers import AutoModelForImageTextToText

    saved = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
    model.load_state_dict(saved.state_dict())
    with open(os.path.join(folder, "training_info.json")) as f:
        steps = json.load(f).get("steps_done") or "final"
    log(f"resumed from {folder} ({steps} steps)")


def vision_phase(
    model, probe: AttributeProbe, pool: Pool, rng: random.Random, cfg: TrainConfig, log
) -> float:
    """Phase 1: the vision tower and projector alone learn what is in each quadrant (and, with
    the word probe, to look like the words naming it). Returns the seconds it took."""
    import torch

    model.train()
    vision = [
        (n, p)
        for n, p in model.named_parameters()
        if n.startswith(("model.vision_tower.", "model.multi_modal_projector."))
    ]
    opt = adamw(vision, list(probe.parameters()), cfg.lr)
    t0, accs = time.time(), []
    for step in range(cfg.vision_steps):
        idx = [rng.randrange(len(pool.scenes)) for _ in range(cfg.vision_batch_size)]
        set_lr(opt, lr_at(step, cfg))
        tokens = image_tokens(model, to_pixels(pool.images[idx]))  # [B, g*g, hidden]
        loss, (shape_acc, colour_acc) = probe.loss_and_accuracy(
            pool_quadrants(tokens), pool.targets[idx]
        )
        if cfg.word_weight > 0:  # the word embeddings stay fixed in this phase
            embeddings = model.get_input_embeddings().weight.detach()
            loss = loss + cfg.word_weight * word_probe_loss(tokens, embeddings, pool.words[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in vision], 1.0)
        opt.step()
        accs.append({"shape": shape_acc, "colour": colour_acc})
        if step % cfg.log_every == 0 or step == cfg.vision_steps - 1:
            el = time.time() - t0
            mean = {k: sum(a[k] for a in accs) / len(accs) for k in accs[0]}
            accs = []
            log(
                f"vision step {step} probe loss {loss.item():.4f} shape acc {mean['shape']:.3f} "
                f"colour acc {mean['colour']:.3f} {el / (step + 1):.3f}s/step elapsed {el:.0f}s"
            )
    return time.time() - t0


class AnswerLoss:
    """Phase 2's loss on one batch: the answer tokens, plus the probes that are switched on."""

    def __init__(self, model, tokenizer, probe: AttributeProbe, cfg: TrainConfig):
        self.model, self.probe, self.cfg = model, probe, cfg
        self.grounding = AttributeProbe(
            cfg.model.hidden, (len(SHAPES) + 1, len(COLOURS) + 1, len(QUADRANTS) + 1)
        )
        self.word_ids = object_word_ids(tokenizer) if cfg.grounding_weight > 0 else {}

    def parameters(self) -> list:
        return list(self.probe.parameters()) + list(self.grounding.parameters())

    def __call__(self, pool: Pool, idx, ids, mask, lab):
        """-> (answer loss, total loss, logits [B, T-1, V], grounding accuracies or None)."""
        import torch

        cfg, ground_acc = self.cfg, None
        with capture_projector(self.model) as seen:
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                pixel_values=to_pixels(pool.images[idx]),
                output_hidden_states=cfg.grounding_weight > 0,
            )
        logits = out.logits[:, :-1].float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), lab[:, 1:].reshape(-1), ignore_index=-100
        )
        total = loss
        if cfg.aux_weight > 0:
            aux, _ = self.probe.loss_and_accuracy(pool_quadrants(seen["tokens"]), pool.targets[idx])
            total = total + cfg.aux_weight * aux
        if cfg.word_weight > 0:
            embeddings = self.model.get_input_embeddings().weight
            total = total + cfg.word_weight * word_probe_loss(
                seen["tokens"], embeddings, pool.words[idx]
            )
        if cfg.grounding_weight > 0:
            # each object word of the question ("star" in "What colour is the star?") must
            # find its object among the image tokens: a look-up whose query is the word itself
            pos, tgt = grounding_targets(ids, lab, [pool.scenes[i] for i in idx], self.word_ids)
            if len(pos):
                h = out.hidden_states[cfg.grounding_layer][pos[:, 0], pos[:, 1]]  # [M, d]
                ground, ground_acc = self.grounding.loss_and_accuracy(h, tgt)
                total = total + cfg.grounding_weight * ground
        return loss, total, logits, ground_acc


def answer_phase(
    model,
    processor,
    batcher: Batcher,
    probe: AttributeProbe,
    pool: Pool,
    rng: random.Random,
    cfg: TrainConfig,
    log,
) -> tuple:
    """Phase 2: the whole model learns the answers (probe losses beside). Returns the EMA model
    (what is saved) and the final EMA of the answer loss."""
    import torch

    loss_fn = AnswerLoss(model, processor.tokenizer, probe, cfg)
    opt = adamw(list(model.named_parameters()), loss_fn.parameters(), cfg.lr)
    ema_model = copy.deepcopy(model).eval()
    for p in ema_model.parameters():
        p.requires_grad_(False)
    t0, ema, ground_acc = time.time(), None, None
    hits: dict[str, list[bool]] = {}
    for step in range(cfg.steps):
        idx, items, qtypes = sample_batch(rng, pool.scenes, cfg.batch_size)
        ids, mask, lab = batcher(items)
        set_lr(opt, lr_at(step, cfg))
        loss, total, logits, acc = loss_fn(pool, idx, ids, mask, lab)
        ground_acc = acc if acc is not None else ground_acc
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        update_ema(ema_model, model, min(cfg.ema, (step + 1) / (step + 10)))
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        for t, o in zip(qtypes, exact_matches(logits, lab)):
            hits.setdefault(t, []).append(o)
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            el = time.time() - t0
            em = " ".join(f"{t}={sum(v) / len(v):.2f}" for t, v in sorted(hits.items()))
            hits = {}
            log(
                f"step {step} loss {loss.item():.4f} ema {ema:.4f} lr {lr_at(step, cfg):.2e} "
                f"{el / (step + 1):.3f}s/step elapsed {el:.0f}s | train EM {em}"
                + (
                    " | grounding acc shape {:.2f} colour {:.2f} quadrant {:.2f}".format(
                        *ground_acc
                    )
                    if ground_acc is not None
                    else ""
                )
            )
        if cfg.out and cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            save(ema_model, processor, cfg.out, {"steps_done": step + 1, "intermediate": True})
            log(f"intermediate checkpoint after {step + 1} steps")
    return ema_model, ema


def update_ema(ema_model, model, decay: float) -> None:
    import torch

    with torch.no_grad():
        for pe, pm in zip(ema_model.parameters(), model.parameters()):
            pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)


def exact_matches(logits, lab) -> list[bool]:
    """Teacher-forced exact match of each row's answer: logits [B, T-1, V], labels [B, T]."""
    import torch

    with torch.no_grad():
        tgt = lab[:, 1:]
        return ((logits.argmax(-1) == tgt) | (tgt == -100)).all(dim=1).tolist()


def save(model, processor, out: str, info: dict) -> None:
    import torch

    os.makedirs(out, exist_ok=True)
    half = copy.deepcopy(model).to(torch.float16)  # never round the weights being trained
    half.config.dtype = "float16"
    half.save_pretrained(out)
    processor.save_pretrained(out)
    with open(os.path.join(out, "training_info.json"), "w") as f:
        json.dump(info, f, indent=2)


def parse_args(argv=None) -> TrainConfig:
    """The command line -> a TrainConfig: one flag per field, model sizes as ``--hidden`` etc."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name != "model":
            value = getattr(defaults, f.name)
            ap.add_argument(
                _flag(f.name), type=type(value), default=value, help=f.metadata.get("help")
            )
    for f in fields(TinyConfig):
        ap.add_argument(
            _flag(f.name), type=int, default=None, help=f"model size (default {f.default})"
        )
    args = vars(ap.parse_args(argv))
    sizes = {f.name: args.pop(f.name) for f in fields(TinyConfig)}
    model = TinyConfig(**{k: v for k, v in sizes.items() if v is not None})
    return TrainConfig(**args, model=model)


def main(argv=None) -> None:
    cfg = parse_args(argv)
    if cfg.out:
        os.makedirs(cfg.out, exist_ok=True)
    train(cfg)


if __name__ == "__main__":
    main()
