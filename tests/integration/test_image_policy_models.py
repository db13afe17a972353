"""The resolution policy on the tiny Idefics3 / SmolVLM, LLaVA-OneVision and Qwen2-VL models
(tests/tiny_models.py): the image tokens of every processor call obey the bound, the model runs
on them, a classifier records its policy and predict replays it, explain with another policy
refuses naming both, and a classifier from before the policy replays the processor's own
settings. The tiny tile and pixel processors get a larger default size here (copies: the shared
builders stay as they are), so that a bound has room to choose between settings."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import pytest
import torch
from PIL import Image

import savs
from savs import ClassifierError, Example, ModelAdapter, ModelError
from savs.__main__ import main
from savs.explanation import explain_prediction
from savs.pipeline import check_compatible, for_classifier

import tiny_models

pytestmark = pytest.mark.integration
torch.set_num_threads(1)

POLICY_VLMS = ("smolvlm", "idefics3", "llava_onevision", "qwen2_vl")


def processor_with_room(name: str, processor):
    """A copy whose own default allows more than the smallest setting, as the published
    processors do (tiles: splitting on, up to 4 x 4 tiles of 32 px; pixels: up to 64 tokens)."""
    processor = copy.deepcopy(processor)
    if name in ("smolvlm", "idefics3"):
        processor.image_processor.size = {"longest_edge": 128}
        processor.image_processor.do_image_splitting = True
    if name == "qwen2_vl":
        processor.image_processor.size = {"shortest_edge": 256, "longest_edge": 64 * 256}
    return processor


@cache
def adapter_for(name: str, tokens: int | None = None) -> ModelAdapter:
    model, processor = tiny_models.BUILDERS[name]()
    return ModelAdapter(model, processor_with_room(name, processor), f"tiny-{name}", None, tokens)


def picture(size: tuple[int, int], rgb=(200, 40, 40)) -> Image.Image:
    img = Image.new("RGB", size, rgb)
    img.paste(tuple(c // 2 for c in rgb), (2, 2, size[0] // 2, size[1] // 2))
    return img


PICTURES = [picture((64, 48)), picture((30, 70)), picture((128, 128))]


def image_tokens(adapter: ModelAdapter, image: Image.Image) -> int:
    """Image tokens of one example, counted in the input ids; the model runs on them (a count
    the model disagrees with raises)."""
    inputs = adapter.encode([Example("What colour?", images=(image,))])
    adapter.read_heads(inputs)
    return int((inputs["input_ids"] == adapter.processor.image_token_id).sum())


BOUNDS = {
    "smolvlm": (4, 20, 40, 68),
    "idefics3": (4, 20, 40, 68),
    "llava_onevision": (36, 88),
    "qwen2_vl": (1, 4, 16, 64),
}


@pytest.mark.parametrize("name", POLICY_VLMS)
def test_image_tokens_obey_the_bound(name):
    unbounded = adapter_for(name, 0)
    most = max(image_tokens(unbounded, p) for p in PICTURES)
    assert most > BOUNDS[name][0]  # the bound has something to cut
    for bound in BOUNDS[name]:
        adapter = adapter_for(name, bound)
        counts = [image_tokens(adapter, p) for p in PICTURES]
        assert max(counts) <= bound, (bound, counts)
        assert adapter.image_settings.max_tokens <= bound
    # the largest bound that the processor's defaults allow gives what they give
    assert max(image_tokens(adapter_for(name, BOUNDS[name][-1]), p) for p in PICTURES) == most


@pytest.mark.parametrize("name", ["llava", "paligemma", "gemma3"])
def test_fixed_layouts_have_nothing_to_set(name):
    model, processor = tiny_models.BUILDERS[name]()
    adapter = ModelAdapter(model, processor, name, None, 1)
    assert adapter.max_image_tokens is None
    assert adapter.image_settings == savs.models.image_policy.ImageSettings()


def test_a_bound_below_the_smallest_setting_is_refused():
    model, processor = tiny_models.smolvlm()
    with pytest.raises(ModelError, match="below the 4 image tokens"):
        ModelAdapter(model, processor, "tiny-smolvlm", None, 3)


def test_the_policy_is_part_of_the_activation_cache_key():
    one, other = adapter_for("smolvlm", 4), adapter_for("smolvlm", 20)
    assert one.fingerprint != other.fingerprint
    assert one.with_image_tokens(4) is one  # the same policy: the same adapter


EXAMPLES = [
    Example("What colour?", label=label, images=(picture(size, rgb),))
    for label, rgb in (("red", (220, 30, 30)), ("blue", (30, 40, 220)))
    for size in ((64, 48), (70, 40), (50, 64))
]


@cache
def fitted(tokens: int) -> savs.SAVClassifier:
    return savs.fit(adapter_for("smolvlm", tokens), EXAMPLES, k=3)


def test_the_classifier_records_the_policy_and_keeps_it(tmp_path):
    clf = fitted(20)
    assert clf.config.max_image_tokens == 20
    clf.save(tmp_path / "clf")
    saved = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert saved["max_image_tokens"] == 20
    assert savs.SAVClassifier.load(tmp_path / "clf").config.max_image_tokens == 20


def counting_encodes(monkeypatch) -> list[int]:
    """Every encode's most image tokens in one row, recorded as it happens."""
    seen: list[int] = []
    encode = ModelAdapter.encode

    def spy(self, examples, prompt=None):
        inputs = encode(self, examples, prompt)
        ids = inputs["input_ids"] == self.processor.image_token_id
        seen.append(int(ids.sum(dim=1).max()))
        return inputs

    monkeypatch.setattr(ModelAdapter, "encode", spy)
    return seen


