"""The SAVs classifier: score heads, keep the top k, vote.

Everything here works on activation tensors, never on a model, so it is fast (refitting with
another k or scoring takes milliseconds) and unit-testable on hand-made numbers.

Shapes: N examples, L layers, H heads per layer, d = head_dim, C classes, K selected heads,
M = L * H heads in all.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .errors import ClassifierError, DataError
from .heads import HeadIndex

Scoring = Literal["loo", "reference"]
SCORINGS: tuple[str, ...] = ("loo", "reference")
FORMAT = "savs-classifier"
FORMAT_VERSION = 1
TENSORS_FILE = "classifier.safetensors"
CONFIG_FILE = "classifier.json"
_EPS = 1e-12
# A head gets credit for an example only when the own class is nearer by more than float noise:
# an uninformative head (same vector for every input) has all cosines equal up to rounding, and
# rounding in the leave-one-out formula favours the own class, which made such heads score 1.0.
_TIE_TOL = 1e-5


# ---------------------------------------------------------------------------------------------
# Head scoring


def class_sums(acts: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums [C, *acts.shape[1:]] and counts [C] (a mean's direction is its sum's)."""
    # one matrix product with the one-hot labels [C, N]: a single pass over the activations,
    # several times faster on a CPU than index_add_ (which scatters row by row)
    one_hot = torch.nn.functional.one_hot(y, num_classes).T.to(acts.dtype)  # [C, N]
    sums = (one_hot @ acts.reshape(acts.shape[0], -1)).reshape(num_classes, *acts.shape[1:])
    counts = torch.bincount(y, minlength=num_classes)
    return sums, counts


def class_cosines(acts: torch.Tensor, y: torch.Tensor, num_classes: int,
                  scoring: Scoring = "loo") -> torch.Tensor:
    """Cosine of every example with every class mean, per head: [N, M, C] from acts [N, M, d].

    With "loo" the example's own class mean leaves the example out (computed from dot products,
    without copying the activations); with "reference" it stays in, as in the published code.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    sums, _ = class_sums(acts, y, num_classes)  # [C, M, d]
    a_norm = acts.norm(dim=-1)  # [N, M]
    s_norm = sums.norm(dim=-1)  # [C, M]
    dots = torch.einsum("nmd,cmd->nmc", acts, sums)  # [N, M, C]
    cos = dots / (a_norm[..., None] * s_norm.T[None]).clamp_min(_EPS)
    if scoring == "loo":
        idx = y[:, None, None].expand(-1, acts.shape[1], 1)  # [N, M, 1]
        own_dot = dots.gather(2, idx).squeeze(2)  # a . S_own  [N, M]
        own_s_norm = s_norm.T[None].expand_as(dots).gather(2, idx).squeeze(2)  # [N, M]
        loo_dot = own_dot - a_norm**2  # a . (S_own - a)
        loo_norm = (own_s_norm**2 - 2 * own_dot + a_norm**2).clamp_min(0).sqrt()
        loo_cos = loo_dot / (a_norm * loo_norm).clamp_min(_EPS)
        cos = cos.scatter(2, idx, loo_cos[..., None])
    return cos


def example_margins(acts: torch.Tensor, y: torch.Tensor, num_classes: int,
                    scoring: Scoring = "loo") -> torch.Tensor:
    """Per example and head, its own class's cosine minus the best other class's: [N, M] from
    acts [N, M, d]. See `counts_as_correct`."""
    cos = class_cosines(acts, y, num_classes, scoring)  # [N, M, C]
    own = cos.gather(2, y[:, None, None].expand(-1, cos.shape[1], 1)).squeeze(2)  # [N, M]
    others = cos.scatter(2, y[:, None, None].expand(-1, cos.shape[1], 1), float("-inf"))
    return own - others.amax(dim=2)  # [N, M]


def counts_as_correct(margin: torch.Tensor) -> torch.Tensor:
    """Where a head gets an example right: its own class mean strictly nearest, by more than
    float noise (bool, same shape as `margin`). A head's score is the mean over examples."""
    return margin > _TIE_TOL


def score_heads(acts: torch.Tensor, y: torch.Tensor, num_classes: int,
                scoring: Scoring = "loo") -> tuple[torch.Tensor, torch.Tensor]:
    """Score every head: the fraction of examples whose nearest class mean (cosine) is their own
    class, and the mean margin (own cosine minus the best other), for tie-breaks. A tie (within
    float noise) counts as wrong, so a head that cannot tell the classes apart scores 0.

    acts: [N, L, H, d]; y: [N] class indices. Returns (score [L, H], margin [L, H]).
    """
    n, num_layers, num_heads, d = acts.shape
    flat = acts.reshape(n, num_layers * num_heads, d).float()  # [N, M, d]
    margin = example_margins(flat, y, num_classes, scoring)  # [N, M]
    correct = counts_as_correct(margin).float()  # [N, M]: own class strictly nearest
    # a head with NaN / inf outputs (fp16 overflow) ranks last, not at a random place in the sort
    mean_margin = margin.mean(0).nan_to_num(nan=float("-inf"))
    return (correct.mean(0).reshape(num_layers, num_heads),
            mean_margin.reshape(num_layers, num_heads))


