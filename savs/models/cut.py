"""Loading only the decoder layers a classifier reads.

A classifier whose deepest selected head sits in layer 3 never needs layers 4 and up: its
forward pass stops after layer 3's o_proj input. `cut_config` gives a config whose text decoder
has the first N layers only (the vision tower stays whole), and `cut_model_class` a subclass of
the model class that treats the dropped layers' checkpoint weights as expected leftovers, so
`from_pretrained` builds N layers, reads only their weights, and prints no load report about the
rest. Nothing process-wide changes: the subclass is made per load.
"""

from __future__ import annotations

import copy

from ..errors import ModelError


def text_layers(config) -> int:
    """The text decoder's layer count of a (possibly multimodal) config."""
    return int(config.get_text_config().num_hidden_layers)


def cut_config(config, layers: int):
    """A copy of `config` whose text decoder keeps its first `layers` layers."""
    full = text_layers(config)
    if not 1 <= layers <= full:
        raise ModelError(f"layers must be between 1 and the model's {full} layers, got {layers}")
    config = copy.deepcopy(config)
    text = config.get_text_config()
    text.num_hidden_layers = layers
    if isinstance(getattr(text, "layer_types", None), list):
        text.layer_types = text.layer_types[:layers]  # per-layer attention kinds (Qwen2, Gemma3)
    return config


def cut_model_class(model_cls: type, layers: int, full: int) -> type:
    """`model_cls` under its own name, ignoring checkpoint keys of decoder layers >= `layers`."""
    if layers >= full:
        return model_cls
    dropped = "|".join(str(i) for i in range(layers, full))
    ignore = set(getattr(model_cls, "_keys_to_ignore_on_load_unexpected", None) or [])
    # vision-tower layers of those numbers are never unexpected (the tower is whole), so the
    # pattern needs no decoder path
    ignore.add(rf"(^|\.)layers\.({dropped})\.")
    # the same module and name: transformers picks checkpoint key conversions (legacy LLaVA
    # names ...) by class name and treats classes from outside its package as custom code
    namespace = {
        "_keys_to_ignore_on_load_unexpected": ignore,
        "__module__": model_cls.__module__,
        "__qualname__": model_cls.__qualname__,
    }
    return type(model_cls.__name__, (model_cls,), namespace)