def test_predict_replays_the_classifiers_policy(monkeypatch):
    clf, default = fitted(20), adapter_for("smolvlm")
    assert default.max_image_tokens == 4  # one tile: the classification default
    replay = for_classifier(default, clf)
    assert replay.max_image_tokens == 20 and replay.model is default.model
    acts = savs.extract(adapter_for("smolvlm", 20), EXAMPLES)
    torch.testing.assert_close(savs.extract(replay, EXAMPLES), acts, rtol=0, atol=0)
    assert not torch.equal(savs.extract(default, EXAMPLES), acts)  # the policy matters
    seen = counting_encodes(monkeypatch)
    # predict on the default adapter reads what the fit read (2 x 2 tiles + the global
    # image: 20 tokens), not the default's one tile (4)
    assert savs.predict(default, clf, EXAMPLES, batch_size=8) == clf.predict_activations(acts)
    assert seen == [20]
    report, _ = savs.evaluate(default, clf, EXAMPLES)
    assert seen == [20, 20] and report.confusion is not None


def test_explain_replays_the_classifiers_policy_and_check_compatible_names_both():
    clf, default = fitted(20), adapter_for("smolvlm")
    with pytest.raises(ClassifierError, match="max_image_tokens=20.*max_image_tokens=4"):
        check_compatible(clf, default)  # what a caller of the model as it is gets
    prediction, explanations = explain_prediction(default, clf, EXAMPLES[0])
    assert prediction == savs.predict(default, clf, EXAMPLES[:1])[0]
    image_tokens = sum(p is not None for p in explanations[0].patches)
    assert image_tokens == 20  # 2 x 2 tiles + the global image, as the fit read them


def test_a_classifier_from_before_the_policy_replays_the_processors_own(tmp_path):
    clf = savs.fit(adapter_for("smolvlm", 0), EXAMPLES, k=3)
    clf.config.max_image_tokens = None  # as a classifier saved before the field existed
    clf.save(tmp_path / "old")
    assert "max_image_tokens" not in json.loads((tmp_path / "old/classifier.json").read_text())
    old = savs.SAVClassifier.load(tmp_path / "old")
    replay = for_classifier(adapter_for("smolvlm"), old)
    assert replay.max_image_tokens == 0 and replay.image_settings.processor_kwargs == {}
    expected = old.predict_activations(savs.extract(adapter_for("smolvlm", 0), EXAMPLES))
    assert savs.predict(adapter_for("smolvlm"), old, EXAMPLES) == expected


@pytest.fixture(scope="module")
def smolvlm_dir(tmp_path_factory) -> Path:
    model, processor = tiny_models.smolvlm()
    folder = tmp_path_factory.mktemp("tiny-smolvlm")
    model.save_pretrained(folder)
    processor_with_room("smolvlm", processor).save_pretrained(folder)
    return folder


def test_load_model_takes_the_bound_and_refuses_before_loading(smolvlm_dir, monkeypatch):
    assert savs.load_model(str(smolvlm_dir), device="cpu").max_image_tokens == 4
    loaded = savs.load_model(str(smolvlm_dir), device="cpu", max_image_tokens=20)
    assert loaded.max_image_tokens == 20

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were read")

    monkeypatch.setattr("savs.models.registry.build_model", no_weights)
    with pytest.raises(ModelError, match="below the 4 image tokens"):
        savs.load_model(str(smolvlm_dir), device="cpu", max_image_tokens=2)


def test_cli_fit_records_the_bound_and_predict_uses_it(smolvlm_dir, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    lines = []
    for i, ex in enumerate(EXAMPLES):
        ex.images[0].save(images / f"{i}.png")
        lines.append({"image": f"images/{i}.png", "question": ex.text, "label": ex.label})
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(map(json.dumps, lines)) + "\n")
    out = tmp_path / "clf"
    argv = ["fit", "--model", str(smolvlm_dir), "--train", str(train), "-k", "3"]
    assert main([*argv, "--max-image-tokens", "20", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["max_image_tokens"] == 20
    assert json.loads((out / "classifier.json").read_text())["max_image_tokens"] == 20
    image = str(images / "0.png")
    code = main(["predict", "--classifier", str(out), "--image", image, "--explain", "--json"])
    assert code == 0, capsys.readouterr().err  # explain too: the model loads with the fit's
    assert json.loads(capsys.readouterr().out)["label"] in ("red", "blue")
    assert main([*argv, "--max-image-tokens", "2", "--json"]) == 2
    assert "below the 4 image tokens" in capsys.readouterr().err


def test_an_operators_cap_holds_for_every_view():
    model, processor = tiny_models.BUILDERS["qwen2_vl"]()
    capped = ModelAdapter(model, processor_with_room("qwen2_vl", processor), "q", None, None, 16)
    assert capped.max_image_tokens == 16  # the default (256), capped
    assert capped.with_image_tokens(4).max_image_tokens == 4
    with pytest.raises(ModelError, match="above this server's bound of 16"):
        capped.with_image_tokens(64)
    clf = savs.fit(capped, EXAMPLES, k=2)
    clf.config.max_image_tokens = None  # a classifier from before the policy: no bound, refused
    with pytest.raises(ModelError, match=r"0 \(no bound\) is above this server's bound of 16"):
        savs.predict(capped, clf, EXAMPLES[:1])