def select_heads(score: torch.Tensor, margin: torch.Tensor, k: int) -> list[HeadIndex]:
    """Top-k heads: by score, then mean margin, then (layer, head) index. Deterministic."""
    num_layers, num_heads = score.shape
    k = max(1, min(int(k), num_layers * num_heads))
    s, m = score.flatten().tolist(), margin.flatten().tolist()
    order = sorted(range(len(s)), key=lambda j: (-s[j], -m[j], j))[:k]
    return [HeadIndex(j // num_heads, j % num_heads) for j in order]


def gather_heads(acts: torch.Tensor, heads: Sequence[HeadIndex]) -> torch.Tensor:
    """[N, L', H, d] -> the listed heads' activations [N, K, d]. index_select over the flattened
    heads (a view of contiguous acts) reads only K rows per example: much faster than advanced
    indexing acts[:, layers, heads] on a large tensor."""
    flat = torch.tensor([h.layer * acts.shape[2] + h.head for h in heads])  # [K]
    return acts.flatten(1, 2).index_select(1, flat)


# ---------------------------------------------------------------------------------------------
# Voting


@dataclass
class Prediction:
    """One classified input: the label, votes and vote shares per class, and each head's vote."""

    label: str
    votes: dict[str, int]
    probabilities: dict[str, float]
    head_votes: list[tuple[HeadIndex, str]]

    def to_json(self) -> dict:
        return {"label": self.label, "votes": self.votes, "probabilities": self.probabilities,
                "head_votes": [[h.layer, h.head, lab] for h, lab in self.head_votes]}


def head_cosines(selected: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Cosine of each selected head's activation with each of its class means: [N, K, C] from
    selected [N, K, d] and means [K, C, d]. A head votes for its largest."""
    selected = selected.float()
    cos = torch.einsum("nkd,kcd->nkc", selected, means)  # [N, K, C]
    return cos / (selected.norm(dim=-1)[..., None] * means.norm(dim=-1)[None]).clamp_min(_EPS)


def vote(selected: torch.Tensor, means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Majority vote of the selected heads.

    selected: [N, K, d] activations of the K heads; means: [K, C, d] class means.
    Returns (winner [N], head_votes [N, K], votes per class [N, C]). A vote tie goes to the class
    with the larger summed cosine over all K heads, then to the lower class index.
    """
    cos = head_cosines(selected, means)  # [N, K, C]
    head_votes = cos.argmax(dim=2)  # [N, K]
    num_classes = means.shape[1]
    counts = torch.nn.functional.one_hot(head_votes, num_classes).sum(1)  # [N, C]
    tied = counts == counts.amax(dim=1, keepdim=True)  # [N, C]
    tie_break = cos.sum(1).masked_fill(~tied, float("-inf"))  # [N, C]
    return tie_break.argmax(dim=1), head_votes, counts


# ---------------------------------------------------------------------------------------------
# The classifier


@dataclass
class SAVClassifier:
    """Class means of the selected heads, plus what is needed to use and explain them."""

    labels: list[str]
    heads: list[HeadIndex]
    means: torch.Tensor  # [K, C, d]
    head_scores: torch.Tensor  # [L, H], every head's score
    config: dict = field(default_factory=dict)  # model, prompt, k, scoring, shapes, versions

    @property
    def k(self) -> int:
        return len(self.heads)

    @property
    def deepest_layer(self) -> int:
        return max(h.layer for h in self.heads)

    def select(self, acts: torch.Tensor) -> torch.Tensor:
        """[N, L', H, d] activations (L' may stop after the deepest selected layer) -> [N, K, d]."""
        return gather_heads(acts, self.heads)

    def predict_activations(self, acts: torch.Tensor) -> list[Prediction]:
        """Classify from activations [N, L', H, d]."""
        winner, head_votes, counts = vote(self.select(acts), self.means)
        total = max(self.k, 1)
        out = []
        # plain lists: indexing a tensor per (example, class) took 45 s for 2,000 x 1,000 classes
        winner, head_votes, counts = winner.tolist(), head_votes.tolist(), counts.tolist()
        for i in range(acts.shape[0]):
            votes = dict(zip(self.labels, counts[i]))
            out.append(Prediction(
                label=self.labels[winner[i]],
                votes=votes,
                probabilities={lab: v / total for lab, v in votes.items()},
                head_votes=[(h, self.labels[c]) for h, c in zip(self.heads, head_votes[i])],
            ))
        return out

    # --- saving and loading: safetensors + JSON only, never pickle -------------------------

    def _files(self) -> tuple[bytes, bytes]:
        tensors = {
            "means": self.means.float().contiguous(),
            "heads": torch.tensor([[h.layer, h.head] for h in self.heads], dtype=torch.int64),
            "head_scores": self.head_scores.float().contiguous(),
        }
        config = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.config,
                  "labels": self.labels, "k": self.k}
        return (save_safetensors_bytes(tensors),
                json.dumps(config, indent=2, ensure_ascii=False).encode("utf-8"))

    def save(self, path: str | Path) -> Path:
        """Save to a folder, or to a .zip when `path` ends in .zip."""
        path = Path(path)
        tensors, config = self._files()
        if path.suffix.lower() == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(TENSORS_FILE, tensors)
                zf.writestr(CONFIG_FILE, config)
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / TENSORS_FILE).write_bytes(tensors)
            (path / CONFIG_FILE).write_bytes(config)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SAVClassifier":
        """Load a folder or .zip written by `save`, validating every field and shape."""
        tensors_bytes, config_bytes = _read_artifact(Path(path))
        name = Path(path).name
        try:
            config = json.loads(config_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ClassifierError(f"{name}: {CONFIG_FILE} is not valid JSON "
                                  f"({exc or 'nested too deeply'}).") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ClassifierError(f"{name}: {CONFIG_FILE} is not a SAVs classifier "
                                  f"(no \"format\": \"{FORMAT}\").")
        if config.get("format_version") != FORMAT_VERSION:
            raise ClassifierError(f"{name}: classifier format version "
                                  f"{config.get('format_version')!r}; this savs reads version "
                                  f"{FORMAT_VERSION}.")
        try:
            tensors = load_safetensors_bytes(tensors_bytes)
        except Exception as exc:
            raise ClassifierError(f"{name}: {TENSORS_FILE} is not a valid safetensors file "
                                  f"({exc}).") from None
        return cls._from_parts(tensors, config, name)

    @classmethod
    def _from_parts(cls, tensors: dict, config: dict, name: str) -> "SAVClassifier":
        def fail(msg: str) -> ClassifierError:
            return ClassifierError(f"{name}: {msg}")

        missing = {"means", "heads", "head_scores"} - set(tensors)
        if missing:
            raise fail(f"tensors missing: {sorted(missing)}.")
        labels = config.get("labels")
        if (not isinstance(labels, list) or len(labels) < 2
                or not all(isinstance(x, str) and x for x in labels)):
            raise fail("'labels' must be a list of at least two non-empty strings.")
        if len(set(labels)) != len(labels):
            raise fail("'labels' holds the same class name twice.")
        for key in ("num_layers", "num_heads", "head_dim"):
            if not isinstance(config.get(key), int) or config[key] <= 0:
                raise fail(f"'{key}' must be a positive integer.")
        num_layers, num_heads, d = config["num_layers"], config["num_heads"], config["head_dim"]
        means, heads, scores = tensors["means"], tensors["heads"], tensors["head_scores"]
        k = heads.shape[0] if heads.ndim == 2 else -1
        if heads.ndim != 2 or heads.shape[1] != 2 or k < 1 or heads.dtype != torch.int64:
            raise fail(f"tensor 'heads' must be int64 [K, 2], got {heads.dtype} {list(heads.shape)}.")
        if tuple(means.shape) != (k, len(labels), d):
            raise fail(f"tensor 'means' has shape {list(means.shape)}, expected [{k}, "
                       f"{len(labels)}, {d}] (heads, classes, head_dim).")
        if tuple(scores.shape) != (num_layers, num_heads):
            raise fail(f"tensor 'head_scores' has shape {list(scores.shape)}, expected "
                       f"[{num_layers}, {num_heads}].")
        if (heads[:, 0] < 0).any() or (heads[:, 0] >= num_layers).any() \
                or (heads[:, 1] < 0).any() or (heads[:, 1] >= num_heads).any():
            raise fail("a head index is out of range for the model's layers and heads.")
        if not torch.isfinite(means).all():
            raise fail("tensor 'means' holds NaN or infinite values.")
        # labels live in their own field: keep the config as it was before saving
        config = {key: v for key, v in config.items()
                  if key not in ("format", "format_version", "labels")}
        return cls(labels=list(labels), heads=[HeadIndex(int(a), int(b)) for a, b in heads.tolist()],
                   means=means.float(), head_scores=scores.float(), config=config)


MAX_ARTIFACT_BYTES = 512 << 20


def _read_artifact(path: Path) -> tuple[bytes, bytes]:
    if path.is_dir():
        files = {n: path / n for n in (TENSORS_FILE, CONFIG_FILE)}
        for n, p in files.items():
            if not p.is_file():
                raise ClassifierError(f"{path.name}: {n} not found; a classifier folder holds "
                                      f"{TENSORS_FILE} and {CONFIG_FILE}.")
            if p.stat().st_size > MAX_ARTIFACT_BYTES:
                raise ClassifierError(f"{path.name}: {n} is larger than a classifier can be.")
        return files[TENSORS_FILE].read_bytes(), files[CONFIG_FILE].read_bytes()
    if not path.is_file():
        raise ClassifierError(f"{path}: classifier not found.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = {Path(i.filename).name: i for i in zf.infolist() if not i.is_dir()}
            for n in (TENSORS_FILE, CONFIG_FILE):
                if n not in names:
                    raise ClassifierError(f"{path.name}: {n} not found in the archive; a "
                                          f"classifier .zip holds {TENSORS_FILE} and {CONFIG_FILE}.")
                if names[n].file_size > MAX_ARTIFACT_BYTES:
                    raise ClassifierError(f"{path.name}: {n} is larger than a classifier can be.")
            return zf.read(names[TENSORS_FILE]), zf.read(names[CONFIG_FILE])
    except zipfile.BadZipFile:
        raise ClassifierError(f"{path.name}: not a classifier folder or .zip archive.") from None
    except (zlib.error, EOFError, RuntimeError, NotImplementedError, OSError, ValueError) as exc:
        # corrupt compressed data, a password, an unknown compression method
        raise ClassifierError(f"{path.name}: the archive cannot be read ({type(exc).__name__}: "
                              f"{exc}). Save the classifier again.") from None


def fit_activations(acts: torch.Tensor, labels: Sequence[str], k: int = 20,
                    scoring: Scoring = "loo", config: dict | None = None,
                    scores: tuple[torch.Tensor, torch.Tensor] | None = None) -> SAVClassifier:
    """Fit from activations [N, L, H, d] and one label per example. No model is run.

    Head scores do not depend on k, and computing them reads every activation (a full pass over
    N * L * H * d numbers: seconds for a 7B-sized model on a CPU). To refit with another k, pass
    `scores`: the (score, margin) that `score_heads` returned for these same activations, labels
    (classes numbered in order of first appearance) and scoring; only the top-k heads are then
    read (milliseconds).
    """
    if acts.ndim != 4 or acts.shape[0] != len(labels):
        raise ValueError(f"need activations [N, L, H, d] with N = {len(labels)} labels, got "
                         f"{list(acts.shape)}")
    classes = list(dict.fromkeys(labels))
    if len(classes) < 2:
        raise DataError("need at least two classes to train a classifier.")
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[lab] for lab in labels])
    if scoring == "loo" and int(torch.bincount(y).min()) < 2:
        single = classes[int(torch.bincount(y).argmin())]
        raise DataError(f"class {single!r} has a single example; leave-one-out scoring needs at "
                        "least two per class. Add an example, or use scoring 'reference'.")
    score, margin = scores if scores is not None else score_heads(acts, y, len(classes), scoring)
    if tuple(score.shape) != tuple(acts.shape[1:3]):
        raise ValueError(f"scores have shape {list(score.shape)}, expected [L, H] = "
                         f"{list(acts.shape[1:3])}")
    heads = select_heads(score, margin, k)
    _, num_layers, num_heads, d = acts.shape
    selected = gather_heads(acts, heads).float()  # [N, K, d]
    sums, counts = class_sums(selected, y, len(classes))  # [C, K, d]
    means = (sums / counts[:, None, None]).transpose(0, 1).contiguous()  # [K, C, d]
    config = {**(config or {}), "k": len(heads), "scoring": scoring, "num_layers": num_layers,
              "num_heads": num_heads, "head_dim": d}
    clf = SAVClassifier(labels=classes, heads=heads, means=means, head_scores=score, config=config)
    winner, _, _ = vote(selected, means)  # [N]; no Prediction objects: N can be thousands
    clf.config["train_accuracy"] = float((winner == y).float().mean())
    return clf


__all__ = ["Scoring", "SCORINGS", "SAVClassifier", "Prediction", "class_cosines", "score_heads",
           "select_heads", "vote", "fit_activations", "head_cosines", "example_margins",
           "counts_as_correct"]
