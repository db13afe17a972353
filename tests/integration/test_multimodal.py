"""End to end through files: JSONL -> load_examples -> fit -> predict, for multi-image interleaved
examples on a VLM and text-only examples on a text LM and a VLM; and the zero-shot baseline's
label scoring checked against a by-hand computation. Tiny random models only (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from savs import DataError, SAVClassifier, extract, fit, load_examples, predict
from savs.baseline import (
    label_log_likelihoods,
    label_token_ids,
    zero_shot_accuracy,
    zero_shot_predict,
)

pytestmark = pytest.mark.integration

torch.set_num_threads(2)


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pair_dataset(tmp_path_factory) -> Path:
    """Pairs of solid-colour images: 'same' colour or 'different', with <image> markers."""
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "images").mkdir()
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
    for name, rgb in colours.items():
        Image.new("RGB", (32, 32), rgb).save(folder / "images" / f"{name}.png")
    names = list(colours)
    records = []
    for a in names:
        for b in names:
            records.append(
                {
                    "image": [f"images/{a}.png", f"images/{b}.png"],
                    "question": "First <image> then <image>. Same colour?",
                    "label": "same" if a == b else "different",
                }
            )
    return _write_jsonl(folder / "pairs.jsonl", records)


def test_multi_image_jsonl_fit_predict_and_save(llava_adapter, pair_dataset, tmp_path):
    examples = load_examples(pair_dataset)
    assert [len(ex.images) for ex in examples] == [2] * 9
    clf = fit(llava_adapter, examples, prompt="Answer same or different.", k=4, batch_size=4)
    predictions = predict(llava_adapter, clf, examples, batch_size=3)
    assert len(predictions) == len(examples)
    assert {p.label for p in predictions} <= {"same", "different"}
    # the saved classifier predicts the same from the files
    reloaded = SAVClassifier.load(clf.save(tmp_path / "clf"))
    again = predict(llava_adapter, reloaded, examples, batch_size=9)
    assert [p.label for p in again] == [p.label for p in predictions]


def test_second_image_changes_the_heads(llava_adapter, pair_dataset):
    """Both images reach the model: swapping only the second one changes the activations."""
    red_red, red_green = load_examples(pair_dataset)[0], load_examples(pair_dataset)[1]
    assert red_red.images[0] == red_green.images[0] and red_red.images[1] != red_green.images[1]
    acts = extract(llava_adapter, [red_red, red_green], None, batch_size=2)  # [2, L, H, d]
    assert not torch.allclose(acts[0], acts[1], atol=1e-5)


def test_marker_count_mismatch_names_the_line(llava_adapter, pair_dataset, tmp_path):
    record = json.loads(pair_dataset.read_text().splitlines()[0])
    record["image"] = [str(pair_dataset.parent / p) for p in record["image"]]
    record["question"] = "Only one marker: <image>"
    bad = load_examples(_write_jsonl(tmp_path / "bad.jsonl", [record]))
    with pytest.raises(DataError, match=r"bad\.jsonl:1.*2 image"):
        llava_adapter.encode(bad)


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    records = [
        {"question": q, "label": "animal"}
        for q in ("the cat sleeps", "a dog barks", "the fox jumps", "a lazy dog")
    ]
    records += [
        {"question": q, "label": "number"} for q in ("0123", "four five 6", "7 8 9", "12 and 34")
    ]
    return _write_jsonl(folder / "text.jsonl", records)


@pytest.mark.parametrize("fixture", ["text_adapter", "llava_adapter"])
def test_text_only_jsonl_fit_predict(fixture, request, text_dataset):
    adapter = request.getfixturevalue(fixture)
    examples = load_examples(text_dataset)
    assert all(not ex.images for ex in examples)
    clf = fit(adapter, examples, prompt="Animal or number?", k=3, batch_size=3)
    predictions = predict(adapter, clf, examples, batch_size=5)
    assert len(predictions) == 8 and {p.label for p in predictions} <= {"animal", "number"}
    # with a random model, SAVs still separates its own training set better than chance
    assert clf.config["train_accuracy"] > 0.5


# --- zero-shot baseline -----------------------------------------------------------------------


def _manual_label_log_prob(adapter, example, label: str, prompt: str | None) -> torch.Tensor:
    """Per-token log-probs of `label` after the rendered prompt, one unpadded sequence."""
    text = adapter.render(example, prompt)
    prompt_ids = adapter.tokenizer(text, add_special_tokens=False)["input_ids"]
    answer = adapter.tokenizer(label, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer])
    with torch.no_grad():
        logits = adapter.model(input_ids=ids).logits[0]  # [T, vocab], full logits
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    start = len(prompt_ids)
    return torch.stack([log_probs[start + i - 1, tok] for i, tok in enumerate(answer)])


def test_zero_shot_scores_equal_manual_computation(text_adapter, text_dataset):
    examples = load_examples(text_dataset)  # different lengths -> left padding in a batch
    labels = ["animal", "number", "a cat"]
    assert len({len(label_token_ids(text_adapter, lab)) for lab in labels}) > 1
    summed = label_log_likelihoods(
        text_adapter, examples, labels, "Which?", batch_size=8, normalise=False
    )  # [N, C]
    mean = label_log_likelihoods(text_adapter, examples, labels, "Which?", batch_size=3)
    assert summed.shape == (8, 3)
    for i, ex in enumerate(examples):
        for c, label in enumerate(labels):
            manual = _manual_label_log_prob(text_adapter, ex, label, "Which?")
            assert summed[i, c].item() == pytest.approx(manual.sum().item(), abs=1e-3)
            assert mean[i, c].item() == pytest.approx(manual.mean().item(), abs=1e-3)


def test_zero_shot_predict_is_the_argmax(text_adapter, text_dataset):
    examples = load_examples(text_dataset)
    labels = ["animal", "number"]
    scores = label_log_likelihoods(text_adapter, examples, labels, None)
    predicted = zero_shot_predict(text_adapter, examples, labels, None, batch_size=5)
    assert predicted == [labels[int(s.argmax())] for s in scores]
    accuracy = zero_shot_accuracy(text_adapter, examples)
    assert accuracy == sum(p == ex.label for p, ex in zip(predicted, examples)) / len(examples)


def test_zero_shot_on_multi_image_vlm_batch_matches_single(llava_adapter, pair_dataset):
    examples = load_examples(pair_dataset)[:4]
    labels = ["same", "different"]
    batched = label_log_likelihoods(llava_adapter, examples, labels, None, batch_size=4)
    single = label_log_likelihoods(llava_adapter, examples, labels, None, batch_size=1)
    assert torch.isfinite(batched).all() and (batched < 0).all()
    torch.testing.assert_close(batched, single, atol=1e-3, rtol=1e-3)


def test_zero_shot_needs_two_labeled_classes(text_adapter):
    from savs import Example

    with pytest.raises(DataError, match="two classes"):
        zero_shot_accuracy(text_adapter, [Example(text="x", label="a")])
    with pytest.raises(DataError, match="labeled"):
        zero_shot_accuracy(text_adapter, [Example(text="x")], labels=["a", "b"])
