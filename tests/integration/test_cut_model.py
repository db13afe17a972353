"""`load_model(name, layers=N)` builds the text decoder's first N layers only: the kept layers'
head outputs equal the whole model's, the dropped layers' weights are never built, no load
report is printed about them, fitting on a cut model is refused, a classifier reading a deeper
layer is refused, and the CLI loads a classifier's model cut after its deepest head."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import savs
from savs import ClassifierError, Example, ModelError, load_model
from savs.__main__ import main
from savs.models.cut import cut_config
from savs.models.registry import ASSETS

import tiny_models

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory) -> str:
    """A tiny Qwen2 text LM saved with save_pretrained (its config has per-layer layer_types)."""
    model, tokenizer = tiny_models.qwen2_lm()
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def keep_layers_below(clf: savs.SAVClassifier, layers: int) -> savs.SAVClassifier:
    """The same classifier with only its heads in layers < `layers` (and their class means)."""
    keep = [i for i, h in enumerate(clf.heads) if h.layer < layers]
    return dataclasses.replace(
        clf, heads=[clf.heads[i] for i in keep], means=clf.means[keep], config=dict(clf.config)
    )


def query(adapter) -> Example:
    if adapter.is_vlm:
        from PIL import Image

        return Example(text="What colour is it?", images=(Image.new("RGB", (24, 24), "red"),))
    return Example(text="Is this a cat or a dog?")


@pytest.mark.integration
@pytest.mark.parametrize("folder", ["llava_model_dir", "qwen2_dir"])
def test_kept_layers_equal_the_whole_model_and_dropped_ones_are_not_built(folder, request, capfd):
    path = request.getfixturevalue(folder)
    whole = load_model(path, device="cpu")
    capfd.readouterr()
    cut = load_model(path, device="cpu", layers=2)
    report = capfd.readouterr().err  # transformers logs its load report to stderr
    assert "LOAD REPORT" not in report and "UNEXPECTED" not in report and "MISSING" not in report
    assert (cut.num_layers, cut.full_layers) == (2, whole.num_layers) == (2, 3)
    assert sum(p.numel() for p in cut.model.parameters()) < sum(
        p.numel() for p in whole.model.parameters()
    )
    inputs = whole.encode([query(whole)])
    torch.testing.assert_close(cut.read_heads(inputs, [0, 1]), whole.read_heads(inputs, [0, 1]))
    text = cut.model.config.get_text_config()
    assert text.num_hidden_layers == 2
    if getattr(text, "layer_types", None) is not None:
        assert len(text.layer_types) == 2


@pytest.mark.integration
def test_fit_on_a_cut_model_and_a_too_deep_classifier_are_refused(llava_model_dir, colour_examples):
    whole = load_model(llava_model_dir, device="cpu")
    cut = load_model(llava_model_dir, device="cpu", layers=1)
    with pytest.raises(ModelError, match="load the whole model to fit"):
        savs.fit(cut, colour_examples, k=2)
    clf = savs.fit(whole, colour_examples, k=whole.num_layers * whole.num_heads)
    with pytest.raises(ClassifierError, match="first 1 layers only"):
        savs.predict(cut, clf, colour_examples[:1])
    shallow = keep_layers_below(clf, 1)
    assert shallow.deepest_layer == 0
    assert [p.label for p in savs.predict(cut, shallow, colour_examples)] == [
        p.label for p in savs.predict(whole, shallow, colour_examples)
    ]


@pytest.mark.unit
def test_a_layer_count_outside_the_model_is_refused():
    from transformers import LlamaConfig

    config = LlamaConfig(num_hidden_layers=4, layer_types=["full_attention"] * 4)
    assert cut_config(config, 2).layer_types == ["full_attention"] * 2
    assert config.num_hidden_layers == 4  # a copy
    for bad in (0, 5):
        with pytest.raises(ModelError, match="between 1 and the model's 4 layers"):
            cut_config(config, bad)


@pytest.mark.slow
def test_the_cli_loads_tiny_cut_after_the_classifier_s_deepest_head(tmp_path, capsys):
    train = savs.load_examples(ASSETS / "examples" / "count" / "train.jsonl")
    tiny = load_model("tiny")
    clf = keep_layers_below(savs.fit(tiny, train, k=64), 4)  # all 64 heads: layers 0-3 kept
    assert clf.deepest_layer == 3  # the case: heads reach layer 3, so 4 layers load
    clf.save(tmp_path / "count")
    record = json.loads((ASSETS / "examples" / "count" / "test.jsonl").read_text().splitlines()[0])
    image = str(ASSETS / "examples" / "count" / record["image"])
    argv = ["predict", "--classifier", str(tmp_path / "count"), "--image", image]
    assert main([*argv, "--text", record["question"]]) == 0
    out = capsys.readouterr()
    assert "loaded 4 of tiny's 8 layers" in out.err
    assert main([*argv, "--text", record["question"], "--json"]) == 0
    cut_result = json.loads(capsys.readouterr().out)
    assert main([*argv, "--text", record["question"], "--json", "--whole-model"]) == 0
    assert json.loads(capsys.readouterr().out) == cut_result
