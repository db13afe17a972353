"""Processors of VLMs whose video processor needs torchvision (Qwen2-VL, Qwen2.5-VL, SmolVLM,
LLaVA-OneVision) load image-only where torchvision is missing, give the same inputs and heads as
the processor they were saved from, and a model folder that exists but does not load is reported
as such, not as an unknown name."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from functools import cache
from pathlib import Path

import pytest
import torch
from PIL import Image

import savs
from savs import Example, ModelAdapter, ModelError
from savs.models import processors
from savs.models.processors import image_only, load_processor, needs_video_processor

import tiny_models

# expected here, and checked by the tests that ask for it
pytestmark = pytest.mark.filterwarnings("ignore:.*loaded image-only:UserWarning")
torch.set_num_threads(1)  # the machine is shared; tiny models gain nothing from more

VIDEO_VLMS = ["qwen2_vl", "qwen2_5_vl", "smolvlm", "llava_onevision"]
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
# the processors' own settings, which the image-only fallback must read back from the folder
SETTINGS = (
    "image_seq_len",
    "num_image_tokens",
    "vision_feature_select_strategy",
    "image_token",
    "image_token_id",
    "video_token",
    "vision_aspect_ratio",
    "chat_template",
)

RED = Image.new("RGB", (32, 32), (220, 30, 30))
BLUE = Image.new("RGB", (40, 28), (30, 40, 220))


@cache
def saved_model(name: str, root: Path) -> Path:
    """The tiny model `name` saved with save_pretrained (model + processor), once per session."""
    model, processor = tiny_models.BUILDERS[name]()
    folder = root / name
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved-vlms")
    return lambda name: saved_model(name, root)


@pytest.fixture
def fresh_warning(monkeypatch):
    """Forget that the one-time warning was given, so that a test can see it."""
    monkeypatch.setattr(processors, "_warned", False)


def batch() -> list[Example]:
    return [
        Example("What colour is it?", images=(RED,)),
        Example("Only text, and longer than the other prompts are."),
        Example("First <image> then <image>: which one is blue?", images=(RED, BLUE)),
    ]


# --- the fallback itself ---------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("name", VIDEO_VLMS)
def test_auto_processor_fails_here_only_for_the_video_processor(name, saved):
    """The problem the fallback solves: AutoProcessor refuses these folders (saved without a video
    processor, as they must be where torchvision is missing), and the error is one
    `needs_video_processor` recognises."""
    import transformers

    with pytest.raises((OSError, ImportError)) as caught:
        transformers.AutoProcessor.from_pretrained(saved(name))
    assert needs_video_processor(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize("name", VIDEO_VLMS)
def test_load_processor_gives_the_saved_processor_image_only(name, saved, fresh_warning):
    _, original = tiny_models.BUILDERS[name]()
    with pytest.warns(UserWarning, match="loaded image-only.*videos do not.*torchvision"):
        loaded = load_processor(str(saved(name)))
    assert type(loaded).__name__ == type(original).__name__
    assert isinstance(loaded, type(original).__mro__[1])  # the real transformers class
    assert isinstance(loaded.video_processor, processors._NoVideoProcessor)
    assert type(loaded.image_processor) is type(original.image_processor)
    compared = [s for s in SETTINGS if hasattr(original, s)]
    assert "chat_template" in compared and len(compared) >= 4
    for setting in compared:
        assert getattr(loaded, setting) == getattr(original, setting), setting
    # every input the model gets is the same, for images, text only and several images
    model, _ = tiny_models.BUILDERS[name]()
    got = ModelAdapter(model, loaded, name).encode(batch())
    want = ModelAdapter(model, original, name).encode(batch())
    assert set(got) == set(want) and {"input_ids", "pixel_values"} <= set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


@pytest.mark.integration
def test_the_settings_come_from_the_folder_not_the_defaults(saved):
    """SmolVLM's default image_seq_len is 169 and LLaVA-OneVision's num_image_tokens None: the
    tiny models' 4 and 16 can only come from processor_config.json."""
    import transformers

    smol = load_processor(str(saved("smolvlm")))
    assert smol.image_seq_len == 4 != transformers.SmolVLMProcessor.__init__.__defaults__[0]
    onevision = load_processor(str(saved("llava_onevision")))
    assert (onevision.num_image_tokens, onevision.vision_feature_select_strategy) == (16, "full")
    saved_config = json.loads((saved("smolvlm") / "processor_config.json").read_text())
    assert saved_config["image_seq_len"] == 4  # save_pretrained wrote it: the signature survives


