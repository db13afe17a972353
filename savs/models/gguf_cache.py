"""Convert a GGUF model once to a safetensors folder in a cache, and load from there afterwards.

Reading a GGUF file with transformers parses and dequantises every tensor, three times (config,
weights, tokenizer): about 20-40 s for SmolLM2-135M on two CPU cores, on every load. The same
weights saved with `save_pretrained` (fp32 safetensors + tokenizer) load in about half a second.
So the first load converts, and every later load reads the converted folder.

The converted folder is named after the GGUF file's sha256 and records the file's size and
sha256 (`source.json`): a different or changed GGUF file never reuses a stale conversion. It is
written to a temporary folder in the cache and renamed into place when complete, so a crash
leaves no half-written folder and two processes converting at once both end with one good copy.

The cache lives in `$SAVS_CACHE`, default `$XDG_CACHE_HOME/savs` (`~/.cache/savs`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

CACHE_ENV = "SAVS_CACHE"
SOURCE_FILE = "source.json"  # written last: a folder without it is not a finished conversion
_NEEDED = ("config.json", "model.safetensors", "tokenizer_config.json", SOURCE_FILE)


def cache_root() -> Path:
    """Where converted models live: $SAVS_CACHE, else the user's cache dir + /savs."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "savs"


def file_sha256(path: Path) -> str:
    """The file's sha256 (about 0.1 s for a 100 MB file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_of(gguf: Path) -> dict:
    return {"gguf": gguf.name, "size": gguf.stat().st_size, "sha256": file_sha256(gguf)}


def _target(gguf: Path, source: dict, root: Path) -> Path:
    return root / f"{gguf.stem}-{source['sha256'][:16]}"


def _is_complete(folder: Path, source: dict) -> bool:
    """Whether `folder` holds a finished conversion of exactly this GGUF file (size + sha256)."""
    if not all((folder / name).is_file() for name in _NEEDED):
        return False
    try:
        recorded = json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (recorded.get("size"), recorded.get("sha256")) == (source["size"], source["sha256"])


def converted_folder(gguf: Path, root: Path | None = None) -> Path | None:
    """The finished conversion of `gguf` in the cache, or None (nothing is converted here)."""
    source = _source_of(gguf)
    folder = _target(gguf, source, root or cache_root())
    return folder if _is_complete(folder, source) else None


def _write_conversion(gguf: Path, destination: Path) -> None:
    """Load the GGUF with transformers (dequantised to fp32) and save model + tokenizer."""
    import torch
    import transformers

    where, name = str(gguf.parent), gguf.name
    model = transformers.AutoModelForCausalLM.from_pretrained(
        where, gguf_file=name, dtype=torch.float32
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(where, gguf_file=name)
    # the weights are plain dequantised tensors now; only the GGUF marker blocks saving
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(destination)
    tokenizer.save_pretrained(destination)


def ensure_converted(gguf: Path, root: Path | None = None) -> Path:
    """The converted folder of `gguf`, converting it first if the cache has none.

    Raises OSError when the cache cannot be written (the caller may then load the GGUF itself).
    """
    root = root or cache_root()
    source = _source_of(gguf)
    folder = _target(gguf, source, root)
    if _is_complete(folder, source):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        _write_conversion(gguf, staging)
        (staging / SOURCE_FILE).write_text(json.dumps(source, indent=1) + "\n")
        _readable_by_all(staging)
        _move_into_place(staging, folder, source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when the rename worked
    return folder


def _readable_by_all(folder: Path) -> None:
    """mkdtemp makes a private (0700) folder; a shared cache should read like any other file."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def _move_into_place(staging: Path, folder: Path, source: dict) -> None:
    """Rename the finished staging folder to `folder`. If another process got there first with a
    good copy, keep theirs; an incomplete leftover is moved aside and replaced."""
    try:
        os.rename(staging, folder)
        return
    except OSError:
        if _is_complete(folder, source):
            return  # lost a race to an identical conversion
    stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale.", dir=folder.parent))
    try:
        os.rename(folder, stale / "old")
    except FileNotFoundError:
        pass  # someone else removed it meanwhile
    shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(staging, folder)
    except OSError:
        if not _is_complete(folder, source):  # a racing process put a good copy there: fine
            raise


__all__ = ["CACHE_ENV", "cache_root", "converted_folder", "ensure_converted", "file_sha256"]
