"""Tiny randomly initialised models of real architectures, with processors built offline.

Integration tests share these (built once per session, read-only). Nothing is downloaded: the
tokenizer is a byte-level BPE trained here on a few sentences, the image processors are built
from their (PIL) classes. `BUILDERS` maps a name to each architecture SAVs supports: Qwen2-VL,
Qwen2.5-VL, LLaVA, LLaVA-OneVision, Idefics3, SmolVLM, Gemma3, PaliGemma, and Llama / Qwen2 text
LMs; `VARIANTS` the same architectures with another processor setting (Idefics3 and SmolVLM
splitting images into tiles). Every decoder is 3 layers x 4 query heads (2 KV heads); every
vision tower also has 3 layers.
"""

from __future__ import annotations

from functools import cache

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

# Qwen2-VL / SmolVLM / LLaVA-OneVision processors insist on a video processor, which needs
# torchvision (not importable here): the library's image-only form of each is what
# load_model itself falls back to, so the tests build the same thing
from savs.models.processors import image_only

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ image_token }}"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "What colour is the shape? red green blue yellow. Is this a cat or a dog?",
    "Classify the request: harmless or harmful. The quick brown fox jumps over the lazy dog.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>",
]


@cache
def make_tokenizer(
    special: tuple[str, ...] = ("<image>",), template_image_token: str = "<image>"
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with chat special tokens and the given image tokens."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>", *special]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    template = CHAT_TEMPLATE.replace("{{ image_token }}", template_image_token)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<pad>",
        bos_token="<|endoftext|>",
        chat_template=template,
    )


# SigLIP-style vision towers: as many layers as the decoder, so that finding the decoder's
# layers has to tell the two apart by more than their count
VISION = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=2,
    image_size=32,
    patch_size=8,
)


def text_config(vocab_size: int, **overrides) -> dict:
    cfg = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    cfg.update(overrides)
    return cfg


@cache
def llava():
    """LLaVA: SigLIP tower + projector + Qwen2 decoder (3 layers x 4 heads x 16 dims)."""
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        Qwen2Config,
        SiglipImageProcessor,
        SiglipVisionConfig,
    )

    tok = make_tokenizer()
    vision = SiglipVisionConfig(**VISION)
    text = Qwen2Config(**text_config(len(tok)))
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        image_seq_length=16,
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=0,
        chat_template=tok.chat_template,
    )
    return model, processor


def _text_lm(model_cls, config_cls):
    """A causal text LM of `model_cls` on the shared tokenizer (3 layers x 4 heads, 2 KV heads)."""
    tok = make_tokenizer()
    torch.manual_seed(0)
    return model_cls(config_cls(**text_config(len(tok)))).eval(), tok


@cache
def qwen2_lm():
    """A Qwen2-style causal text LM (3 layers x 4 query heads, 2 KV heads)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return _text_lm(Qwen2ForCausalLM, Qwen2Config)


# ---------------------------------------------------------------------------------------------
# One builder per architecture the library supports. Each returns (model, processor) with a
# 3-layer decoder, tiny vision tower and 32x32 images, so a forward pass takes milliseconds.


def _qwen_vl(model_cls, config_cls, vision: dict):
    from transformers import Qwen2VLImageProcessorPil, Qwen2VLProcessor

    specials = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    tok = make_tokenizer(specials, "<|vision_start|><|image_pad|><|vision_end|>")
    ids = {
        name: tok.convert_tokens_to_ids(t)
        for name, t in zip(
            ("vision_start_token_id", "vision_end_token_id", "image_token_id", "video_token_id"),
            specials,
        )
    }
    text = text_config(
        len(tok),
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
    )
    config = config_cls(text_config=text, vision_config=vision, **ids)
    torch.manual_seed(0)
    model = model_cls(config).eval()
    # 32x32 images -> 4x4 patches of 8 -> 2x2 merged = 4 image tokens
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=32 * 32, max_pixels=32 * 32, patch_size=8, merge_size=2, temporal_patch_size=2
    )
    processor = image_only(Qwen2VLProcessor)(
        image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template
    )
    return model, processor


@cache
def qwen2_vl():
    """Qwen2-VL: windowless ViT with 2x2 patch merging, M-RoPE decoder."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    vision = dict(
        depth=3,
        embed_dim=32,
        hidden_size=64,
        num_heads=2,
        mlp_ratio=2,
        patch_size=8,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    return _qwen_vl(Qwen2VLForConditionalGeneration, Qwen2VLConfig, vision)


