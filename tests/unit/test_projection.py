"""savs.head_projection: a head's training vectors in their 2-D PCA plane. The axes are the top
eigenvectors of the covariance, the points and class means are the centred vectors on them, new
inputs land where their vectors project, and a head whose vectors cluster by class draws apart."""

from __future__ import annotations

import pytest
import torch

from savs import SavsError
from savs.projection import head_projection

pytestmark = pytest.mark.unit


def clustered(n_per_class: int = 20, d: int = 8) -> tuple[torch.Tensor, list[str]]:
    """[N, 2, 3, d] activations: head (1, 2) separates the classes, every other head is noise."""
    g = torch.Generator().manual_seed(0)
    labels = [c for c in ("cat", "dog", "owl") for _ in range(n_per_class)]
    acts = torch.randn(len(labels), 2, 3, d, generator=g)
    centres = {"cat": 6.0, "dog": -6.0, "owl": 0.0}
    for i, lab in enumerate(labels):
        acts[i, 1, 2, 0] += centres[lab]
    return acts, labels


def test_axes_are_the_covariance_s_top_eigenvectors_and_points_project_on_them():
    acts, labels = clustered()
    proj = head_projection(acts, labels, (1, 2))
    x = acts[:, 1, 2]
    centred = x - x.mean(0)
    eigvals, eigvecs = torch.linalg.eigh(centred.T @ centred)
    top = eigvecs[:, [-1, -2]].T  # [2, d], largest first
    torch.testing.assert_close(proj.axes.abs(), top.abs(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(proj.points, centred @ proj.axes.T, atol=1e-5, rtol=1e-5)
    assert proj.explained[0] == pytest.approx(float(eigvals[-1] / eigvals.sum()), rel=1e-4)
    assert proj.explained[0] >= proj.explained[1] > 0


def test_class_means_new_inputs_and_the_clustered_head_draws_classes_apart():
    acts, labels = clustered()
    proj = head_projection(acts, labels, (1, 2))
    assert proj.classes == ["cat", "dog", "owl"] and proj.points.shape == (60, 2)
    for c, name in enumerate(proj.classes):
        mine = proj.points[[i for i, lab in enumerate(labels) if lab == name]]
        torch.testing.assert_close(proj.means[c], mine.mean(0))
    # the first axis runs along the separating direction: cat and dog lie at its two ends
    assert abs(float(proj.means[0, 0] - proj.means[1, 0])) > 10
    torch.testing.assert_close(proj.place(acts[:3]), proj.points[:3], atol=1e-5, rtol=1e-5)
    noise = head_projection(acts, labels, (0, 0))
    assert abs(float(noise.means[0, 0] - noise.means[1, 0])) < 3


def test_the_same_data_always_draws_the_same_way_round():
    acts, labels = clustered()
    a = head_projection(acts, labels, (1, 2))
    # the same examples in reverse order: SVD may flip an axis, the sign convention flips it back
    b = head_projection(acts.flip(0), labels[::-1], (1, 2))
    torch.testing.assert_close(a.points, b.points.flip(0), atol=1e-5, rtol=1e-5)
    assert (a.axes[torch.arange(2), a.axes.abs().argmax(1)] > 0).all()


def test_one_example_and_bad_shapes_or_heads_are_handled():
    acts, labels = clustered(n_per_class=1)
    proj = head_projection(acts[:1], labels[:1], (1, 2))
    assert proj.points.shape == (1, 2) and torch.count_nonzero(proj.points) == 0
    with pytest.raises(SavsError, match="outside"):
        head_projection(acts, labels, (2, 0))
    with pytest.raises(SavsError, match=r"\[N, L, H, d\]"):
        head_projection(acts[:, 0], labels, (0, 0))
    with pytest.raises(SavsError, match="N = 2"):
        head_projection(acts, labels[:2], (0, 0))
