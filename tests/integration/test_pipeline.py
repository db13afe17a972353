"""Fit / predict / evaluate end to end on the tiny random models: batching, caching, early exit,
saving and loading."""

from __future__ import annotations

import json
import zipfile
from contextlib import contextmanager

import pytest
import torch

from savs import ActivationCache, ClassifierError, DataError, Example, ModelAdapter, ModelError
from savs.activations import extract
from savs.classifier import CONFIG_FILE, TENSORS_FILE, SAVClassifier
from savs.heads import HeadIndex
from savs.pipeline import check_compatible, evaluate, fit, predict

from reference import class_means, expected_vote

torch.set_num_threads(1)

QUESTIONS = [
    "What colour is it?",
    "Colour?",
    "Is the shape red, green or blue? Answer briefly.",
    "What?",
]


@contextmanager
def count_calls(module: torch.nn.Module):
    """Count forward calls of a module (the hook is removed on exit)."""
    calls = [0]

    def hook(mod, args):
        calls[0] += 1

    handle = module.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def varied_examples(colour_examples) -> list[Example]:
    """The colour set with prompts of different lengths, so batches need left padding."""
    return [
        Example(text=QUESTIONS[i % len(QUESTIONS)], label=ex.label, images=ex.images)
        for i, ex in enumerate(colour_examples)
    ]


@pytest.fixture(scope="module")
def fitted(llava_adapter, varied_examples) -> SAVClassifier:
    return fit(llava_adapter, varied_examples, prompt="Look closely.", k=5, batch_size=4)


def labels_and_votes(predictions):
    return [(p.label, p.votes) for p in predictions]


@pytest.mark.integration
def test_fit_predict_end_to_end(llava_adapter, varied_examples, fitted):
    clf = fitted
    assert clf.labels == ["red", "green", "blue"]
    assert clf.k == 5 and len(set(clf.heads)) == 5
    assert clf.head_scores.shape == (llava_adapter.num_layers, llava_adapter.num_heads)
    assert clf.means.shape == (5, 3, llava_adapter.head_dim)
    assert clf.config["model"] == "test-llava" and clf.config["prompt"] == "Look closely."
    # the heads kept are the best scored ones
    best = sorted(clf.head_scores.flatten().tolist(), reverse=True)[:5]
    assert sorted((clf.head_scores[h].item() for h in clf.heads), reverse=True) == best
    predictions = predict(llava_adapter, clf, varied_examples, batch_size=3)
    assert len(predictions) == len(varied_examples)
    # what each prediction must be: the vote recomputed from the activations and class means
    acts = extract(llava_adapter, varied_examples, "Look closely.")  # [N, L, H, d]
    means = class_means(acts, [ex.label for ex in varied_examples], clf.heads)
    for p, a in zip(predictions, acts):
        label, votes, head_votes = expected_vote(a, clf.heads, means)
        assert (p.label, p.votes) == (label, votes)
        assert [lab for _, lab in p.head_votes] == head_votes and sum(p.votes.values()) == 5
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
    # predicting through the model agrees with the training accuracy computed from activations
    accuracy = sum(p.label == ex.label for p, ex in zip(predictions, varied_examples)) / 12
    assert accuracy == pytest.approx(clf.config["train_accuracy"])


@pytest.mark.integration
def test_evaluate_report_matches_predictions(llava_adapter, varied_examples, fitted):
    report, predictions = evaluate(llava_adapter, fitted, varied_examples, batch_size=6)
    truth = [ex.label for ex in varied_examples]
    assert report.accuracy == pytest.approx(
        sum(p.label == t for p, t in zip(predictions, truth)) / len(truth)
    )
    assert report.labels[:3] == fitted.labels
    assert sum(map(sum, report.confusion)) == len(truth)
    assert [report.per_class[lab]["support"] for lab in fitted.labels] == [4, 4, 4]
    assert report.mistakes == [
        i for i, (p, t) in enumerate(zip(predictions, truth)) if p.label != t
    ]
    with pytest.raises(DataError, match="without a label"):
        evaluate(llava_adapter, fitted, [Example(text="x", images=varied_examples[0].images)])


