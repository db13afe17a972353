"""The SAV vote written out plainly (loops, no shared code with savs.classifier), so tests can
compute what a prediction must be instead of checking that it is merely one of the classes."""

from __future__ import annotations

import torch


def class_means(acts: torch.Tensor, labels: list[str], heads) -> dict[str, list[torch.Tensor]]:
    """Per class, the mean activation of each head in `heads`: acts [N, L, H, d]."""
    out = {}
    for label in dict.fromkeys(labels):
        rows = acts[[i for i, lab in enumerate(labels) if lab == label]]  # [n, L, H, d]
        out[label] = [rows[:, h.layer, h.head].float().mean(0) for h in heads]
    return out


def expected_vote(
    acts: torch.Tensor, heads, means: dict[str, list[torch.Tensor]]
) -> tuple[str, dict[str, int], list[str]]:
    """(label, votes per class, each head's vote) for one input's activations [L, H, d]: each
    head votes for the class mean nearest by cosine; most votes wins, a tie goes to the larger
    summed cosine, then to the class seen first."""
    classes = list(means)
    head_votes, summed = [], dict.fromkeys(classes, 0.0)
    for k, h in enumerate(heads):
        x = acts[h.layer, h.head].float()
        cos = {
            c: torch.nn.functional.cosine_similarity(x, means[c][k], dim=0).item() for c in classes
        }
        head_votes.append(max(classes, key=lambda c: cos[c]))  # first of equals: lower index
        for c in classes:
            summed[c] += cos[c]
    votes = {c: head_votes.count(c) for c in classes}
    top = max(votes.values())
    label = max((c for c in classes if votes[c] == top), key=lambda c: summed[c])
    return label, votes, head_votes
