"""`python -m savs predict --explain`: the prediction as without it, plus one explanation per
selected head with the documented keys and shapes (tiny LLaVA saved to a folder)."""

from __future__ import annotations

import pytest
from test_cli import COLOURS, classifier, data, run, run_json  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

KEYS = {"layer", "head", "vote", "cosines", "attention", "tokens", "patches"}


def test_predict_explain_json(capsys, classifier, data):  # noqa: F811
    path, fitted = classifier
    argv = [
        "predict",
        "--classifier",
        str(path),
        "--image",
        str(data / "images" / "green4.png"),
        "--text",
        "What colour?",
    ]
    plain = run_json(capsys, *argv)
    result = run_json(capsys, *argv, "--explain")
    assert {k: v for k, v in result.items() if k != "explanations"} == plain
    explanations = result["explanations"]
    assert [[e["layer"], e["head"]] for e in explanations] == fitted["top_heads"]
    for e, (_, _, vote) in zip(explanations, plain["head_votes"]):
        assert set(e) == KEYS
        assert e["vote"] == vote and set(e["cosines"]) == set(COLOURS)
        length = len(e["attention"])
        assert len(e["tokens"]) == len(e["patches"]) == length > 16
        assert all(isinstance(w, float) and w >= 0 for w in e["attention"])
        assert sum(e["attention"]) == pytest.approx(1, abs=1e-5)
        image = [p for p in e["patches"] if p is not None]
        # the tiny LLaVA: 32x32 pictures, patch 8: a 4 x 4 grid, row by row
        assert image == [[0, r, c] for r in range(4) for c in range(4)]
        assert all(isinstance(t, str) for t in e["tokens"])
        assert e["tokens"][e["patches"].index([0, 2, 3])] == "<image 0 patch 2,3>"


def test_predict_explain_human_output(capsys, classifier, data):  # noqa: F811
    path, fitted = classifier
    code, out, _ = run(
        capsys,
        "predict",
        "--classifier",
        str(path),
        "--text",
        "which colour?",
        "--image",
        str(data / "images" / "red3.png"),
        "--explain",
    )
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[0] in COLOURS
    assert len(lines) == 1 + fitted["k"]
    assert all(
        line.startswith("  head (") and " votes " in line and "looks at" in line
        for line in lines[1:]
    )
