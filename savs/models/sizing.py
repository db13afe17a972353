"""How large a model is, from its config alone, before one weight is built.

Why: a config is a few KB, yet it decides how much memory `from_pretrained` takes (a 4 KB repo
can declare 100 B parameters). `check_size` builds the model on PyTorch's meta device (shapes,
no storage: a 70 B-parameter Llama takes about a second and no memory), counts its parameters
in the dtype they will load in, and refuses it over the cap (`SAVS_MAX_MODEL_GB`).
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import torch

from ..errors import ModelError
from ..limits import MAX_MODEL_GB_ENV, MAX_MODEL_LAYERS

GB = 1e9
# config fields that multiply modules: a meta build is cheap per module, not per module count
_COUNT_FIELD = re.compile(r"(^|_)(layers|layer|experts|blocks)$")


def max_model_gb(default: float | None) -> float | None:
    """The cap in GB: $SAVS_MAX_MODEL_GB when set (a positive number; `inf` for none), else
    `default` (None: no cap)."""
    raw = os.environ.get(MAX_MODEL_GB_ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:  # also refuses nan
        raise ModelError(f"{MAX_MODEL_GB_ENV} must be a positive number of GB, got {raw[:40]!r}.")
    return value


def _module_counts(config: dict[str, Any], prefix: str = "") -> list[tuple[str, int]]:
    """(field, value) for every layer / expert / block count in a config dict, nested ones too."""
    found = []
    for key, value in config.items():
        if isinstance(value, dict):
            found += _module_counts(value, f"{prefix}{key}.")
        elif isinstance(value, int) and not isinstance(value, bool) and _COUNT_FIELD.search(key):
            found.append((prefix + key, value))
    return found


def parameter_size(
    config: Any, model_cls: Any, dtype: torch.dtype, **kwargs: Any
) -> tuple[int, int]:
    """(parameters, bytes) that `model_cls.from_pretrained` would build from `config` in
    `dtype` (tied weights counted once), from a build on the meta device."""
    with torch.device("meta"):
        model = model_cls.from_config(copy.deepcopy(config), dtype=dtype, **kwargs)
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)


def check_size(
    name: str, config: Any, model_cls: Any, dtype: torch.dtype, cap_gb: float, **kwargs: Any
) -> int:
    """Refuse (ModelError, with the size) a model whose parameters exceed `cap_gb`; return its
    bytes. Raised before any weight is read or allocated."""
    counts = [(k, v) for k, v in _module_counts(config.to_dict()) if v > MAX_MODEL_LAYERS]
    if counts:
        field, value = counts[0]
        raise ModelError(
            f"model {name[:200]!r} declares {field} = {value}; at most {MAX_MODEL_LAYERS} "
            "are supported."
        )
    try:
        count, size = parameter_size(config, model_cls, dtype, **kwargs)
    except ModelError:
        raise
    except Exception as exc:  # an architecture that cannot be built on meta: cannot be sized
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(
            f"could not size model {name[:200]!r} from its config ({cause}), so it is not "
            f"loaded while model size is capped; set {MAX_MODEL_GB_ENV}=inf to load it anyway."
        ) from exc
    if size > cap_gb * GB:
        dtype_name = str(dtype).removeprefix("torch.")
        raise ModelError(
            f"model {name[:200]!r} is {size / GB:.1f} GB in {dtype_name} "
            f"({count / 1e9:.2f} B parameters); this server loads models up to "
            f"{cap_gb:g} GB ({MAX_MODEL_GB_ENV})."
        )
    return size