def hub_layout(folder: Path, legacy: bool) -> None:
    """Make a saved folder look like a hub checkpoint: a video processor config (which needs
    torchvision to load), and for `legacy` the image processor in preprocessor_config.json and no
    processor_config.json (how Qwen2-VL-2B-Instruct is published)."""
    config = json.loads((folder / "processor_config.json").read_text())
    image = config.pop("image_processor")
    video = {k: v for k, v in image.items() if k != "image_processor_type"}
    video["video_processor_type"] = "Qwen2VLVideoProcessor"
    (folder / "video_preprocessor_config.json").write_text(json.dumps(video))
    if legacy:
        (folder / "processor_config.json").unlink()
        image["processor_class"] = config["processor_class"]
        (folder / "preprocessor_config.json").write_text(json.dumps(image))


@pytest.mark.integration
@pytest.mark.parametrize("legacy", [False, True], ids=["video-config", "legacy-hub"])
def test_hub_layouts_load_image_only_without_torchvision(legacy, saved, tmp_path):
    folder = tmp_path / "hub-qwen2-vl"
    shutil.copytree(saved("qwen2_vl"), folder)
    hub_layout(folder, legacy)
    loaded = load_processor(str(folder))
    # with torchvision the real video processor loads; without it, the image-only fallback
    assert isinstance(loaded.video_processor, processors._NoVideoProcessor) != HAS_TORCHVISION
    model, original = tiny_models.qwen2_vl()
    got = ModelAdapter(model, loaded, "hub").encode(batch())
    want = ModelAdapter(model, original, "hub").encode(batch())
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


@pytest.mark.integration
def test_the_warning_comes_once(saved, fresh_warning):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in ("qwen2_vl", "smolvlm", "qwen2_vl"):
            load_processor(str(saved(name)))
    messages = [str(w.message) for w in caught if "loaded image-only" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("Qwen2VLProcessor loaded image-only")
    assert "(AutoProcessor: Can't load video processor" in messages[0]  # says why


@pytest.mark.integration
def test_a_video_fails_with_a_clear_message(saved):
    import numpy as np

    processor = load_processor(str(saved("qwen2_vl")))
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ModelError, match="was loaded image-only.*videos do not.*torchvision"):
        processor(text=["<|video_pad|> what happens?"], videos=[frames], return_tensors="pt")


@pytest.mark.integration
def test_other_processor_failures_are_not_hidden(saved, tmp_path):
    folder = tmp_path / "broken-processor"
    shutil.copytree(saved("qwen2_vl"), folder)
    (folder / "processor_config.json").write_text("{ not json")
    with pytest.raises(OSError, match="not a valid JSON file") as caught:
        load_processor(str(folder))
    assert not needs_video_processor(caught.value)


@pytest.mark.integration
def test_a_processor_of_another_layout_has_no_image_only_form(saved, monkeypatch):
    import transformers

    with pytest.raises(TypeError, match="LlavaProcessor has sub-processors"):
        image_only(transformers.LlavaProcessor)  # no video processor to leave out

    def refuse(source, **kwargs):
        raise OSError(f"Can't load video processor for '{source}'.")

    # a LLaVA folder as if its AutoProcessor had failed for the video processor
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", refuse)
    with pytest.raises(ImportError, match=r"needs torchvision .*LlavaProcessor has sub-proc"):
        load_processor(str(saved("llava")))


