"""Build the tiny VLM's tokenizer, processor and (untrained) model, all offline.

The tokenizer is a byte-level BPE trained with the ``tokenizers`` library on the
scene vocabulary plus some generic English, so any text tokenizes (unknown words fall
back to bytes). It is wrapped in ``PreTrainedTokenizerFast`` with a chat template and
paired with a ``SiglipImageProcessor`` in a ``LlavaProcessor``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from .scenes import COLOURS, IMAGE_SIZE, QUADRANTS, SHAPES, make_scene, qa_pairs

PAD, BOS, END, IMAGE = "<|pad|>", "<|bos|>", "<|end|>", "<image>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
SPECIAL_TOKENS = [PAD, BOS, END, IMAGE, *ROLE_TOKENS]

# Works for string content and for lists of {"type": "image"} / {"type": "text"} parts,
# any number of images, text-only messages and system messages.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

GENERIC_TEXT = """\
The quick brown fox jumps over the lazy dog. What is in this picture? Is this a photo of
a cat or a dog? Describe the image in one word. Answer with yes or no. Which one is bigger?
What is the object on the left? How many people are there? Where is the ball? The sky is
blue and the grass is green. Classify the image. Is the answer true or false? Hello world!
Numbers 0 1 2 3 4 5 6 7 8 9 10 100. Please answer the question briefly.
"""


@dataclass
class TinyConfig:
    image_size: int = IMAGE_SIZE
    patch_size: int = 16
    vision_hidden: int = 128
    vision_layers: int = 3
    vision_heads: int = 4
    vision_intermediate: int = 256
    hidden: int = 128
    layers: int = 8
    heads: int = 8
    kv_heads: int = 4
    intermediate: int = 384
    vocab_size: int = 512
    max_positions: int = 512

    @property
    def num_image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict:
        return asdict(self)


def tokenizer_corpus(n_scenes: int = 600, seed: int = 10_000_000) -> list[str]:
    rng = random.Random(seed)
    lines = [GENERIC_TEXT]
    words = list(COLOURS) + list(SHAPES) + list(QUADRANTS) + ["yes", "no", "1", "2", "3", "4"]
    lines += words * 20
    for i in range(n_scenes):
        sc = make_scene(seed + i)
        for _t, q, a in qa_pairs(sc, rng):
            lines.append(q)
            lines.append(a)
    return lines


def build_tokenizer(cfg: TinyConfig):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=END,
        pad_token=PAD,
        extra_special_tokens={"image_token": IMAGE},
        additional_special_tokens=[IMAGE, *ROLE_TOKENS],
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=cfg.max_positions,
    )
    return fast


def build_processor(cfg: TinyConfig, tokenizer=None):
    from transformers import LlavaProcessor, SiglipImageProcessor

    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(cfg)
    image_processor = SiglipImageProcessor(
        do_resize=True,
        size={"height": cfg.image_size, "width": cfg.image_size},
        resample=3,  # bicubic; a no-op for images already at image_size
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=cfg.patch_size,
        vision_feature_select_strategy="full",
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE,
        num_additional_image_tokens=0,
    )


def build_model(cfg: TinyConfig, tokenizer, seed: int = 0):
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        LlavaConfig,
        Qwen2Config,
        SiglipVisionConfig,
    )

    vision = SiglipVisionConfig(
        hidden_size=cfg.vision_hidden,
        intermediate_size=cfg.vision_intermediate,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        num_channels=3,
    )
    text = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        intermediate_size=cfg.intermediate,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=cfg.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE),
        projector_hidden_act="gelu",
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_seq_length=cfg.num_image_tokens,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    gc = model.generation_config
    gc.eos_token_id = tokenizer.eos_token_id
    gc.pad_token_id = tokenizer.pad_token_id
    gc.bos_token_id = tokenizer.bos_token_id
    gc.do_sample = False
    gc.max_new_tokens = 32
    return model
