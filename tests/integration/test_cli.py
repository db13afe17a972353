"""The command line: fit / eval / predict with --json on a tiny saved model, and every user error
exiting with code 2 and one line naming the item, without a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from savs.__main__ import main

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """train.jsonl (3 per class), test.jsonl (2 per class), images/ beside them."""
    root = tmp_path_factory.mktemp("cli-data")
    (root / "images").mkdir()
    lines = {"train": [], "test": []}
    for name, rgb in COLOURS.items():
        for i in range(5):
            shade = tuple(max(0, min(255, c + 9 * i - 18)) for c in rgb)
            Image.new("RGB", (20 + 3 * i, 20), shade).save(root / "images" / f"{name}{i}.png")
            split = "train" if i < 3 else "test"
            lines[split].append(
                {"image": f"images/{name}{i}.png", "question": "What colour?", "label": name}
            )
    for split, records in lines.items():
        (root / f"{split}.jsonl").write_text("\n".join(map(json.dumps, records)) + "\n")
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)  # stdout holds nothing but the JSON object


@pytest.fixture(scope="module")
def classifier(llava_model_dir, data, tmp_path_factory) -> tuple[Path, dict]:
    """fit --json --test --out, run once for the module (capsys is function-scoped)."""
    out = tmp_path_factory.mktemp("cli-clf") / "clf.zip"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "fit",
                "--model",
                llava_model_dir,
                "--train",
                str(data / "train.jsonl"),
                "--test",
                str(data / "test.jsonl"),
                "-k",
                "5",
                "--out",
                str(out),
                "--device",
                "cpu",
                "--json",
            ]
        )
    assert code == 0
    return out, json.loads(stdout.getvalue())


@pytest.mark.integration
def test_fit_json(classifier, llava_model_dir):
    path, result = classifier
    assert path.is_file()
    for key in (
        "train_accuracy",
        "test_accuracy",
        "top_heads",
        "head_scores",
        "num_layers",
        "num_heads",
        "seconds",
    ):
        assert key in result, key
    assert (result["num_layers"], result["num_heads"]) == (3, 4)
    assert len(result["head_scores"]) == 3 and all(len(row) == 4 for row in result["head_scores"])
    assert len(result["top_heads"]) == 5 and all(len(h) == 2 for h in result["top_heads"])
    # best first, as ranked by head_scores
    scores = [result["head_scores"][a][b] for a, b in result["top_heads"]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == max(max(row) for row in result["head_scores"])
    assert 0 <= result["train_accuracy"] <= 1 and 0 <= result["test_accuracy"] <= 1
    assert result["labels"] == ["red", "green", "blue"]
    assert result["train_examples"] == 9 and result["test_examples"] == 6
    assert result["model"] == llava_model_dir and result["seconds"] > 0


@pytest.mark.integration
def test_fit_without_test_has_no_test_accuracy(capsys, llava_model_dir, data):
    result = run_json(
        capsys,
        "fit",
        "--model",
        llava_model_dir,
        "--train",
        str(data / "train.jsonl"),
        "-k",
        "3",
        "--scoring",
        "reference",
    )
    assert "test_accuracy" not in result and "out" not in result
    assert result["k"] == 3 and result["scoring"] == "reference"


@pytest.mark.integration
def test_eval_json_agrees_with_fit(capsys, classifier, data):
    path, fitted = classifier
    result = run_json(
        capsys,
        "eval",
        "--classifier",
        str(path),
        "--test",
        str(data / "test.jsonl"),
        "--device",
        "cpu",
    )
    assert result["accuracy"] == pytest.approx(fitted["test_accuracy"])
    assert set(result["per_class"]) == set(COLOURS)
    for metrics in result["per_class"].values():
        assert set(metrics) == {"precision", "recall", "support"}
        assert metrics["support"] == 2
    assert result["confusion"]["labels"] == ["red", "green", "blue"]
    matrix = result["confusion"]["matrix"]
    assert [sum(row) for row in matrix] == [2, 2, 2]
    assert sum(matrix[i][i] for i in range(3)) / 6 == pytest.approx(result["accuracy"])


@pytest.mark.integration
def test_predict_json(capsys, classifier, data):
    path, _ = classifier
    result = run_json(
        capsys,
        "predict",
        "--classifier",
        str(path),
        "--image",
        str(data / "images" / "red4.png"),
        "--text",
        "What colour?",
    )
    assert result["label"] in COLOURS
    assert set(result["votes"]) == set(COLOURS) and sum(result["votes"].values()) == 5
    assert result["probabilities"] == pytest.approx({k: v / 5 for k, v in result["votes"].items()})
    assert (
        max(result["votes"], key=result["votes"].get) == result["label"]
        or list(result["votes"].values()).count(max(result["votes"].values())) > 1
    )


@pytest.mark.integration
def test_model_override_loads_a_moved_model(capsys, classifier, data, llava_model_dir, tmp_path):
    """--model names the model when the recorded one moved; only its shape must match."""
    import shutil

    path, _ = classifier
    moved = shutil.copytree(llava_model_dir, tmp_path / "moved")
    result = run_json(
        capsys,
        "eval",
        "--classifier",
        str(path),
        "--test",
        str(data / "test.jsonl"),
        "--model",
        str(moved),
    )
    assert result["test_examples"] == 6
    # a model of another shape is still refused
    from transformers import Qwen2Config, Qwen2ForCausalLM

    import tiny_models

    tok = tiny_models.make_tokenizer()
    other = Qwen2ForCausalLM(Qwen2Config(**tiny_models.text_config(len(tok), num_hidden_layers=2)))
    other.save_pretrained(tmp_path / "other")
    tok.save_pretrained(tmp_path / "other")
    code, _, err = run(
        capsys,
        "predict",
        "--classifier",
        str(path),
        "--text",
        "hi",
        "--model",
        str(tmp_path / "other"),
    )
    assert_user_error(code, err, "3 layers x 4 heads x 16 dims", "(2 x 4 x 16)")


@pytest.mark.integration
def test_zip_datasets_leave_no_temporary_files(
    capsys, monkeypatch, llava_model_dir, data, tmp_path
):
    import tempfile

    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in [data / "train.jsonl", *sorted((data / "images").glob("*[0-4].png"))]:
            zf.write(p, p.relative_to(data).as_posix())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = run_json(
        capsys,
        "fit",
        "--model",
        llava_model_dir,
        "--train",
        str(archive),
        "--test",
        str(archive),
        "-k",
        "2",
    )
    assert result["train_examples"] == 9 and result["test_accuracy"] == result["train_accuracy"]
    assert list(scratch.iterdir()) == []


@pytest.mark.integration
def test_human_output(capsys, classifier, data, llava_model_dir):
    path, _ = classifier
    code, out, _ = run(
        capsys, "eval", "--classifier", str(path), "--test", str(data / "test.jsonl")
    )
    assert code == 0 and out.startswith("accuracy: ") and "support 2" in out
    code, out, _ = run(
        capsys, "predict", "--classifier", str(path), "--image", str(data / "images" / "blue3.png")
    )
    label = out.split()[0]
    assert code == 0 and label in COLOURS and f"{label} " in out.split("(")[1]
    code, out, _ = run(
        capsys, "fit", "--model", llava_model_dir, "--train", str(data / "train.jsonl"), "-k", "2"
    )
    assert code == 0 and "train accuracy:" in out and "kept 2 heads (loo)" in out
    code, out, _ = run(capsys, "models")
    assert code == 0 and "tiny" in out and "smollm2" in out


# --- user errors: exit code 2, one line naming the item, no traceback -----------------------


def assert_user_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def good(colour: str, i: int) -> dict:
    return {"image": f"images/{colour}{i}.png", "question": "What colour?", "label": colour}


def fit_args(model: str, train: Path) -> list[str]:
    return ["fit", "--model", model, "--train", str(train), "-k", "3"]


@pytest.mark.unit
def test_unknown_model(capsys, monkeypatch, data):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast
    code, out, err = run(capsys, *fit_args("no-such-model-xyz", data / "train.jsonl"))
    assert_user_error(code, err, "'no-such-model-xyz'", "not a bundled name")
    assert out == ""


@pytest.mark.slow  # a fresh interpreter imports torch + transformers: ~10 s on a busy 2-core box
def test_unknown_model_in_a_real_process(data):
    """Through `python -m savs` itself: the exit code and stderr a shell user sees."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "savs", *fit_args("no-such-model-xyz", data / "train.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert_user_error(proc.returncode, proc.stderr, "'no-such-model-xyz'")
    assert proc.stdout == ""