@pytest.mark.unit
def test_needs_video_processor_reads_transformers_messages():
    assert needs_video_processor(OSError("Can't load video processor for '/m'. If you were ..."))
    assert needs_video_processor(
        ImportError(
            "\nQwen2VLVideoProcessor requires the Torchvision "
            "library but it was not found in your environment."
        )
    )
    assert not needs_video_processor(
        OSError("It looks like the config file at '/m/x.json' is not a valid JSON file.")
    )
    assert not needs_video_processor(ValueError("Unrecognized processing class in /m."))


@pytest.mark.integration
@pytest.mark.parametrize("name", VIDEO_VLMS)
def test_load_model_uses_the_fallback(name, saved):
    """load_model end to end (test_architectures compares the heads of every VLM this way)."""
    original_model, original_processor = tiny_models.BUILDERS[name]()
    loaded = savs.load_model(str(saved(name)), device="cpu")
    assert isinstance(loaded.processor.video_processor, processors._NoVideoProcessor)
    original = ModelAdapter(original_model, original_processor, name)
    examples = batch()
    inputs = loaded.encode(examples)
    assert torch.equal(inputs["input_ids"], original.encode(examples)["input_ids"])
    torch.testing.assert_close(
        loaded.read_heads(inputs), original.read_heads(original.encode(examples)), rtol=0, atol=1e-6
    )


# --- folders that exist but do not load ------------------------------------------------------


def broken_copy(saved, tmp_path: Path, name: str = "llava") -> Path:
    folder = tmp_path / f"broken-{name}"
    shutil.copytree(saved(name), folder)
    return folder


@pytest.mark.integration
@pytest.mark.parametrize(
    "damage,cause",
    [
        (lambda f: (f / "config.json").write_text("{ this is not json"), "not a valid JSON file"),
        (lambda f: (f / "model.safetensors").unlink(), "no file named model.safetensors"),
        (
            lambda f: (f / "model.safetensors").write_bytes(
                (f / "model.safetensors").read_bytes()[:1000]
            ),
            "deserializing header",
        ),
        (lambda f: (f / "tokenizer.json").write_text("{"), ""),
    ],
    ids=["corrupt-config", "no-weights", "truncated-weights", "corrupt-tokenizer"],
)
def test_a_broken_folder_is_named_with_its_cause(damage, cause, saved, tmp_path):
    folder = broken_copy(saved, tmp_path)
    damage(folder)
    with pytest.raises(ModelError) as caught:
        savs.load_model(str(folder), device="cpu")
    message = str(caught.value)
    assert message.startswith(f"could not load the model folder {folder}: ")
    assert cause in message
    assert "not a bundled name" not in message and "hub" not in message
    assert caught.value.__cause__ is not None  # the real exception stays attached


@pytest.mark.integration
def test_a_broken_video_vlm_folder_names_the_folder_too(saved, tmp_path):
    """The fallback's own failure (here: no tokenizer) is reported against the folder."""
    folder = broken_copy(saved, tmp_path, "smolvlm")
    for tokenizer_file in ("tokenizer.json", "tokenizer_config.json"):
        (folder / tokenizer_file).unlink()
    with pytest.raises(ModelError, match=rf"^could not load the model folder {folder}: "):
        savs.load_model(str(folder), device="cpu")


@pytest.mark.unit
def test_an_unknown_name_is_still_reported_as_unknown(monkeypatch):
    import transformers

    def offline(source, **kwargs):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {source}.")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", offline)
    with pytest.raises(
        ModelError,
        match=r"could not load model 'no-org/no-such-model': it is not "
        r"a bundled name .* hub id failed \(We couldn't connect",
    ):
        savs.load_model("no-org/no-such-model", device="cpu")
