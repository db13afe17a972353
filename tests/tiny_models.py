"""Tiny randomly initialised models of real architectures, with processors built offline.

Integration tests share these (built once per session, read-only). Nothing is downloaded: the
tokenizer is a byte-level BPE trained here on a few sentences, the image processors are built
from their classes.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ image_token }}"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = ["What colour is the shape? red green blue yellow. Is this a cat or a dog?",
          "Classify the request: harmless or harmful. The quick brown fox jumps over the lazy dog.",
          "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>"]


@lru_cache(maxsize=None)
def make_tokenizer(special: tuple[str, ...] = ("<image>",), template_image_token: str = "<image>") -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with chat special tokens and the given image tokens."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>", *special]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    template = CHAT_TEMPLATE.replace("{{ image_token }}", template_image_token)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<pad>",
                                   bos_token="<|endoftext|>", chat_template=template)


def text_config(vocab_size: int, **overrides) -> dict:
    cfg = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
               tie_word_embeddings=False)
    cfg.update(overrides)
    return cfg


@lru_cache(maxsize=None)
def llava():
    """LLaVA: SigLIP tower + projector + Qwen2 decoder (3 layers x 4 heads x 16 dims)."""
    from transformers import (LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                              SiglipImageProcessor, SiglipVisionConfig, Qwen2Config)

    tok = make_tokenizer()
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=2, image_size=32, patch_size=8)
    text = Qwen2Config(**text_config(len(tok)))
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tok.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1, vision_feature_select_strategy="full",
                         image_seq_length=16)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=8,
                               vision_feature_select_strategy="full", num_additional_image_tokens=0,
                               chat_template=tok.chat_template)
    return model, processor


@lru_cache(maxsize=None)
def qwen2_lm():
    """A Qwen2-style causal text LM (3 layers x 4 query heads, 2 KV heads)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = make_tokenizer()
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**text_config(len(tok)))).eval(), tok
