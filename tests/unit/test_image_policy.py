"""The resolution policy's mapping (savs.models.image_policy): pure functions, no model. The
numbers are the published processors' (SmolVLM-256M: 512-px tiles of 64 tokens, up to 2048 px;
LLaVA-OneVision-0.5B: 384-px views of 27 x 27 tokens, pinpoints up to 2304 px; Qwen2-VL: 14-px
patches merged 2 x 2, 56*56 .. 28*28*1280 pixels)."""

from __future__ import annotations

import json

import pytest

from savs.artifact import _check_config
from savs.errors import ClassifierError, ModelError
from savs.limits import LOCAL, MAX_IMAGE_TOKENS_RECORDED, VISITOR_IMAGE_TOKENS
from savs.models import image_policy as ip
from savs.types import CONFIG_FIELDS, FitConfig

pytestmark = pytest.mark.unit

SMOLVLM = ip.Geometry("tiles", tile=512, seq=64, default_side=2048)
ONEVISION = ip.Geometry("anyres", tile=384, seq=729, default_side=2304)
QWEN2_VL = ip.Geometry("pixels", factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
FIXED = ip.Geometry("fixed")


def test_layouts_by_architecture():
    assert ip.layout_of("smolvlm") == ip.layout_of("idefics3") == "tiles"
    assert ip.layout_of("llava_onevision") == "anyres"
    assert ip.layout_of("qwen2_vl") == ip.layout_of("qwen2_5_vl") == "pixels"
    for fixed in ("llava", "paligemma", "gemma3", "something_new"):
        assert ip.layout_of(fixed) == "fixed"
    assert ip.layout_of("llama", is_vlm=False) is None


def test_classification_defaults():
    assert ip.resolve(SMOLVLM, None) == 64  # one tile
    assert ip.resolve(ONEVISION, None) == 729 + 729 + 27  # base view + one crop + newlines
    assert ip.resolve(QWEN2_VL, None) == 256
    assert ip.resolve(FIXED, None) is None
    assert ip.resolve(FIXED, 10) is None  # nothing to set: no bound applies


@pytest.mark.parametrize(
    "bound, grid", [(64, 0), (319, 0), (320, 2), (639, 2), (640, 3), (1087, 3), (1088, 4)]
)
def test_tiles_one_tile_below_the_split_else_the_largest_grid(bound, grid):
    s = ip.tile_settings(bound, tile=512, seq=64, default_side=2048)
    if grid == 0:
        assert s.processor_kwargs == {"do_image_splitting": False} and s.max_tokens == 64
    else:
        size = {"longest_edge": grid * 512}
        assert s.processor_kwargs == {"do_image_splitting": True, "size": size}
        assert s.max_tokens == (grid * grid + 1) * 64 <= bound


def test_tiles_never_beyond_the_processors_own_size():
    s = ip.tile_settings(100_000, tile=512, seq=64, default_side=2048)
    assert s.processor_kwargs["size"] == {"longest_edge": 2048}
    assert s.max_tokens == 17 * 64


def test_anyres_scales_images_to_a_grid_that_fits():
    one, two = ip.anyres_tokens(729, 1), ip.anyres_tokens(729, 2)
    assert (one, two) == (1485, 729 + 2916 + 54)
    assert ip.anyres_settings(one, 384, 729, 2304) == ip.ImageSettings({}, 384, one)
    assert ip.anyres_settings(two - 1, 384, 729, 2304).max_side == 384
    assert ip.anyres_settings(two, 384, 729, 2304).max_side == 768
    # a bound that admits the largest pinpoint grid: the processor's own settings
    top = ip.anyres_settings(10**6, 384, 729, 2304)
    assert top.max_side is None and top.processor_kwargs == {}


def test_pixels_cap_max_pixels_and_keep_min_below_it():
    s = ip.pixel_settings(256, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    assert s.processor_kwargs == {"size": {"shortest_edge": 3136, "longest_edge": 256 * 784}}
    assert s.max_tokens == 256
    tiny = ip.pixel_settings(2, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    assert tiny.processor_kwargs["size"] == {"shortest_edge": 2 * 784, "longest_edge": 2 * 784}
    huge = ip.pixel_settings(10**6, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    assert huge.processor_kwargs["size"]["longest_edge"] == 28 * 28 * 1280  # the processor's own


def test_no_bound_is_the_processors_own_settings():
    for geo in (SMOLVLM, ONEVISION, QWEN2_VL):
        assert ip.resolve(geo, ip.NO_BOUND) == 0
        assert ip.settings(geo, 0) == ip.ImageSettings()


def test_a_bound_below_the_smallest_setting_is_refused():
    with pytest.raises(ModelError, match="below the 64 image tokens.*one tile"):
        ip.resolve(SMOLVLM, 63)
    with pytest.raises(ModelError, match="below the 1485"):
        ip.resolve(ONEVISION, 1000)
    assert ip.resolve(QWEN2_VL, 1) == 1
    for bad in (-1, 2.5, True, "64"):
        with pytest.raises(ModelError, match="whole number"):
            ip.resolve(QWEN2_VL, bad)


def test_the_cap_bounds_the_default_and_refuses_more():
    assert ip.resolve(QWEN2_VL, None, cap=100) == 100  # default 256, capped
    assert ip.resolve(SMOLVLM, None, cap=1000) == 64  # default below the cap
    assert ip.resolve(QWEN2_VL, 64, cap=100) == 64
    with pytest.raises(ModelError, match="=101 is above this server's bound of 100"):
        ip.resolve(QWEN2_VL, 101, cap=100)
    with pytest.raises(ModelError, match=r"0 \(no bound\) is above"):
        ip.resolve(QWEN2_VL, 0, cap=100)
    assert ip.resolve(QWEN2_VL, 0, cap=0) == 0  # a cap of 0: no bound at all


def test_the_classifier_records_the_policy():
    assert "max_image_tokens" in CONFIG_FIELDS
    assert dict(FitConfig(max_image_tokens=64)) == {"max_image_tokens": 64}
    assert "max_image_tokens" not in FitConfig()  # absent: a classifier from before the policy


def _config(**extra) -> dict:
    return {"labels": ["a", "b"], "num_layers": 1, "num_heads": 1, "head_dim": 1, **extra}


@pytest.mark.parametrize("value", [0, 64, None, MAX_IMAGE_TOKENS_RECORDED])
def test_artifact_accepts_a_whole_number_or_null(value):
    _check_config(_config(max_image_tokens=value), "clf", LOCAL, False)


@pytest.mark.parametrize("value", [-1, 1.5, "64", True, [64], MAX_IMAGE_TOKENS_RECORDED + 1])
def test_artifact_refuses_anything_else(value):
    with pytest.raises(ClassifierError, match="'max_image_tokens' must be null or a whole"):
        _check_config(_config(max_image_tokens=value), "clf", LOCAL, False)
    json.dumps(value)  # each is a value a JSON file can hold


def test_the_operators_bound_from_env_or_flag():
    assert ip.parse_bound(None) is None and ip.parse_bound(" ") is None
    assert ip.parse_bound("256") == 256 and ip.parse_bound("0") == 0
    for bad in ("-1", "lots", "2.5"):
        with pytest.raises(ValueError, match="SAVS_MAX_IMAGE_TOKENS must be a whole number"):
            ip.parse_bound(bad)


def test_visitors_choose_only_within_the_operators_bound():
    assert ip.visitor_choices(None) == list(VISITOR_IMAGE_TOKENS)
    assert ip.visitor_choices(300) == [n for n in VISITOR_IMAGE_TOKENS if n <= 300]
    assert ip.check_visitor_choice("default", 300) is None
    assert ip.check_visitor_choice(None, 300) is None
    assert ip.check_visitor_choice("64", 300) == 64
    for bad in (1024, "1024", 65, "0", "lots", -64):
        with pytest.raises(ModelError, match="image tokens must be one of: 64, 256"):
            ip.check_visitor_choice(bad, 300)
