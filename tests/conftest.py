"""Shared, read-only fixtures. Unit tests never load a model; integration tests share these tiny
randomly initialised models (built once per session)."""

from __future__ import annotations

import os
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

sys.path.insert(0, str(Path(__file__).parent))

import tiny_models  # noqa: E402

from savs import Example, ModelAdapter  # noqa: E402

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
    return [Example(text="What colour is it?", label=name, images=(path,))
            for name, paths in colour_images.items() for path in paths]


@pytest.fixture(scope="session")
def llava_model_dir(tmp_path_factory) -> str:
    """The tiny LLaVA saved with save_pretrained (model + processor): what `load_model(folder)`
    and the CLI's --model accept."""
    model, processor = tiny_models.llava()
    folder = tmp_path_factory.mktemp("tiny-llava")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)