@cache
def qwen2_5_vl():
    """Qwen2.5-VL: windowed ViT (one full-attention block), M-RoPE decoder."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    vision = dict(
        depth=3,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        patch_size=8,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=16,
        fullatt_block_indexes=[1],
    )
    return _qwen_vl(Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLConfig, vision)


@cache
def llava_onevision():
    """LLaVA-OneVision: SigLIP + anyres tiling (base image + grid crops + newline tokens)."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        LlavaOnevisionProcessor,
        SiglipVisionConfig,
    )

    tok = make_tokenizer(("<image>", "<video>"))
    vision = SiglipVisionConfig(**VISION)
    pinpoints = [[32, 32], [32, 64], [64, 32]]
    text = dict(model_type="qwen2", **text_config(len(tok)))
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        image_grid_pinpoints=pinpoints,
    )
    torch.manual_seed(0)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints
    )
    processor = image_only(LlavaOnevisionProcessor)(
        image_processor=image_processor,
        tokenizer=tok,
        chat_template=tok.chat_template,
        num_image_tokens=16,
        vision_feature_select_strategy="full",
    )
    return model, processor


# the tile markers of a split image, as the processors write them (<row_1_col_1> .. 3 x 3)
TILE_MARKERS = tuple(f"<row_{i}_col_{j}>" for i in range(1, 4) for j in range(1, 4))


def _idefics_like(model_cls, config_cls, processor_cls, image_processor_cls, split=False):
    """Idefics3 and SmolVLM share a design: SigLIP-style tower, pixel shuffle, Llama decoder.
    `split`: images are resized to a longest edge of 96 and cut into up to 3 x 3 tiles of 32
    (each after its <row_i_col_j> marker), then the whole picture as the <global-img> tile."""
    specials = ("<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>")
    tok = make_tokenizer(specials + TILE_MARKERS if split else specials)
    vision = dict(VISION)  # dicts here: these configs build their own sub-config classes
    # 32x32 image -> 4x4 patches -> pixel shuffle with scale 2 -> 4 image tokens
    text = dict(model_type="llama", **text_config(len(tok)))
    config = config_cls(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    torch.manual_seed(0)
    model = model_cls(config).eval()
    image_processor = image_processor_cls(
        do_image_splitting=split,
        size={"longest_edge": 96 if split else 32},
        max_image_size={"longest_edge": 32},
    )
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_len=4,
        chat_template=tok.chat_template,
    )
    return model, processor


@cache
def idefics3():
    """Idefics3: SigLIP-style tower + pixel-shuffle connector + Llama decoder."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    return _idefics_like(
        Idefics3ForConditionalGeneration,
        Idefics3Config,
        Idefics3Processor,
        Idefics3ImageProcessorPil,
    )


@cache
def idefics3_tiled():
    """Idefics3 whose processor splits images into tiles (3 x 3 at most) plus a global image."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    return _idefics_like(
        Idefics3ForConditionalGeneration,
        Idefics3Config,
        Idefics3Processor,
        Idefics3ImageProcessorPil,
        split=True,
    )


@cache
def smolvlm():
    """SmolVLM: the Idefics3 design with its own processor (which needs num2words, for video
    prompts, and a video processor: left out, see savs.models.processors.image_only)."""
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessorPil,
        SmolVLMProcessor,
    )

    return _idefics_like(
        SmolVLMForConditionalGeneration,
        SmolVLMConfig,
        image_only(SmolVLMProcessor),
        SmolVLMImageProcessorPil,
    )


