"""The procedural scene generator is deterministic and its questions are well defined."""

import random

import pytest

from savs.tiny.scenes import COLOURS, QUADRANTS, SHAPES, make_scene, qa_pairs, sample_qa

pytestmark = pytest.mark.unit


def test_same_seed_same_scene():
    for seed in (0, 1, 12345, 1_000_007):
        a, b = make_scene(seed), make_scene(seed)
        assert a.image.tobytes() == b.image.tobytes()
        assert a.objects == b.objects and a.background == b.background
        assert qa_pairs(a, random.Random(seed)) == qa_pairs(b, random.Random(seed))
        assert sample_qa(seed)[1:] == sample_qa(seed)[1:]


def test_different_seeds_differ():
    imgs = {make_scene(s).image.tobytes() for s in range(20)}
    assert len(imgs) == 20


def test_scene_contents_are_consistent():
    counts = set()
    for seed in range(200):
        sc = make_scene(seed)
        assert sc.image.size == (64, 64) and sc.image.mode == "RGB"
        n = len(sc.objects)
        counts.add(n)
        assert 1 <= n <= 4
        # distinct colours, shapes and quadrants: "the red one" names one object
        assert len({o.colour for o in sc.objects}) == n
        assert len({o.shape for o in sc.objects}) == n
        assert len({o.quadrant for o in sc.objects}) == n
        for o in sc.objects:
            assert o.colour in COLOURS and o.shape in SHAPES and o.quadrant in QUADRANTS
        qa = {t: (q, a) for t, q, a in qa_pairs(sc, random.Random(seed))}
        assert qa["count"][1] == str(n)
        assert qa["colour"][1] in {o.colour for o in sc.objects}
        assert qa["shape"][1] in {o.shape for o in sc.objects}
        assert qa["position"][1] in {o.quadrant for o in sc.objects}
        assert qa["exists"][1] in {"yes", "no"}
    assert counts == {1, 2, 3, 4}


def test_forced_attributes():
    sc = make_scene(7, n_objects=1, colours=["blue"], shapes=["star"], quadrants=["top right"])
    (o,) = sc.objects
    assert (o.colour, o.shape, o.quadrant) == ("blue", "star", "top right")
    assert o.cx > 32 and o.cy < 32
