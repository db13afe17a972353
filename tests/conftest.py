"""Shared, read-only fixtures. Unit tests never load a model; integration tests share these tiny
randomly initialised models (built once per session).

Every test belongs to exactly one tier (a marker: unit, integration, slow, app, browser; see
README "Tests"): collection fails on a test with none or several, and a `unit` test that builds
a model (or asks for a model fixture) fails loudly.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

# No test may reach the internet: the hub counts as unreachable (savs.models.registry.hub_reachable
# then opens no socket, and transformers stays offline). Converted models (smollm2) go to a cache
# in the temp dir, shared by test runs (checked by sha256), never the user's ~/.cache/savs.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["SAVS_CACHE"] = str(Path(tempfile.gettempdir()) / "savs-test-cache")

import pytest
from PIL import Image

# The shared helpers (tiny_models, studio_fixtures, ...) live here; test files of one tier folder
# import helpers from test files of another (test_hardening_slow from test_hardening): each tier
# folder goes on the path too, also when a single file is run.
TESTS = Path(__file__).parent
sys.path[:0] = [str(TESTS / t) for t in ("", "unit", "integration", "slow", "app", "browser")]

from savs import Example, ModelAdapter  # noqa: E402

pytest_plugins = ["pytester"]

import tiny_models  # noqa: E402

TIERS = ("unit", "integration", "slow", "app", "browser")
# Fixtures that hold a model: a unit test must not ask for them (they may already be built by an
# earlier integration test, in which case the construction guard below would not see them).
MODEL_FIXTURES = {"llava_adapter", "text_adapter", "llava_model_dir"}


def _tiers_in(path: Path) -> set[str]:
    """The tier markers a test file names anywhere (module level or per test)."""
    return set(re.findall(r"pytest\.mark\.(" + "|".join(TIERS) + r")\b", path.read_text("utf-8")))


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """With `-m` over tier names only, skip importing the files that cannot match: `-m unit`
    then never imports gradio, the app or the architecture builders (seconds each)."""
    expr = config.getoption("markexpr", "")
    name = collection_path.name
    if not expr or not (name.startswith("test_") and name.endswith(".py")):
        return None
    if set(re.findall(r"[A-Za-z_]\w*", expr)) - set(TIERS) - {"and", "or", "not"}:
        return None  # other markers in the expression: let pytest decide per test
    tiers = _tiers_in(collection_path)
    if not tiers:
        return None  # collect it, so that the tier check below names its tests
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # a pytest without this (internal) module: collect as usual
        return None
    compiled = Expression.compile(expr)
    if compiled.evaluate(lambda _mark, **_kw: False):
        return None  # it selects tests without a tier (`-m "not (unit or ...)"`): check all
    # a test has exactly one tier and the expression names tiers only: one evaluation per tier
    return not any(compiled.evaluate(lambda mark, _t=t, **_kw: mark == _t) for t in tiers)


def pytest_collection_modifyitems(config, items) -> None:
    """Fail the whole run when a test has no tier, several tiers, or is a unit test that asks
    for a model fixture: a forgotten marker would otherwise drop a test from every tier."""
    problems = []
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t) is not None]
        if len(tiers) != 1:
            problems.append(
                f"{item.nodeid}: tier markers {tiers or 'none'}; give it exactly one "
                f"of {', '.join(TIERS)} (`pytestmark = pytest.mark.<tier>` in the file)"
            )
        elif tiers == ["unit"] and MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            problems.append(
                f"{item.nodeid}: a unit test using model fixture(s) "
                f"{sorted(MODEL_FIXTURES & set(item.fixturenames))}: mark it "
                "integration"
            )
    if problems:
        raise pytest.UsageError("tests without a proper tier:\n  " + "\n  ".join(problems))


@contextlib.contextmanager
def _no_models(nodeid: str):
    """Make every transformers model construction (from_pretrained, from_config, a class call)
    raise while a unit test sets up or runs."""
    from transformers import PreTrainedModel

    original = PreTrainedModel.__init__

    def refuse(self, *args, **kwargs):
        raise RuntimeError(
            f"{nodeid} is marked unit but builds a model ({type(self).__name__}); "
            "mark it integration (tiny random model) or slow (bundled model)"
        )

    PreTrainedModel.__init__ = refuse
    try:
        yield
    finally:
        PreTrainedModel.__init__ = original


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    guard = _no_models(item.nodeid) if item.get_closest_marker("unit") else contextlib.nullcontext()
    with guard:
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    guard = _no_models(item.nodeid) if item.get_closest_marker("unit") else contextlib.nullcontext()
    with guard:
        return (yield)


COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


@pytest.fixture(scope="session")
def llava_adapter() -> ModelAdapter:
    model, processor = tiny_models.llava()
    return ModelAdapter(model, processor, "test-llava")


@pytest.fixture(scope="session")
def text_adapter() -> ModelAdapter:
    model, tokenizer = tiny_models.qwen2_lm()
    return ModelAdapter(model, tokenizer, "test-qwen2")


@pytest.fixture(scope="session")
def colour_images(tmp_path_factory) -> dict[str, list[str]]:
    """Three solid-colour classes, four slightly different images each."""
    folder = tmp_path_factory.mktemp("colours")
    out: dict[str, list[str]] = {}
    for name, rgb in COLOURS.items():
        for i in range(4):
            shade = tuple(max(0, min(255, c + 12 * i - 18)) for c in rgb)
            path = folder / f"{name}_{i}.png"
            Image.new("RGB", (24 + 4 * i, 24), shade).save(path)
            out.setdefault(name, []).append(str(path))
    return out


@pytest.fixture(scope="session")
def colour_examples(colour_images) -> list[Example]:
    return [
        Example(text="What colour is it?", label=name, images=(path,))
        for name, paths in colour_images.items()
        for path in paths
    ]


@pytest.fixture(scope="module")
def task_root(tmp_path_factory) -> Path:
    """A generated colour task in the bundled layout (studio_fixtures.make_colour_task)."""
    import studio_fixtures as sf

    root = tmp_path_factory.mktemp("examples")
    sf.make_colour_task(root)
    return root


@pytest.fixture(scope="session")
def llava_model_dir(tmp_path_factory) -> str:
    """The tiny LLaVA saved with save_pretrained (model + processor): what `load_model(folder)`
    and the CLI's --model accept."""
    model, processor = tiny_models.llava()
    folder = tmp_path_factory.mktemp("tiny-llava")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)
