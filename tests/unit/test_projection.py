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


def test_the_head_map_figure_draws_every_example_its_class_mean_and_the_input():
    """savs.plots.head_map_figure: one trace per class holding exactly its examples (hover:
    label and the example's text, as text, never markup), the means, the input as a star."""
    import json

    from savs.plots import head_map_figure

    acts, labels = clustered(n_per_class=5)
    labels[0] = evil = '<a href="https://phish.invalid">cat</a>'
    texts = [f"example {i} <b>bold</b>" for i in range(len(labels))]
    texts[1] = "word " * 40  # long texts are cut
    proj = head_projection(acts, labels, (1, 2))
    star = proj.place(acts[:1])[0]
    fig = head_map_figure(proj, texts, star, "Layer 1, head 2")
    classes = fig.data[: len(proj.classes)]
    assert [t.name for t in fig.data] == [
        '&lt;a href="https://phish.invalid"&gt;cat&lt;/a&gt;',
        "cat",
        "dog",
        "owl",
        "class means",
        "this input",
    ]
    assert sum(len(t.x) for t in classes) == len(labels)
    cats = [i for i, lab in enumerate(labels) if lab == "cat"]
    assert list(classes[1].x) == pytest.approx(proj.points[cats, 0].tolist())
    assert classes[1].text[0] == "cat: " + ("word " * 40)[:80] + "…"  # cut at 80 characters
    assert classes[1].text[1] == "cat: example 2 &lt;b&gt;bold&lt;/b&gt;"
    assert list(fig.data[-2].x) == pytest.approx(proj.means[:, 0].tolist())
    assert [fig.data[-1].x[0], fig.data[-1].y[0]] == pytest.approx(star.tolist())
    assert fig.layout.height >= 340
    text = json.dumps(fig.to_plotly_json(), default=str)
    assert "<a href" not in text and "<b>" not in text and evil not in text
    assert len(head_map_figure(proj).data) == len(proj.classes) + 1  # no input: no star
