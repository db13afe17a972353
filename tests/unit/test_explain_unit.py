"""What the app draws from an explanation (heat overlay, highlighted tokens) and the head
inspector's per-class accuracy: on hand-made explanations and activations, no model."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from savs import HeadExplanation, head_class_accuracy
from savs.classifier import score_heads
from savs.patches import GLOBAL, SQUARE
from savs.plots import attention_highlights, attention_overlay, patch_weights

pytestmark = pytest.mark.unit


def explanation(weights: list[float], tokens: list[str], patches: list) -> HeadExplanation:
    return HeadExplanation(
        layer=1,
        head=2,
        vote="a",
        cosines={"a": 0.9, "b": 0.1},
        attention=weights,
        tokens=tokens,
        patches=patches,
    )


def two_images() -> HeadExplanation:
    """ "Look" + image 0 as 2x2 patches + "and" + image 1 as 2x2 patches + "?"."""
    tokens = (
        ["Look"]
        + [f"<image 0 patch {r},{c}>" for r in range(2) for c in range(2)]
        + ["and"]
        + [f"<image 1 patch {r},{c}>" for r in range(2) for c in range(2)]
        + ["?"]
    )
    patches = (
        [None]
        + [(0, r, c) for r in range(2) for c in range(2)]
        + [None]
        + [(1, r, c) for r in range(2) for c in range(2)]
        + [None]
    )
    #          Look  (0,0) (0,1) (1,0) (1,1) and   image 1 ...          ?
    weights = [0.10, 0.00, 0.40, 0.00, 0.00, 0.05, 0.1, 0.1, 0.1, 0.1, 0.05]
    return explanation(weights, tokens, patches)


def test_patch_weights_place_each_weight_on_its_grid_cell():
    e = two_images()
    torch.testing.assert_close(patch_weights(e, 0), torch.tensor([[0.0, 0.4], [0.0, 0.0]]))
    torch.testing.assert_close(patch_weights(e, 1), torch.full((2, 2), 0.1))
    with pytest.raises(ValueError, match="image 2"):
        patch_weights(e, 2)


def test_overlay_heats_the_attended_patch_only():
    picture = Image.new("RGB", (40, 20), (30, 120, 200))  # not square: the grid stretches
    out = attention_overlay(picture, two_images(), image_index=0)
    assert out.size == picture.size and out.mode == "RGB"
    # patch (0, 1) is the top-right quarter: 20 x 10 pixels, changed; every other pixel is not
    changed = {
        (x, y)
        for x in range(40)
        for y in range(20)
        if out.getpixel((x, y)) != picture.getpixel((x, y))
    }
    assert changed == {(x, y) for x in range(20, 40) for y in range(10)}
    # the hottest patch is drawn in the ramp's top colour (light yellow), mostly opaque
    r, g, b = out.getpixel((30, 5))
    assert r > 150 and g > 150 and b < 190


def test_overlay_of_uniform_weights_tints_everything_alike():
    picture = Image.new("RGB", (8, 8), (0, 0, 0))
    out = attention_overlay(picture, two_images(), image_index=1, opacity=0.5)
    assert len({out.getpixel((x, y)) for x in range(8) for y in range(8)}) == 1
    assert out.getpixel((0, 0)) != (0, 0, 0)


def test_overlay_without_patches_is_refused():
    e = explanation([0.5, 0.5], ["<image>", "?"], [None, None])
    with pytest.raises(ValueError, match="do not map to patches"):
        attention_overlay(Image.new("RGB", (8, 8)), e)


def test_highlights_merge_each_image_and_scale_to_the_largest():
    pairs = attention_highlights(two_images())
    assert [t for t, _ in pairs] == ["Look", "<image 0>", "and", "<image 1>", "?"]
    raw = [0.10, 0.40, 0.05, 0.40, 0.05]
    assert [w for _, w in pairs] == pytest.approx([w / 0.40 for w in raw])
    unscaled = attention_highlights(two_images(), scale=False)
    assert sum(w for _, w in unscaled) == pytest.approx(1.0)


def test_highlights_per_position_and_unmapped_images():
    e = two_images()
    pairs = attention_highlights(e, merge_images=False, scale=False)
    assert pairs == list(zip(e.tokens, e.attention))
    unmapped = explanation(
        [0.2, 0.3, 0.1, 0.4], ["<image>", "<image>", "hi", "<image>"], [None] * 4
    )
    assert attention_highlights(unmapped, scale=False) == [
        ("<image>", pytest.approx(0.5)),
        ("hi", 0.1),
        ("<image>", 0.4),
    ]


def test_head_class_accuracy_by_hand():
    # head (0, 0): class a always [1, 0]; class b [0, 1], [0, 1] and one stray [1, 0].
    # Leave-one-out: the stray b is nearer a's mean (cos 1) than the other b's (cos 0): wrong;
    # the other b's own mean without itself is [1, 1] / 2 (cos 0.71) vs a's (cos 0): right.
    vectors = [[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [1, 0]]
    labels = ["a", "a", "a", "b", "b", "b"]
    acts = torch.zeros(6, 2, 3, 2)
    acts[:, 0, 0] = torch.tensor(vectors, dtype=torch.float)
    acts[:, 1, 2] = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    acc = head_class_accuracy(acts, labels, (0, 0))
    assert acc == pytest.approx({"a": 1.0, "b": 2 / 3})
    # weighted by class size, the per-class accuracies give the head's score, for any head
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    score, _ = score_heads(acts, y, 2)
    for layer, head in [(0, 0), (1, 2), (0, 1)]:
        per_class = head_class_accuracy(acts, labels, (layer, head))
        assert sum(per_class.values()) / 2 == pytest.approx(float(score[layer, head]))


def test_head_class_accuracy_rejects_bad_input():
    from savs import DataError

    acts = torch.zeros(4, 2, 3, 5)
    with pytest.raises(DataError, match="outside"):
        head_class_accuracy(acts, ["a", "a", "b", "b"], (2, 0))
    with pytest.raises(DataError, match="N = 3"):
        head_class_accuracy(acts, ["a", "a", "b"], (0, 0))


def tiled() -> HeadExplanation:
    """ "Look" + image 0 as a global 2x2 view, then its fine 2x2 grid with a newline after each
    row (the LLaVA-OneVision order) + "?"."""
    tokens, patches, weights = ["Look"], [None], [0.1]
    for r in range(2):
        for c in range(2):
            tokens.append(f"<image 0 global {r},{c}>")
            patches.append((0, r, c, GLOBAL))
            weights.append(0.3 if (r, c) == (1, 0) else 0.0)
    for r in range(2):
        for c in range(2):
            tokens.append(f"<image 0 patch {r},{c}>")
            patches.append((0, r, c))
            weights.append(0.2 if (r, c) == (0, 1) else 0.0)
        tokens.append("<image 0 newline>")
        patches.append(None)
        weights.append(0.05)
    return explanation([*weights, 0.3], [*tokens, "?"], [*patches, None])


def changed_pixels(out: Image.Image, picture: Image.Image) -> set[tuple[int, int]]:
    width, height = picture.size
    return {
        (x, y)
        for x in range(width)
        for y in range(height)
        if out.getpixel((x, y)) != picture.getpixel((x, y))
    }


def test_a_tiled_image_draws_its_fine_grid_and_its_global_view_on_request():
    e = tiled()
    torch.testing.assert_close(patch_weights(e), torch.tensor([[0.0, 0.2], [0.0, 0.0]]))
    torch.testing.assert_close(patch_weights(e, view=GLOBAL), torch.tensor([[0.0, 0.0], [0.3, 0]]))
    picture = Image.new("RGB", (20, 10), (30, 120, 200))
    fine = attention_overlay(picture, e)
    assert changed_pixels(fine, picture) == {(x, y) for x in range(10, 20) for y in range(5)}
    coarse = attention_overlay(picture, e, view=GLOBAL)
    assert changed_pixels(coarse, picture) == {(x, y) for x in range(10) for y in range(5, 10)}


def test_a_grid_of_a_picture_padded_to_a_square_is_drawn_on_that_square():
    # a 4x4 grid over the 40x40 square around a 40x20 picture: grid rows 1-2 cover the picture
    patches = [(0, r, c, SQUARE) for r in range(4) for c in range(4)]
    weights = [0.0] * 16
    weights[0] = 0.5  # (0, 0): the padding above the picture, not drawn
    weights[1 * 4 + 3] = 1.0  # (1, 3): the picture's top right, 10 x 10 pixels
    e = explanation(weights, ["<image 0 patch>"] * 16, patches)
    picture = Image.new("RGB", (40, 20), (30, 120, 200))
    out = attention_overlay(picture, e)
    assert out.size == picture.size
    assert changed_pixels(out, picture) == {(x, y) for x in range(30, 40) for y in range(10)}


def test_highlights_count_newline_tokens_in_their_image():
    e = tiled()
    pairs = attention_highlights(e, scale=False)
    assert [t for t, _ in pairs] == ["Look", "<image 0>", "?"]
    assert pairs[1][1] == pytest.approx(0.3 + 0.2 + 0.05 + 0.05)
