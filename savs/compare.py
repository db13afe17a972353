"""SAVs against simple baselines on the same activations.

Does selecting a few heads and letting them vote beat the obvious alternatives that read the
same numbers? Each baseline is fit on the training activations and scored on the test
activations (both [N, L, H, d], from `savs.extract`):

- all_heads: every head votes (SAVs with k = L * H), to show what selecting heads buys;
- nearest_mean: the selected heads concatenated into one vector, nearest class mean (cosine);
- nearest_neighbour: the same vector, the label of the most similar training example (cosine);
- linear_probe: logistic regression on the same vector (full-batch L-BFGS, L2 penalty).

The zero-shot baseline (the model answering with a label itself) needs the model, not
activations: `savs.baseline.zero_shot_accuracy`. Pure tensor math here, no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .classifier import class_sums, encode_labels, gather_heads, vote
from .errors import DataError
from .heads import HeadIndex

BASELINES: tuple[str, ...] = ("all_heads", "nearest_mean", "nearest_neighbour", "linear_probe")
# how the CLI and the app name them (zero_shot: savs.baseline, reported beside these)
DISPLAY_NAMES = {
    "zero_shot": "zero-shot",
    "all_heads": "all heads vote",
    "nearest_mean": "nearest class mean",
    "nearest_neighbour": "1-nearest neighbour",
    "linear_probe": "linear probe",
}
_EPS = 1e-12


def class_indices(
    train_labels: Sequence[str], test_labels: Sequence[str]
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Classes (first-seen order in training), train indices [N] and test indices [N'] (-1 for
    a test label no training example has: every baseline gets it wrong, as SAVs would)."""
    classes, y = encode_labels(train_labels)
    if len(classes) < 2:
        raise DataError("the baselines need training examples of at least two classes.")
    return classes, y, encode_labels(test_labels, classes, unknown=-1)[1]


def _accuracy(predicted: torch.Tensor, y: torch.Tensor) -> float:
    return float((predicted == y).float().mean())


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length 1, so dot products are cosines."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def _class_means(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[N, ...] -> class means [C, ...]."""
    sums, counts = class_sums(x, y, num_classes)
    return sums / counts.clamp_min(1).reshape(-1, *[1] * (x.ndim - 1))


def all_heads_accuracy(
    train: torch.Tensor, y: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor, num_classes: int
) -> float:
    """Every head votes with its nearest class mean (SAVs' vote without selection)."""
    means = _class_means(train.flatten(1, 2).float(), y, num_classes)  # [C, M, d]
    winner, _, _ = vote(test.flatten(1, 2).float(), means.transpose(0, 1))  # [N']
    return _accuracy(winner, y_test)


def nearest_mean_accuracy(
    train: torch.Tensor, y: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor, num_classes: int
) -> float:
    """Nearest class mean (cosine) on feature vectors [N, F] / [N', F]."""
    means = _unit(_class_means(train, y, num_classes))  # [C, F]
    return _accuracy((_unit(test) @ means.T).argmax(dim=1), y_test)


def nearest_neighbour_accuracy(
    train: torch.Tensor, y: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor
) -> float:
    """1-nearest neighbour (cosine) on feature vectors [N, F] / [N', F]."""
    similarity = _unit(test) @ _unit(train).T  # [N', N]
    return _accuracy(y[similarity.argmax(dim=1)], y_test)


def linear_probe_accuracy(
    train: torch.Tensor,
    y: torch.Tensor,
    test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    weight_decay: float = 1e-2,
    max_iter: int = 500,
) -> float:
    """Multinomial logistic regression on standardised feature vectors [N, F] / [N', F]:
    mean cross-entropy + weight_decay * |W|^2, full-batch L-BFGS from zero weights in float64.
    No randomness: the same inputs give the same probe."""
    x = train.double()
    centre, scale = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)  # [F]
    x = (x - centre) / scale
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [weight, bias], max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = (
            torch.nn.functional.cross_entropy(x @ weight + bias, y)
            + weight_decay * weight.pow(2).sum()
        )
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    with torch.no_grad():
        logits = ((test.double() - centre) / scale) @ weight + bias  # [N', C]
    return _accuracy(logits.argmax(dim=1), y_test)


def compare_baselines(
    train_acts: torch.Tensor,
    train_labels: Sequence[str],
    test_acts: torch.Tensor,
    test_labels: Sequence[str],
    heads: Sequence[HeadIndex],
) -> dict[str, float]:
    """Test accuracy of each baseline in BASELINES, fit on the training activations.
    train_acts: [N, L, H, d]; test_acts: [N', L, H, d]; `heads`: the SAVs classifier's heads,
    whose concatenated activations [N, K * d] the nearest-mean, 1-NN and probe baselines use."""
    if train_acts.ndim != 4 or test_acts.shape[1:] != train_acts.shape[1:]:
        raise ValueError(
            f"need train and test activations [N, L, H, d] of one model, got "
            f"{list(train_acts.shape)} and {list(test_acts.shape)}"
        )
    if train_acts.shape[0] != len(train_labels) or test_acts.shape[0] != len(test_labels):
        raise ValueError("need one label per example")
    classes, y, y_test = class_indices(train_labels, test_labels)
    c = len(classes)
    train = gather_heads(train_acts, heads).flatten(1).float()  # [N, K * d]
    test = gather_heads(test_acts, heads).flatten(1).float()  # [N', K * d]
    return {
        "all_heads": all_heads_accuracy(train_acts, y, test_acts, y_test, c),
        "nearest_mean": nearest_mean_accuracy(train, y, test, y_test, c),
        "nearest_neighbour": nearest_neighbour_accuracy(train, y, test, y_test),
        "linear_probe": linear_probe_accuracy(train, y, test, y_test, c),
    }


__all__ = [
    "BASELINES",
    "DISPLAY_NAMES",
    "class_indices",
    "all_heads_accuracy",
    "nearest_mean_accuracy",
    "nearest_neighbour_accuracy",
    "linear_probe_accuracy",
    "compare_baselines",
]