@pytest.mark.integration
def test_batched_equals_unbatched(llava_adapter, text_adapter, varied_examples):
    one = extract(llava_adapter, varied_examples, batch_size=1)
    many = extract(llava_adapter, varied_examples, batch_size=5)
    assert one.shape == (12, 3, 4, 16)
    assert torch.allclose(one, many, atol=1e-5)
    texts = [Example(text=t * (i + 1), label="x") for i, t in enumerate(QUESTIONS)]
    one = extract(text_adapter, texts, batch_size=1)
    many = extract(text_adapter, texts, batch_size=4)
    assert torch.allclose(one, many, atol=1e-5)
    assert not torch.allclose(one[0], one[1])  # different inputs, different activations


@pytest.mark.integration
def test_cache_hit_does_not_run_the_model(llava_adapter, varied_examples):
    cache = ActivationCache()
    with count_calls(llava_adapter.model) as calls:
        first = fit(llava_adapter, varied_examples, k=4, batch_size=4, cache=cache)
    assert calls[0] == 3  # 12 examples in batches of 4
    assert len(cache) == 12 and cache.hits == 0

    with count_calls(llava_adapter.model) as calls:
        again = fit(llava_adapter, varied_examples, k=4, batch_size=4, cache=cache)
        other_k = fit(llava_adapter, varied_examples, k=7, batch_size=4, cache=cache)
        other_scoring = fit(
            llava_adapter, varied_examples, k=4, scoring="reference", batch_size=4, cache=cache
        )
        relabeled = [
            Example(text=ex.text, images=ex.images, label="warm" if ex.label == "red" else "cold")
            for ex in varied_examples
        ]
        other_labels = fit(llava_adapter, relabeled, k=4, batch_size=4, cache=cache)
    assert calls[0] == 0
    assert cache.hits == 48
    assert again.heads == first.heads and torch.equal(again.means, first.means)
    assert other_k.k == 7 and other_k.heads[:4] == first.heads
    assert other_scoring.config["scoring"] == "reference"
    assert other_labels.labels == ["warm", "cold"]

    # a different prompt is a different input: the model runs again
    with count_calls(llava_adapter.model) as calls:
        fit(
            llava_adapter, varied_examples, prompt="Another prompt", k=4, batch_size=12, cache=cache
        )
    assert calls[0] == 1


@pytest.mark.integration
def test_cached_activations_equal_fresh_ones(llava_adapter, varied_examples):
    cache = ActivationCache()
    fresh = extract(llava_adapter, varied_examples[:5], batch_size=2, cache=cache)
    mixed = extract(llava_adapter, varied_examples[3:8], batch_size=2, cache=cache)  # 2 hits
    assert cache.hits == 2
    assert torch.equal(mixed[:2], fresh[3:5])
    assert torch.allclose(mixed, extract(llava_adapter, varied_examples[3:8]), atol=1e-5)


@pytest.mark.integration
def test_batch_size_zero_means_one(llava_adapter, varied_examples, fitted):
    acts = extract(llava_adapter, varied_examples[:3], batch_size=0)
    assert torch.allclose(acts, extract(llava_adapter, varied_examples[:3], batch_size=1))
    predictions = predict(llava_adapter, fitted, varied_examples[:3], batch_size=0)
    assert labels_and_votes(predictions) == labels_and_votes(
        predict(llava_adapter, fitted, varied_examples[:3], batch_size=1)
    )


@pytest.mark.unit
def test_cache_is_bounded():
    cache = ActivationCache(max_bytes=3 * 4 * 10)
    for i in range(5):
        cache.put(str(i), torch.zeros(10))
    assert len(cache) == 3 and cache.get("0") is None and cache.get("4") is not None


