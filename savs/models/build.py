"""How a config becomes a model: its transformers auto class, the dtype for the device, where
its layers go (`device_map`), and the whole model or its first N decoder layers
(`savs.models.cut`). The steps of `load_model` that touch weights, apart from its name rules.
"""

from __future__ import annotations

import torch

from .cut import cut_config, cut_model_class, text_layers


def pick_dtype(device: str, dtype: torch.dtype | str | None) -> torch.dtype:
    """The dtype to load in: the one given (a torch dtype or a name), else bf16 / fp16 on CUDA
    (bf16 where supported) and fp32 on CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype != "auto":
        return {
            "fp32": torch.float32,
            "float32": torch.float32,
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
            "fp16": torch.float16,
            "float16": torch.float16,
        }[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def placement(device_map: str | dict | None, max_memory: dict | None, offload_folder) -> dict:
    """from_pretrained's placement arguments: none without a device_map."""
    if device_map is None:
        return {}
    given = {"max_memory": max_memory, "offload_folder": offload_folder}
    return {"device_map": device_map, **{k: v for k, v in given.items() if v is not None}}


def build_model(source: str, config, model_cls: type, layers: int | None, kwargs: dict):
    """(the model, ModelAdapter's `full_layers` when cut): the whole model, or with `layers`
    fewer than the decoder has, its first `layers` only (as many or more: the whole model; a
    classifier of a deeper model is then refused by its shape, with the message that says so)."""
    cut = {}
    if layers is not None and layers < text_layers(config):
        cut["full_layers"] = full_layers = text_layers(config)
        model_cls = cut_model_class(model_cls._model_mapping[type(config)], layers, full_layers)
        kwargs = {**kwargs, "config": cut_config(config, layers)}
    return model_cls.from_pretrained(source, **kwargs), cut


def model_class(config) -> tuple[type, bool]:
    """(the transformers auto class for this config, is it a VLM?)."""
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return transformers.AutoModelForImageTextToText, True
    return transformers.AutoModelForCausalLM, False


__all__ = ["pick_dtype", "placement", "build_model", "model_class"]
