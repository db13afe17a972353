"""One wrapper around any transformers generative model: what SAVs needs to know about it.

`ModelAdapter` finds the text decoder's layers and their attention output projections by looking
at the module tree and `config.get_text_config()` (no hard-coded module paths or layer counts),
turns `Example`s into left-padded model inputs with the model's own chat template, and runs the
model while reading the heads (stopping early after the deepest layer that is needed).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn

from ..data import IMAGE_MARKER, Example, join_prompt, open_image
from ..errors import DataError, ModelError
from ..heads import StopForward, capture_heads
from .image_policy import ImageSettings, geometry, layout_of, resolve
from .image_policy import settings as settings_for
from .turns import TurnLock

_ATTENTION_NAMES = ("self_attn", "attn", "attention", "self_attention")
_OUT_PROJ_NAMES = ("o_proj", "out_proj", "dense", "c_proj", "wo")
_VISION_WORDS = ("vision", "visual", "vit", "image", "audio", "speech")
# processor outputs that are for training only: `labels` would make the model compute a loss
_TRAINING_ONLY_KEYS = ("labels",)


def _out_projection(layer: nn.Module) -> nn.Module | None:
    for attn_name in _ATTENTION_NAMES:
        attn = getattr(layer, attn_name, None)
        if isinstance(attn, nn.Module):
            for proj_name in _OUT_PROJ_NAMES:
                proj = getattr(attn, proj_name, None)
                if isinstance(proj, nn.Linear):
                    return proj
    return None


def find_attention_outputs(model: nn.Module, num_layers: int) -> tuple[str, list[nn.Module]]:
    """Find the text decoder's layer list and each layer's attention output projection.

    Looks for a ModuleList of `num_layers` blocks whose attention has an output Linear, skipping
    vision / audio towers. Returns (the layer list's module name, [o_proj per layer]).
    """
    candidates = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) != num_layers:
            continue
        if any(word in name.lower() for word in _VISION_WORDS):
            continue
        projections = [_out_projection(layer) for layer in module]
        if all(p is not None for p in projections):
            candidates.append((name, projections))
    if not candidates:
        raise ModelError(
            f"{type(model).__name__}: could not find {num_layers} decoder layers with "
            "an attention output projection (o_proj / out_proj). This architecture is "
            "not supported yet."
        )
    # the shortest path is the decoder itself (not e.g. a copy inside a draft model)
    return min(candidates, key=lambda c: c[0].count("."))


class ModelAdapter:
    """A frozen generative model with its processor (VLMs) or tokenizer (text LMs)."""

    def __init__(
        self,
        model: nn.Module,
        processor,
        name: str,
        full_layers: int | None = None,
        max_image_tokens: int | None = None,
        image_token_cap: int | None = None,
    ):
        # held for each forward pass (see read_heads); waiters take turns by urgency (turns.py)
        self.lock = TurnLock()
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.name = name
        self.is_vlm = getattr(processor, "image_processor", None) is not None
        text_config = model.config.get_text_config()
        _, self.o_projs = find_attention_outputs(model, text_config.num_hidden_layers)
        self.num_layers = len(self.o_projs)  # layers built here
        # the published model's layers: more when loaded cut (load_model(..., layers=N))
        self.full_layers = full_layers or self.num_layers
        self.num_heads = int(text_config.num_attention_heads)
        in_features = self.o_projs[0].in_features
        if in_features % self.num_heads:
            raise ModelError(
                f"{name}: o_proj input size {in_features} is not a multiple of "
                f"{self.num_heads} heads."
            )
        self.head_dim = in_features // self.num_heads
        params = inspect.signature(model.forward).parameters
        self._forward_kwargs = {"use_cache": False, "return_dict": True}
        if "logits_to_keep" in params:
            self._forward_kwargs["logits_to_keep"] = 1  # skip the [T, vocab] logits
        # how forward takes a KV cache: `cache` since transformers 5.2x, `past_key_values` before
        self.cache_argument = "cache" if "cache" in params else "past_key_values"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._accepts_text_only: bool | None = None  # does the processor take text alone?
        layout = layout_of(getattr(model.config, "model_type", None), self.is_vlm)
        self.image_geometry = geometry(processor, layout) if layout else None
        self.image_token_cap = image_token_cap  # an operator's bound: no view goes above it
        self._set_image_tokens(max_image_tokens)

    # --- the resolution policy (savs.models.image_policy) ---------------------------------

    def _set_image_tokens(self, requested: int | None) -> None:
        geo, cap = self.image_geometry, self.image_token_cap
        # the resolved bound (None: nothing to set here); 0: the processor's own settings
        self.max_image_tokens = resolve(geo, requested, cap) if geo else None
        self.image_settings = settings_for(geo, self.max_image_tokens) if geo else ImageSettings()

    def with_image_tokens(self, requested: int | None) -> ModelAdapter:
        """This model under another resolution policy (`requested` image tokens per image, None:
        the architecture's classification default, 0: the processor's own settings), never
        above `image_token_cap` (ModelError). A view: model, processor and lock are shared."""
        view = copy.copy(self)
        view._set_image_tokens(requested)
        return self if view.max_image_tokens == self.max_image_tokens else view

    def __repr__(self) -> str:
        return (
            f"ModelAdapter({self.name!r}, {type(self.model).__name__}, {self.num_layers} layers "
            f"x {self.num_heads} heads x {self.head_dim} dims, {self.device}, {self.dtype})"
        )

    @property
    def device(self) -> torch.device:
        """Where inputs go: the embedding's execution device when accelerate placed the model
        (device_map="auto", maybe offloaded), else the first real parameter's device."""
        hook = getattr(self.model.get_input_embeddings(), "_hf_hook", None)
        if getattr(hook, "execution_device", None) is not None:
            return torch.device(hook.execution_device)
        for param in self.model.parameters():
            if param.device.type != "meta":
                return param.device
        return torch.device("cpu")

    def forward_kwargs(self, **overrides) -> dict:
        """The keyword arguments of this model's cheapest forward pass (no KV cache; logits for
        the last position only where the model takes `logits_to_keep`), with `overrides`."""
        return {**self._forward_kwargs, **overrides}

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def fingerprint(self) -> str:
        """Identifies the model for activation caches: name + architecture + shapes + dtype."""
        text = (
            f"{self.name}|{type(self.model).__name__}|{self.num_layers}|{self.num_heads}|"
            f"{self.head_dim}|{self.dtype}|{self.max_image_tokens}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # --- inputs ---------------------------------------------------------------------------

    def render(self, example: Example, prompt: str | None = None) -> str:
        """The full prompt text for one example: chat template with its generation prompt."""
        body = join_prompt(prompt, example.text)
        template = getattr(self.processor, "chat_template", None) or self.tokenizer.chat_template
        if not self.is_vlm:
            if example.images:
                raise ModelError(
                    f"{example.describe()}: {self.name} is a text-only model and "
                    "cannot read images. Use a vision-language model."
                )
            if not template:
                return body
            messages = [{"role": "user", "content": body}]
            return self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        content = _interleave(body, len(example.images), example.describe())
        if not template:  # e.g. PaliGemma: image tokens in the text, the processor does the rest
            image_token = getattr(self.processor, "image_token", None) or IMAGE_MARKER
            return "".join(
                image_token if part["type"] == "image" else part["text"] for part in content
            )
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    def encode(self, examples: Sequence[Example], prompt: str | None = None) -> dict:
        """Left-padded batch of model inputs, on the model's device."""
        texts = [self.render(ex, prompt) for ex in examples]
        self.tokenizer.padding_side = "left"
        if self.is_vlm:
            enc = self._process(texts, examples)
        else:
            enc = self._tokenize(texts)
        for key in _TRAINING_ONLY_KEYS:
            enc.pop(key, None)
        return self._to_device(enc)

    def _tokenize(self, texts: list[str]) -> dict:
        has_template = bool(
            getattr(self.processor, "chat_template", None) or self.tokenizer.chat_template
        )
        return dict(
            self.tokenizer(
                texts, padding=True, return_tensors="pt", add_special_tokens=not has_template
            )
        )

    def _process(self, texts: list[str], examples: Sequence[Example]) -> dict:
        """Run the VLM processor. Images go as one list per text ([[a, b], [], [c]]): transformers
        5 processors all accept that, and it keeps each image with its own prompt. The
        resolution policy's settings go with every call (`image_settings`)."""
        images = [
            [self._scaled(open_image(im, ex.describe())) for im in ex.images] for ex in examples
        ]
        kwargs: dict = {"text": texts, "padding": True, "return_tensors": "pt"}
        if any(images):
            kwargs.update(self.image_settings.processor_kwargs)
        if hasattr(self.processor, "padding_side"):
            self.processor.padding_side = "left"
        if all(images):
            return dict(self.processor(images=images, **kwargs))
        if not any(images):
            # e.g. PaliGemma's processor refuses text without images (the model does not)
            return dict(self.processor(**kwargs)) if self._text_only_ok() else self._tokenize(texts)
        if not self._text_only_ok():
            raise ModelError(
                f"{self.name}: its processor ({type(self.processor).__name__}) needs images in "
                "every example of a batch, and this batch mixes text-only examples with image "
                "examples. Use batch size 1, or give every example an image."
            )
        return dict(self.processor(images=images, **kwargs))

    def _scaled(self, image: Image.Image) -> Image.Image:
        """The image scaled down to the policy's longest side, if it has one (anyres)."""
        side = self.image_settings.max_side
        if side is None or max(image.size) <= side:
            return image
        scale = side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, Image.Resampling.BICUBIC)

    def _text_only_ok(self) -> bool:
        """Whether the processor accepts a batch without images (asked once, text only)."""
        if self._accepts_text_only is None:
            try:
                self.processor(text=["probe"], return_tensors="pt")
                self._accepts_text_only = True
            except ValueError:
                self._accepts_text_only = False
        return self._accepts_text_only

    def _to_device(self, enc: dict) -> dict:
        device, dtype = self.device, self.dtype
        out = {}
        for key, value in enc.items():
            if isinstance(value, torch.Tensor):
                value = value.to(device)
                if value.is_floating_point():
                    value = value.to(dtype)
            out[key] = value
        return out

    # --- running --------------------------------------------------------------------------

    @torch.inference_mode()
    def read_heads(
        self, inputs: dict, layers: Sequence[int] | None = None, early_exit: bool = True
    ) -> torch.Tensor:
        """Run the model on a batch and return the last-token head outputs [B, L', H, d] (fp32,
        CPU), where L' = deepest requested layer + 1. With `early_exit` nothing after the deepest
        requested o_proj input is computed: not the deeper layers, and for the last layer not its
        o_proj, its MLP, the final norm or the LM head either (fit reads every layer, and saves
        those). Requested-but-skipped layers in between come back as zeros."""
        wanted = list(range(self.num_layers)) if layers is None else sorted(set(layers))
        deepest = wanted[-1]
        stop = deepest if early_exit else None
        # one forward pass at a time: hooks on a module see every thread's passes, and sessions
        # sharing this model take turns per batch (a long extraction cannot hold it for minutes)
        with self.lock, capture_heads(self.o_projs, wanted, stop_after=stop) as captured:
            try:
                self.model(**inputs, **self._forward_kwargs)
            except StopForward:
                pass
        batch = inputs["input_ids"].shape[0]
        out = torch.zeros(batch, deepest + 1, self.num_heads, self.head_dim)
        for layer, value in captured.items():
            out[:, layer] = value.float().cpu().reshape(batch, self.num_heads, self.head_dim)
        return out


def _interleave(text: str, num_images: int, where: str) -> list[dict]:
    """Chat content for images + text. "<image>" markers in the text place the images (one per
    marker); without markers the images come first, then the text."""
    parts = text.split(IMAGE_MARKER)
    if len(parts) > 1 and len(parts) - 1 != num_images:
        raise DataError(
            f"{where}: the text has {len(parts) - 1} '{IMAGE_MARKER}' marker(s) but "
            f"the example has {num_images} image(s); use one marker per image, or "
            "none (images then go first)."
        )
    if num_images and len(parts) > 1:
        content: list[dict] = []
        for i, part in enumerate(parts):
            if part.strip():
                content.append({"type": "text", "text": part.strip()})
            if i < num_images:
                content.append({"type": "image"})
        return content
    content = [{"type": "image"} for _ in range(num_images)]
    if text:
        content.append({"type": "text", "text": text})
    return content