@pytest.mark.unit
def test_unknown_model_folder(capsys, data, tmp_path):
    (tmp_path / "empty_model").mkdir()
    code, _, err = run(capsys, *fit_args(str(tmp_path / "empty_model"), data / "train.jsonl"))
    assert_user_error(code, err, "empty_model", "no config.json")


@pytest.mark.integration
@pytest.mark.parametrize(
    "case, needles",
    [
        ("missing_image", ["bad.jsonl:2", "'images/nope.png' not found"]),
        ("corrupt_image", ["bad.jsonl:2", "broken.png", "not a readable image"]),
        ("bad_json", ["bad.jsonl:3", "invalid JSON"]),
        ("missing_field", ["bad.jsonl:4", "missing field 'label'"]),
        ("one_class", ["at least two classes", "'red'"]),
        ("single_example_loo", ["class 'blue' has a single example", "reference"]),
    ],
)
def test_fit_user_errors(capsys, llava_model_dir, data, case, needles):
    records = [good("red", 0), good("red", 1), good("green", 0), good("green", 1)]
    if case == "missing_image":
        records[1] = {**records[1], "image": "images/nope.png"}
    elif case == "corrupt_image":
        (data / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        records[1] = {**records[1], "image": "images/broken.png"}
    elif case == "bad_json":
        records[2] = '{"image": "images/green0.png", "label": "green"'
    elif case == "missing_field":
        records[3] = {"image": "images/green1.png", "question": "What colour?"}
    elif case == "one_class":
        records = [good("red", 0), good("red", 1)]
    elif case == "single_example_loo":
        records.append(good("blue", 0))
    train = write_jsonl(data / "bad.jsonl", records)
    code, out, err = run(capsys, *fit_args(llava_model_dir, train), "--json")
    assert_user_error(code, err, *needles)
    assert out == ""


@pytest.mark.unit
def test_training_set_is_checked_before_loading_the_model(capsys, data):
    train = write_jsonl(data / "one.jsonl", [good("red", 0), good("red", 1)])
    code, _, err = run(capsys, *fit_args("no-such-model-xyz", train))
    assert_user_error(code, err, "at least two classes")  # not the unknown model's error


@pytest.mark.integration
def test_single_example_is_fine_with_reference_scoring(capsys, llava_model_dir, data):
    train = write_jsonl(data / "ref.jsonl", [good("red", 0), good("red", 1), good("blue", 0)])
    result = run_json(capsys, *fit_args(llava_model_dir, train), "--scoring", "reference")
    assert result["labels"] == ["red", "blue"]


@pytest.mark.integration
def test_predict_user_errors(capsys, classifier, data, tmp_path):
    path, _ = classifier
    code, _, err = run(
        capsys, "predict", "--classifier", str(path), "--image", str(tmp_path / "missing.png")
    )
    assert_user_error(code, err, "missing.png", "not found")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    code, _, err = run(capsys, "predict", "--classifier", str(path), "--image", str(broken))
    assert_user_error(code, err, "broken.jpg", "not a readable image")
    code, _, err = run(capsys, "predict", "--classifier", str(path))
    assert_user_error(code, err, "needs an input")
    code, _, err = run(
        capsys, "predict", "--classifier", str(tmp_path / "nope.zip"), "--text", "hi"
    )
    assert_user_error(code, err, "nope.zip", "classifier not found")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"garbage")
    code, _, err = run(
        capsys, "eval", "--classifier", str(junk), "--test", str(data / "test.jsonl")
    )
    assert_user_error(code, err, "junk.zip", "not a classifier")


@pytest.mark.integration
@pytest.mark.parametrize("option", [["--batch-size", "0"], ["-k", "0"], ["--heads", "x"]])
def test_bad_numbers_are_usage_errors(capsys, llava_model_dir, data, option):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--model", llava_model_dir, "--train", str(data / "train.jsonl"), *option])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and option[0] in err


@pytest.mark.integration
def test_missing_training_file(capsys, llava_model_dir, tmp_path):
    code, _, err = run(capsys, *fit_args(llava_model_dir, tmp_path / "absent.jsonl"))
    assert_user_error(code, err, "absent.jsonl", "not found")
