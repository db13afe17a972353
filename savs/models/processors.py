"""Load a VLM's processor, image-only when its video processor cannot be built.

Qwen2-VL, Qwen2.5-VL, SmolVLM, LLaVA-OneVision (and others of the same design) bundle a video
processor, and transformers' video processors need torchvision, which CPU-only torch installs
often cannot have. SAVs never sends videos, so when `AutoProcessor` fails for that reason we build
the same processor class without its video processor: image processor + tokenizer + chat
template + the processor's own saved settings (image_seq_len, num_image_tokens, ...), exactly
what `AutoProcessor` would have given for images and text. Such a processor saves without a video
processor config, so its folder loads back through the same fallback, with or without torchvision.
"""

from __future__ import annotations

import inspect
import warnings
from functools import cache
from typing import TYPE_CHECKING

from ..errors import ModelError

if TYPE_CHECKING:  # transformers is imported lazily: it is slow to import
    from transformers.processing_utils import ProcessorMixin

# the processor layout the image-only fallback knows how to take apart
VIDEO_LAYOUT = ["image_processor", "tokenizer", "video_processor"]
VIDEOS_UNSUPPORTED = (
    "loaded image-only, without its video processor: images and text work, "
    "videos do not. Videos need torchvision (matching your torch) and the "
    "model's video processor config."
)
_warned = False  # warn once per process, not once per model load


class _NoVideoProcessor:
    """Stands where the video processor would be. Some processors read its frame defaults even
    for image-only chats (SmolVLM's apply_chat_template reads num_frames / fps); anything that
    would actually process a video fails with a clear message instead of an AttributeError."""

    num_frames = None
    fps = None

    def __call__(self, *args, **kwargs):
        raise ModelError(f"this processor was {VIDEOS_UNSUPPORTED}")

    def __repr__(self) -> str:
        return "<no video processor: loaded image-only>"


@cache
def image_only(processor_cls: type) -> type:
    """`processor_cls` without its video processor (same name, same saved settings).

    The subclass's `__init__` advertises the base signature minus `video_processor`, because
    transformers reads that signature to decide which sub-processors the processor has
    (`get_attributes`) and which settings `save_pretrained` writes (`to_dict`): a saved
    image-only processor then loads back like the original. Cached: one class per base.
    """
    attributes = processor_cls.get_attributes()
    if attributes != VIDEO_LAYOUT:
        raise TypeError(
            f"{processor_cls.__name__} has sub-processors {attributes}: an image-only "
            f"version can only be built for {VIDEO_LAYOUT}."
        )
    signature = inspect.signature(processor_cls.__init__)

    class ImageOnly(processor_cls):
        video_processor = _NoVideoProcessor()

        def __init__(self, image_processor=None, tokenizer=None, *args, **kwargs):
            super().__init__(image_processor, tokenizer, None, *args, **kwargs)

    ImageOnly.__init__.__signature__ = signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "video_processor"]
    )
    ImageOnly.__name__ = ImageOnly.__qualname__ = processor_cls.__name__
    ImageOnly.__module__ = processor_cls.__module__
    ImageOnly.__doc__ = f"{processor_cls.__name__} without a video processor (loaded image-only)."
    return ImageOnly


def needs_video_processor(exc: BaseException) -> bool:
    """Whether `AutoProcessor` failed because of the video processor / torchvision."""
    text = str(exc).lower()
    return any(s in text for s in ("video processor", "videoprocessor", "torchvision"))


def saved_settings(processor_cls: type, saved: dict) -> dict:
    """The processor's own settings from processor_config.json (image_seq_len, num_image_tokens,
    vision_feature_select_strategy, patch_size, chat_template ...): those its `__init__` names,
    as `AutoProcessor` keeps them; sub-processors and bookkeeping keys are left out."""
    params = inspect.signature(processor_cls.__init__).parameters
    skip = set(processor_cls.get_attributes()) | {"self", "video_processor"}
    return {
        k: v
        for k, v in saved.items()
        if k in params
        and k not in skip
        and params[k].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }


def processor_class(source: str, saved: dict, **kwargs) -> type:
    """The processor class a model uses: as saved in its processor config, else by model type."""
    import transformers
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    name = saved.get("processor_class")
    if not isinstance(name, str) or not hasattr(transformers, name):
        model_type = transformers.AutoConfig.from_pretrained(source, **kwargs).model_type
        name = PROCESSOR_MAPPING_NAMES.get(model_type)
    cls = getattr(transformers, name, None) if isinstance(name, str) else None
    if cls is None:
        raise OSError(f"no processor class known for {source}")
    return cls


def load_image_only_processor(source: str, **kwargs) -> ProcessorMixin:
    """The model's processor class, built from its image processor + tokenizer + saved settings,
    with no video processor (see `image_only`)."""
    import transformers
    from transformers.processing_utils import ProcessorMixin

    saved, _ = ProcessorMixin.get_processor_dict(source, **kwargs)  # {} when there is none
    cls = processor_class(source, saved, **kwargs)
    try:
        image_only_cls = image_only(cls)
    except TypeError as layout:  # a processor design the fallback does not know
        raise ImportError(
            f"its processor needs torchvision for its video processor, and "
            f"{layout} Install torchvision matching your torch."
        ) from layout
    image_processor = transformers.AutoImageProcessor.from_pretrained(source, **kwargs)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
    return image_only_cls(
        image_processor=image_processor, tokenizer=tokenizer, **saved_settings(cls, saved)
    )


def load_processor(source: str, **kwargs) -> ProcessorMixin:
    """`AutoProcessor.from_pretrained(source, **kwargs)`; when that fails only because the video
    processor cannot be built (torchvision missing, or a folder saved without a video processor
    config, as image-only processors are), the same processor image-only, with a one-time warning.

    Raises what transformers raises (OSError, ValueError, ImportError ...) for anything else, and
    an ImportError naming torchvision when the processor has no image-only form.
    """
    import transformers

    try:
        return transformers.AutoProcessor.from_pretrained(source, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        if not needs_video_processor(exc):
            raise
        processor = load_image_only_processor(source, **kwargs)
        _warn_videos_unsupported(type(processor).__name__, exc)
    return processor


def _warn_videos_unsupported(name: str, reason: BaseException) -> None:
    global _warned
    if not _warned:
        _warned = True
        text = str(reason).strip()
        cause = text.splitlines()[0].split(". ")[0][:200] if text else type(reason).__name__
        warnings.warn(f"{name} {VIDEOS_UNSUPPORTED} (AutoProcessor: {cause})", stacklevel=3)
