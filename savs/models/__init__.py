"""Model adapters and the registry of named models."""

from .adapter import ModelAdapter, find_attention_outputs
from .registry import BUNDLED, HUB_SUGGESTIONS, load_model

__all__ = ["ModelAdapter", "find_attention_outputs", "BUNDLED", "HUB_SUGGESTIONS", "load_model"]