@pytest.mark.integration
def test_progress_is_reported(llava_adapter, varied_examples):
    seen = []
    extract(
        llava_adapter,
        varied_examples[:5],
        batch_size=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (5, 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.integration
def test_early_exit_equals_full_pass(llava_adapter, varied_examples, fitted):
    early = predict(llava_adapter, fitted, varied_examples, early_exit=True)
    full = predict(llava_adapter, fitted, varied_examples, early_exit=False)
    assert labels_and_votes(early) == labels_and_votes(full)


@pytest.mark.integration
def test_early_exit_skips_deeper_layers(llava_adapter, varied_examples):
    acts = extract(llava_adapter, varied_examples)  # [12, 3, 4, 16]
    heads = [HeadIndex(0, 1), HeadIndex(0, 3)]
    clf = SAVClassifier(
        labels=["red", "green", "blue"],
        heads=heads,
        means=torch.stack(
            [
                torch.stack([acts[i : i + 4, h.layer, h.head].mean(0) for i in (0, 4, 8)])
                for h in heads
            ]
        ),
        head_scores=torch.zeros(3, 4),
        config={"model": "test-llava", "num_layers": 3, "num_heads": 4, "head_dim": 16},
    )
    deepest = llava_adapter.o_projs[-1]
    with count_calls(deepest) as calls:
        early = predict(llava_adapter, clf, varied_examples, batch_size=12, early_exit=True)
    assert calls[0] == 0
    with count_calls(deepest) as calls:
        full = predict(llava_adapter, clf, varied_examples, batch_size=12, early_exit=False)
    assert calls[0] == 1
    assert labels_and_votes(early) == labels_and_votes(full)
    assert labels_and_votes(early) == labels_and_votes(clf.predict_activations(acts))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["clf", "clf.zip"])
def test_save_load_round_trip(tmp_path, llava_adapter, varied_examples, fitted, name):
    path = fitted.save(tmp_path / name)
    assert path.is_dir() == (name == "clf")
    loaded = SAVClassifier.load(path)
    assert loaded.labels == fitted.labels and loaded.heads == fitted.heads
    assert torch.equal(loaded.means, fitted.means)
    assert torch.equal(loaded.head_scores, fitted.head_scores)
    assert loaded.config == fitted.config
    assert labels_and_votes(predict(llava_adapter, loaded, varied_examples)) == labels_and_votes(
        predict(llava_adapter, fitted, varied_examples)
    )


@pytest.mark.integration
def test_zip_with_a_wrapping_folder_loads(tmp_path, fitted):
    folder = fitted.save(tmp_path / "clf")
    archive = tmp_path / "wrapped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in (TENSORS_FILE, CONFIG_FILE):
            zf.write(folder / n, f"clf/{n}")
    assert SAVClassifier.load(archive).heads == fitted.heads


@pytest.mark.integration
def test_classifier_from_another_model_is_refused(fitted, text_adapter):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    import tiny_models

    # same shape, another model
    with pytest.raises(ClassifierError, match="made with 'test-llava'.*'test-qwen2'"):
        check_compatible(fitted, text_adapter)
    with pytest.raises(ClassifierError):
        predict(text_adapter, fitted, [Example(text="hi")])
    # another shape
    tok = text_adapter.tokenizer
    small = Qwen2ForCausalLM(Qwen2Config(**tiny_models.text_config(len(tok), num_hidden_layers=2)))
    other = ModelAdapter(small, tok, "test-llava")  # even under the same name
    with pytest.raises(ClassifierError, match=r"3 layers x 4 heads x 16 dims.*\(2 x 4 x 16\)"):
        predict(other, fitted, [Example(text="hi")])


@pytest.mark.integration
def test_awkward_images_run_through_the_model(llava_adapter, tmp_path):
    """1x1, 16-bit, CMYK, palette+alpha and a PIL image all reach the model as RGB."""
    import numpy as np
    from PIL import Image

    Image.new("RGB", (1, 1), (255, 0, 0)).save(tmp_path / "one.png")
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 999).save(tmp_path / "g16.png")
    Image.new("CMYK", (9, 5), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("RGBA", (6, 6), (0, 0, 255, 100)).convert("P").save(tmp_path / "p.gif")
    images = [str(tmp_path / n) for n in ("one.png", "g16.png", "cmyk.jpg", "p.gif")]
    examples = [Example(text="Colour?", images=(p,)) for p in images]
    examples.append(
        Example(text="Two <image> and <image>", images=(images[0], Image.new("L", (3, 70), 9)))
    )
    acts = extract(llava_adapter, examples, batch_size=5)
    assert acts.shape == (5, 3, 4, 16) and torch.isfinite(acts).all()


@pytest.mark.integration
def test_images_to_a_text_model_is_a_model_error(text_adapter, varied_examples):
    with pytest.raises(ModelError, match="text-only"):
        extract(text_adapter, varied_examples[:1])


@pytest.mark.integration
def test_fit_refuses_bad_training_sets(llava_adapter, varied_examples):
    with count_calls(llava_adapter.model) as calls:
        with pytest.raises(DataError, match="two classes"):
            fit(llava_adapter, [ex for ex in varied_examples if ex.label == "red"])
        with pytest.raises(DataError, match="'blue' has a single example"):
            fit(llava_adapter, varied_examples[:9])  # 4 red, 4 green, 1 blue... by order
    assert calls[0] == 0  # checked before running the model


# --- corrupt artifacts ----------------------------------------------------------------------


def rewrite(folder, config=None, tensors=None):
    from safetensors.torch import save_file

    if config is not None:
        (folder / CONFIG_FILE).write_text(json.dumps(config))
    if tensors is not None:
        save_file(tensors, str(folder / TENSORS_FILE))


@pytest.fixture
def saved(tmp_path, fitted):
    folder = fitted.save(tmp_path / "clf")
    config = json.loads((folder / CONFIG_FILE).read_text())
    from safetensors.torch import load

    tensors = load((folder / TENSORS_FILE).read_bytes())  # not load_file: it maps the file
    return folder, config, tensors


@pytest.mark.integration
def test_corrupt_config_files(saved):
    folder, config, tensors = saved
    cases = [
        ("{not json", "is not valid JSON"),
        (json.dumps([1, 2]), "not a SAVs classifier"),
        (json.dumps({**config, "format": "other"}), "not a SAVs classifier"),
        (json.dumps({**config, "format_version": 99}), "format version 99"),
        (json.dumps({**config, "labels": ["only"]}), "'labels' must be a list of at least two"),
        (json.dumps({**config, "labels": ["a", 3, "c"]}), "'labels' must be"),
        (json.dumps({**config, "labels": ["red", "red", "blue"]}), "same class name twice"),
        (json.dumps({**config, "num_heads": 0}), "'num_heads' must be a positive integer"),
        (json.dumps({**config, "head_dim": "16"}), "'head_dim' must be a positive integer"),
        (json.dumps({**config, "num_layers": 2}), "'head_scores' has shape"),
    ]
    for text, message in cases:
        (folder / CONFIG_FILE).write_text(text)
        with pytest.raises(ClassifierError, match=message):
            SAVClassifier.load(folder)


@pytest.mark.integration
def test_corrupt_tensor_files(saved):
    folder, config, tensors = saved
    good = (folder / TENSORS_FILE).read_bytes()
    (folder / TENSORS_FILE).write_bytes(good[: len(good) // 2])
    with pytest.raises(ClassifierError, match="not a valid safetensors file"):
        SAVClassifier.load(folder)
    (folder / TENSORS_FILE).write_bytes(b"")
    with pytest.raises(ClassifierError, match="not a valid safetensors file"):
        SAVClassifier.load(folder)
    heads, means = tensors["heads"], tensors["means"]
    cases = [
        ({"means": means, "head_scores": tensors["head_scores"]}, "tensors missing: \\['heads'\\]"),
        ({**tensors, "means": means[:, :2].contiguous()}, "'means' has shape"),
        ({**tensors, "heads": heads.float()}, "'heads' must be int64"),
        ({**tensors, "heads": heads + torch.tensor([3, 0])}, "out of range"),
        ({**tensors, "heads": heads - torch.tensor([0, 9])}, "out of range"),
        ({**tensors, "means": means.clone().fill_(float("nan"))}, "NaN"),
        ({**tensors, "head_scores": tensors["head_scores"][:2]}, "'head_scores' has shape"),
    ]
    for bad, message in cases:
        rewrite(folder, tensors=bad)
        with pytest.raises(ClassifierError, match=message):
            SAVClassifier.load(folder)


@pytest.mark.integration
def test_missing_or_unreadable_artifacts(tmp_path, saved):
    folder, _, _ = saved
    with pytest.raises(ClassifierError, match="classifier not found"):
        SAVClassifier.load(tmp_path / "nothing")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    with pytest.raises(ClassifierError, match="not a classifier folder or .zip"):
        SAVClassifier.load(junk)
    half = tmp_path / "half.zip"
    with zipfile.ZipFile(half, "w") as zf:
        zf.write(folder / CONFIG_FILE, CONFIG_FILE)
    with pytest.raises(ClassifierError, match=f"{TENSORS_FILE} not found in the archive"):
        SAVClassifier.load(half)
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(ClassifierError, match=f"{CONFIG_FILE} not found"):
        SAVClassifier.load(folder)


@pytest.mark.unit
def test_batches_chunk_in_order_and_clamp_the_size():
    from savs.activations import batches

    assert batches(range(7), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([5, 1, 4], 10) == [[5, 1, 4]]
    assert batches(range(3), 0) == batches(range(3), -2) == [[0], [1], [2]]
    assert batches([], 4) == []
