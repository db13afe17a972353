"""`python -m benchmarks.run --json` on a tiny random LLaVA: one JSON object with exactly the
issue's keys, every figure measured (positive, finite), and our hooks keeping only the last
token's heads (L * H * d fp32 numbers per example) while the reference keeps whole sequences."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import run as bench

import tiny_models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llava_folder(tmp_path_factory) -> str:
    model, processor = tiny_models.llava()
    folder = tmp_path_factory.mktemp("bench_llava")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    else:
        yield value


def test_quick_json_has_exactly_the_figures(llava_folder, capsys):
    code = bench.main(
        [
            "--quick",
            "--json",
            "--models",
            llava_folder,
            "--repeats",
            "1",
            "--per-class",
            "2",
            "--threads",
            "1",
            "--refit-shape",
            "24,3,4,16",
            "--k-curve-shape",
            "24,3,4,16",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(bench.KEYS)
    for key in bench.KEYS:
        if key not in ("refit_ms", "k_curve_ms"):
            assert list(out[key]) == [llava_folder], key
    assert set(out["k_curve_ms"]) == {"full", "from_cosines"}
    assert set(out["fit_speedup_vs_reference"][llava_folder]) == {"unbatched", "batched"}
    assert set(out["predict_overhead_vs_forward"][llava_folder]) == {
        "full_depth",
        "early_exit_half_depth",
    }
    assert set(out["explain_overhead_vs_predict"][llava_folder]) == {"explain_over_predict"}
    for value in _numbers(out):
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, out
    # 3 layers x 4 heads x 16 dims, fp32: what the last token's heads take, nothing more
    memory = out["bytes_per_example"][llava_folder]
    assert memory["ours"] == 3 * 4 * 16 * 4
    assert memory["reference"] > 10 * memory["ours"]