def _gemma_tokenizer(specials, **named):
    tok = make_tokenizer(specials)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tok._tokenizer,
        eos_token="<|im_end|>",
        pad_token="<pad>",
        bos_token="<|endoftext|>",
        chat_template=tok.chat_template,
        extra_special_tokens=named,
    )
    return tok


@cache
def gemma3():
    """Gemma3: SigLIP + average-pooled projector, sliding-window decoder, bidirectional image
    attention (token_type_ids)."""
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
    )

    specials = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")
    tok = _gemma_tokenizer(
        specials,
        boi_token="<start_of_image>",
        eoi_token="<end_of_image>",
        image_token="<image_soft_token>",
    )
    tok.chat_template = tok.chat_template.replace("<image>", "<start_of_image>")
    vision = dict(model_type="siglip_vision_model", **VISION)
    # head_dim 24: the o_proj input (4 x 24 = 96) is wider than the hidden size (64)
    text = text_config(
        len(tok),
        head_dim=24,
        query_pre_attn_scalar=24,
        sliding_window=8,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    config = Gemma3Config(
        vision_config=vision,
        text_config=text,
        mm_tokens_per_image=4,
        boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"),
    )
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(config).eval()
    image_processor = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=4,
        chat_template=tok.chat_template,
    )
    return model, processor


@cache
def paligemma():
    """PaliGemma: SigLIP + linear projector, Gemma decoder, prefix-LM attention, no chat
    template (the processor writes image tokens + BOS itself)."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )

    tok = _gemma_tokenizer(("<image>",), image_token="<image>")
    tok.chat_template = None
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16  # (32 / 8) ** 2 patches, one token each
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)  # adds tokens
    vision = dict(model_type="siglip_vision_model", **VISION, projection_dim=64)
    text = dict(
        model_type="gemma", **text_config(len(tok), head_dim=16, pad_token_id=tok.pad_token_id)
    )
    config = PaliGemmaConfig(
        vision_config=vision,
        text_config=text,
        projection_dim=64,
        hidden_size=64,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(0)
    model = PaliGemmaForConditionalGeneration(config).eval()
    return model, processor


@cache
def llama_lm():
    """A Llama-style causal text LM (the SmolLM2 architecture), 3 layers x 4 heads, 2 KV heads."""
    from transformers import LlamaConfig, LlamaForCausalLM

    return _text_lm(LlamaForCausalLM, LlamaConfig)


@cache
def smolvlm_tiled():
    """SmolVLM whose processor splits images into tiles (3 x 3 at most) plus a global image."""
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessorPil,
        SmolVLMProcessor,
    )

    return _idefics_like(
        SmolVLMForConditionalGeneration,
        SmolVLMConfig,
        image_only(SmolVLMProcessor),
        SmolVLMImageProcessorPil,
        split=True,
    )


BUILDERS = {
    "qwen2_vl": qwen2_vl,
    "qwen2_5_vl": qwen2_5_vl,
    "llava": llava,
    "llava_onevision": llava_onevision,
    "idefics3": idefics3,
    "smolvlm": smolvlm,
    "gemma3": gemma3,
    "paligemma": paligemma,
    "llama_lm": llama_lm,
    "qwen2_lm": qwen2_lm,
}
VLMS = (
    "qwen2_vl",
    "qwen2_5_vl",
    "llava",
    "llava_onevision",
    "idefics3",
    "smolvlm",
    "gemma3",
    "paligemma",
)
TEXT_LMS = ("llama_lm", "qwen2_lm")
# variants of an architecture above with another processor setting (not in BUILDERS: the
# architecture tests run each architecture once)
VARIANTS = {"idefics3_tiled": idefics3_tiled, "smolvlm_tiled": smolvlm_tiled}
