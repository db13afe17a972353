"""The command line's "how many heads" and "baselines" options on a tiny random LLaVA:
`fit --heads auto`, the k curve in `fit --json`, and `--baselines` on fit and eval."""

from __future__ import annotations

import json

import pytest
from test_cli import assert_user_error, data, run, run_json, write_jsonl  # noqa: F401 (fixture)

from savs.classifier import auto_k

pytestmark = pytest.mark.integration

BASELINE_KEYS = {"zero_shot", "all_heads", "nearest_mean", "nearest_neighbour", "linear_probe"}


def fit_argv(model: str, data_dir, *extra: str) -> list[str]:
    return [
        "fit",
        "--model",
        model,
        "--train",
        str(data_dir / "train.jsonl"),
        "--device",
        "cpu",
        *extra,
    ]


@pytest.fixture(scope="module")
def fitted(llava_model_dir, data, tmp_path_factory) -> tuple[dict, str]:
    """fit -k 5 --scoring reference --test --baselines --out, once for the module."""
    import contextlib
    import io

    from savs.__main__ import main

    out = str(tmp_path_factory.mktemp("heads") / "clf.zip")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            fit_argv(
                llava_model_dir,
                data,
                "-k",
                "5",
                "--scoring",
                "reference",
                "--test",
                str(data / "test.jsonl"),
                "--baselines",
                "--out",
                out,
                "--json",
            )
        )
    assert code == 0
    return json.loads(stdout.getvalue()), out


def test_fit_json_has_the_k_curve(fitted):
    result, _ = fitted
    curve = result["k_curve"]
    assert [k for k, _ in curve] == list(range(1, 13))  # 3 layers x 4 heads
    assert all(0 <= acc <= 1 for _, acc in curve)
    # with reference scoring the curve at the chosen k is the fit's own training accuracy
    assert curve[4][1] == result["train_accuracy"]
    assert result["k_auto"] is False and result["k"] == 5


def test_fit_baselines(fitted, capsys, llava_model_dir, data):
    result, _ = fitted
    assert set(result["baselines"]) == BASELINE_KEYS
    assert all(0 <= v <= 1 for v in result["baselines"].values())
    # "all heads" is SAVs keeping every head: a fit with k = L * H scores the same
    every = run_json(
        capsys,
        *fit_argv(
            llava_model_dir,
            data,
            "-k",
            "12",
            "--scoring",
            "reference",
            "--test",
            str(data / "test.jsonl"),
        ),
    )
    assert result["baselines"]["all_heads"] == pytest.approx(every["test_accuracy"])
    assert "baselines" not in every


def test_eval_baselines_with_train_agree_with_fit(fitted, capsys, data):
    result, path = fitted
    ev = run_json(
        capsys,
        "eval",
        "--classifier",
        path,
        "--test",
        str(data / "test.jsonl"),
        "--train",
        str(data / "train.jsonl"),
        "--baselines",
    )
    assert ev["accuracy"] == pytest.approx(result["test_accuracy"])
    assert ev["baselines"] == pytest.approx(result["baselines"])


def test_heads_auto(capsys, llava_model_dir, data):
    result = run_json(capsys, *fit_argv(llava_model_dir, data, "--heads", "auto"))
    curve = [tuple(kv) for kv in result["k_curve"]]
    assert result["k_auto"] is True
    assert result["k"] == auto_k(curve) == len(result["top_heads"])
    code, out, _ = run(capsys, *fit_argv(llava_model_dir, data, "--heads", "AUTO"))
    assert code == 0 and "k = auto: the fewest heads within one point" in out


def test_human_output_lists_the_baselines(capsys, fitted, data):
    _, path = fitted
    code, out, _ = run(
        capsys,
        "eval",
        "--classifier",
        path,
        "--test",
        str(data / "test.jsonl"),
        "--train",
        str(data / "train.jsonl"),
        "--baselines",
    )
    assert code == 0
    for name in (
        "SAVs",
        "zero-shot",
        "all heads vote",
        "nearest class mean",
        "1-nearest neighbour",
        "linear probe",
    ):
        assert f"{name}" in out, name


def test_baselines_user_errors(capsys, fitted, llava_model_dir, data):
    _, path = fitted
    code, _, err = run(capsys, *fit_argv(llava_model_dir, data, "--baselines"))
    assert_user_error(code, err, "fit --baselines needs --test")
    code, _, err = run(
        capsys, "eval", "--classifier", path, "--test", str(data / "test.jsonl"), "--baselines"
    )
    assert_user_error(code, err, "eval --baselines needs --train")
    other = write_jsonl(
        data / "other.jsonl",
        [
            {"image": "images/red0.png", "question": "What colour?", "label": "red"},
            {"image": "images/green0.png", "question": "What colour?", "label": "purple"},
        ],
    )
    code, _, err = run(
        capsys,
        "eval",
        "--classifier",
        path,
        "--test",
        str(data / "test.jsonl"),
        "--train",
        str(other),
        "--baselines",
    )
    assert_user_error(code, err, "other.jsonl", "'purple'")


@pytest.mark.parametrize("value", ["0", "x", "-3"])
def test_bad_heads_are_usage_errors(capsys, llava_model_dir, data, value):
    from savs.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(fit_argv(llava_model_dir, data, "--heads", value))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--heads" in err and "'auto'" in err and "Traceback" not in err


def test_baselines_read_the_test_set_once(capsys, llava_model_dir, data, monkeypatch):
    """`fit --baselines`: the SAVs test predictions and the baselines come from one pass over
    the test set (savs.evaluate_with_baselines), not a cut pass and then a whole one."""
    from savs.models.adapter import ModelAdapter

    rows = []
    real = ModelAdapter.read_heads

    def counted(self, inputs, *args, **kwargs):
        rows.append(len(inputs["input_ids"]))
        return real(self, inputs, *args, **kwargs)

    monkeypatch.setattr(ModelAdapter, "read_heads", counted)
    test = str(data / "test.jsonl")
    result = run_json(capsys, *fit_argv(llava_model_dir, data, "--test", test, "--baselines"))
    assert set(result["baselines"]) == BASELINE_KEYS
    assert sum(rows) == result["train_examples"] + result["test_examples"]


@pytest.mark.parametrize("heads", ["3", "auto"])
def test_fit_reads_the_cosines_once(capsys, llava_model_dir, data, monkeypatch, heads):
    """The curve in `fit --json` is the fit's own: one cosine pass [N, M, C], not a second
    `k_curve` after the fit (issue 20)."""
    import savs.classifier as classifier

    calls = []
    real = classifier.class_cosines
    monkeypatch.setattr(
        classifier, "class_cosines", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    result = run_json(capsys, *fit_argv(llava_model_dir, data, "--heads", heads))
    assert len(calls) == 1 and len(result["k_curve"]) == 12
