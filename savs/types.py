"""The method's small shared types: what classifier, artifact, data and the rest pass between
them. Nothing here imports another savs module, nor torch at runtime, so every module can
import this one and none needs a deferred import to reach a type (the circle artifact ->
classifier -> artifact that deferred imports used to hide, issue 20)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # annotations only: data and limits must not need torch
    import torch

Scoring = Literal["loo", "reference"]
SCORINGS: tuple[str, ...] = ("loo", "reference")
HeadCount = int | Literal["auto"]
KCurve = list[tuple[int, float]]  # [(k, training accuracy), ...] for k = 1 .. L * H


class HeadIndex(NamedTuple):
    """One attention head, as (layer, head); layers and heads count from 0."""

    layer: int
    head: int


def class_order(labels: Iterable[str]) -> list[str]:
    """The classes of `labels` in order of first appearance: how every part of savs numbers
    classes (class index i is `class_order(labels)[i]`)."""
    return list(dict.fromkeys(labels))


@dataclass
class Prediction:
    """One classified input: the label, votes and vote shares per class, and each head's vote."""

    label: str
    votes: dict[str, int]
    probabilities: dict[str, float]
    head_votes: list[tuple[HeadIndex, str]]

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "votes": self.votes,
            "probabilities": self.probabilities,
            "head_votes": [[h.layer, h.head, lab] for h, lab in self.head_votes],
        }


@dataclass(eq=False)
class FitConfig(MutableMapping):
    """How a classifier was made (what its classifier.json records besides labels): typed
    fields, None where unknown; read them as attributes (`clf.config.prompt`).

    It also reads and writes as the dict it replaced (`config["k"]`, `config.get("prompt")`,
    `dict(config)`, `==` with a dict), for code written against that: a field that is None is
    absent, and a key that is not a field is refused on write and dropped by `of`."""

    model: str | None = None
    prompt: str | None = None
    k: int | None = None
    scoring: Scoring | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    head_dim: int | None = None
    train_accuracy: float | None = None
    model_class: str | None = None
    # the resolution policy the fit used (savs.models.image_policy): image tokens per image at
    # most; 0 or absent: the processor's own settings (classifiers from before the policy)
    max_image_tokens: int | None = None
    savs_version: str | None = None
    torch_version: str | None = None
    transformers_version: str | None = None

    @classmethod
    def of(cls, config: Mapping[str, Any] | None) -> FitConfig:
        """A new FitConfig from a dict or another FitConfig, keeping only the known fields."""
        return cls(**{k: v for k, v in (config or {}).items() if k in CONFIG_FIELDS})

    # --- the dict view -------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key) if key in CONFIG_FIELDS else None
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in CONFIG_FIELDS:
            raise KeyError(f"{key!r} is not a classifier config field ({', '.join(CONFIG_FIELDS)})")
        setattr(self, key, value)

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError when absent, as a dict
        setattr(self, key, None)

    def __iter__(self) -> Iterator[str]:
        return (key for key in CONFIG_FIELDS if getattr(self, key) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"FitConfig({dict(self)!r})"


# the fields a classifier keeps, in the order classifier.json writes them; anything else in a
# classifier.json is dropped on load, never kept in memory
CONFIG_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FitConfig))


@dataclass
class ClassifierData:
    """A classifier's parts, as savs.artifact saves and loads them: the class means of the
    selected heads and what is needed to use and explain them. `savs.classifier.SAVClassifier`
    adds voting, saving and loading."""

    labels: list[str]
    heads: list[HeadIndex]
    means: torch.Tensor  # [K, C, d]
    head_scores: torch.Tensor  # [L, H], every head's score
    config: FitConfig = field(default_factory=FitConfig)  # model, prompt, k, scoring, shapes

    def __post_init__(self) -> None:
        if not isinstance(self.config, FitConfig):  # a plain dict, as before FitConfig
            self.config = FitConfig.of(self.config)

    @property
    def k(self) -> int:
        return len(self.heads)

    @property
    def deepest_layer(self) -> int:
        return max(h.layer for h in self.heads)


__all__ = [
    "Scoring",
    "SCORINGS",
    "HeadCount",
    "KCurve",
    "HeadIndex",
    "class_order",
    "Prediction",
    "FitConfig",
    "CONFIG_FIELDS",
    "ClassifierData",
]
