"""The tier rules of tests/conftest.py, run on small generated test files (pytester, in process):
a test without exactly one tier stops the run, a unit test may not build a model, and `-m` over
tiers does not import the files of other tiers."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CONFTEST = Path(__file__).parents[1] / "conftest.py"
# the plugins these small runs do not use are left out: each run costs less
INI = (
    "[pytest]\naddopts = --strict-markers -p no:hypothesispytest -p no:benchmark -p no:anyio "
    "-p no:cacheprovider\nmarkers =\n"
) + "".join(f"    {tier}: -\n" for tier in ("unit", "integration", "slow", "app", "browser"))


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makeini(INI)
    return pytester


def test_a_test_without_exactly_one_tier_stops_the_run(suite):
    suite.makepyfile(
        test_mixed="""
        import pytest

        def test_forgotten():
            pass

        @pytest.mark.unit
        @pytest.mark.slow
        def test_two_tiers():
            pass

        @pytest.mark.unit
        def test_fine():
            pass
    """
    )
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "test_mixed.py::test_forgotten: tier markers none;" in err
    assert "test_mixed.py::test_two_tiers: tier markers ['unit', 'slow'];" in err
    assert "test_fine" not in err
    # the selection that must stay empty checks every file too
    assert suite.runpytest("-m", "not (unit or integration or slow or app or browser)").ret == (
        pytest.ExitCode.USAGE_ERROR
    )


def test_a_unit_test_may_not_build_a_model_or_ask_for_one(suite):
    suite.makepyfile(
        test_models="""
        import pytest
        from transformers import LlamaConfig, LlamaForCausalLM

        pytestmark = pytest.mark.unit

        def test_builds_a_model():
            LlamaForCausalLM(LlamaConfig(hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                                         num_attention_heads=2, vocab_size=16))
    """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is marked unit but builds a model (LlamaForCausalLM)*"])

    suite.makepyfile(
        test_models="""
        import pytest

        @pytest.mark.unit
        def test_asks_for_a_model(text_adapter):
            pass
    """
    )
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "a unit test using model fixture(s) ['text_adapter']" in result.stderr.str()


def test_selecting_tiers_skips_importing_the_other_files(suite):
    suite.makepyfile(
        test_quick="import pytest\n\npytestmark = pytest.mark.unit\n\n\ndef test_ok():\n    pass\n",
        test_heavy="import pytest\n\npytestmark = pytest.mark.app\n\n"
        "raise ImportError('test_heavy was imported')\n",
    )
    suite.runpytest("-m", "unit").assert_outcomes(passed=1)
    assert suite.runpytest("-m", "app").ret == pytest.ExitCode.INTERRUPTED  # its import error


def test_the_unit_tier_imports_neither_gradio_nor_a_model_builder():
    """README: `-m unit` starts without importing gradio, the app or the architecture builders
    (tests/tiny_models.py imports them when a model is built). Checked on the real suite:
    collect it in a fresh interpreter, then look at what was imported."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys, pytest\n"
        "code = pytest.main(['-m', 'unit', '--collect-only', '-q', '-p', 'no:cacheprovider',"
        " 'tests'])\n"
        "names = ('gradio', 'app', 'studio.server', 'transformers.models.llava.modeling_llava')\n"
        "print('IMPORTED', sorted(m for m in names if m in sys.modules), code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300
    )
    last = next(line for line in out.stdout.splitlines()[::-1] if line.startswith("IMPORTED"))
    assert last == "IMPORTED [] 0", out.stdout[-2000:]
