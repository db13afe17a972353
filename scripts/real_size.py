"""Real VLMs at their real size, with random weights, built offline and cached.

    python scripts/real_size.py [--models smolvlm-256m,llava-ov-0.5b] [--layers N]
                                [--vision-layers N] [--root FOLDER]

Each model is its published architecture and width (text and vision), its real vocabulary size
and its real processor settings (tiles, anyres pinpoints, pixel bounds, tokens per image), so
the cost, the token layout and every code path are real; only the weights are random (and the
tokenizer is a small byte-level BPE trained here, whose special tokens the config's token ids
point at: nothing is downloaded). `--layers N` / `--vision-layers N` keep the first N text /
vision layers for CI; the widths stay real. Folders go to $SAVS_CACHE/real-size/<name>[-tN][-vN]
(`savs.models.gguf_cache.cache_root`) and are reused when present.

The config values below are written by hand from the public config.json /
preprocessor_config.json of each hub repository (HuggingFaceTB/SmolVLM-256M-Instruct,
llava-hf/llava-onevision-qwen2-0.5b-ov-hf, Qwen/Qwen2-VL-2B-Instruct, google/paligemma-3b-pt-224,
google/gemma-3-4b-it) as remembered, not read from the hub here (it cannot be reached): a field
may differ from the hub's, the architectures and sizes do not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from savs.models.gguf_cache import cache_root  # noqa: E402
from savs.models.processors import image_only  # noqa: E402

from tiny_models import _gemma_tokenizer, make_tokenizer  # noqa: E402

SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_attention_heads=16)
DONE = "real_size.json"  # written last: a folder without it is an interrupted build


def _ids(tok, **tokens: str) -> dict[str, int]:
    return {key: tok.convert_tokens_to_ids(t) for key, t in tokens.items()}


def smolvlm_256m(layers: int | None, vision_layers: int | None, vocab: int | None = None):
    """SmolVLM-256M-Instruct: SigLIP-B/16 at 512 px, pixel shuffle x4 (64 tokens a tile),
    SmolLM2-135M-style decoder (30 x 9 heads, 3 KV heads), tiles up to 2048 px."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    tok = make_tokenizer(("<image>", "<fake_token_around_image>", "<global-img>"))
    text = dict(
        model_type="llama",
        vocab_size=vocab or 49280,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=layers or 30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        tie_word_embeddings=False,
    )
    vision = dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=vision_layers or 12,
        num_attention_heads=12,
        image_size=512,
        patch_size=16,
    )
    ids = _ids(tok, image_token_id="<image>")
    config = Idefics3Config(text_config=text, vision_config=vision, scale_factor=4, **ids)
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=True,
        size={"longest_edge": 4 * 512},
        max_image_size={"longest_edge": 512},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_len=64,
        chat_template=tok.chat_template,
    )
    return Idefics3ForConditionalGeneration(config), processor


ONEVISION_PINPOINTS = [[384 * a, 384 * b] for a in range(1, 7) for b in range(1, 7)]


def llava_ov_05b(layers: int | None, vision_layers: int | None, vocab: int | None = None):
    """LLaVA-OneVision-0.5B: SigLIP-so400m at 384 px (729 tokens a view), anyres_max_9 over
    6 x 6 pinpoints with newline tokens, Qwen2-0.5B decoder (24 x 14 heads, 2 KV heads)."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        LlavaOnevisionProcessor,
        SiglipVisionConfig,
    )

    tok = make_tokenizer(("<image>", "<video>"))
    text = dict(
        model_type="qwen2",
        vocab_size=vocab or 152000,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=layers or 24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True,
    )
    vision = SiglipVisionConfig(
        **SIGLIP_SO400M, num_hidden_layers=vision_layers or 26, image_size=384, patch_size=14
    )
    config = LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
        image_grid_pinpoints=ONEVISION_PINPOINTS,
        **_ids(tok, image_token_index="<image>", video_token_index="<video>"),
    )
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": 384, "width": 384}, image_grid_pinpoints=ONEVISION_PINPOINTS
    )
    processor = image_only(LlavaOnevisionProcessor)(
        image_processor=image_processor,
        tokenizer=tok,
        chat_template=tok.chat_template,
        num_image_tokens=729,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
    )
    return LlavaOnevisionForConditionalGeneration(config), processor


def qwen2_vl_2b(layers: int | None, vision_layers: int | None, vocab: int | None = None):
    """Qwen2-VL-2B-Instruct: 675 M-parameter ViT (32 x 1280, patch 14, 2 x 2 merge), Qwen2-1.5B
    decoder (28 x 12 heads, 2 KV heads), M-RoPE; 4 .. 16,384 image tokens by its pixel bounds."""
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
        Qwen2VLProcessor,
    )

    specials = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    tok = make_tokenizer(specials, "<|vision_start|><|image_pad|><|vision_end|>")
    text = dict(
        vocab_size=vocab or 151936,
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=layers or 28,
        num_attention_heads=12,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 1000000.0,
            "mrope_section": [16, 24, 24],
        },
        tie_word_embeddings=True,
    )
    vision = dict(
        depth=vision_layers or 32,
        embed_dim=1280,
        hidden_size=1536,
        num_heads=16,
        mlp_ratio=4,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    ids = _ids(
        tok,
        vision_start_token_id="<|vision_start|>",
        vision_end_token_id="<|vision_end|>",
        image_token_id="<|image_pad|>",
        video_token_id="<|video_pad|>",
    )
    config = Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=56 * 56, max_pixels=28 * 28 * 16384, patch_size=14, merge_size=2
    )
    processor = image_only(Qwen2VLProcessor)(
        image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template
    )
    return Qwen2VLForConditionalGeneration(config), processor


def paligemma_3b(layers: int | None, vision_layers: int | None, vocab: int | None = None):
    """PaliGemma-3B (pt-224): SigLIP-so400m at 224 px (256 tokens), linear projector, Gemma-2B
    decoder (18 x 8 heads, 1 KV head, head_dim 256), prefix-LM; no chat template."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )

    tok = _gemma_tokenizer(("<image>",), image_token="<image>")
    tok.chat_template = None
    image_processor = SiglipImageProcessorPil(size={"height": 224, "width": 224})
    image_processor.image_seq_length = 256
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)
    vision = dict(
        model_type="siglip_vision_model",
        **SIGLIP_SO400M,
        num_hidden_layers=vision_layers or 27,
        image_size=224,
        patch_size=14,
        projection_dim=2048,
    )
    text = dict(
        model_type="gemma",
        vocab_size=vocab or 257216,
        hidden_size=2048,
        intermediate_size=16384,
        num_hidden_layers=layers or 18,
        num_attention_heads=8,
        num_key_value_heads=1,
        head_dim=256,
        pad_token_id=tok.pad_token_id,
    )
    config = PaliGemmaConfig(
        vision_config=vision,
        text_config=text,
        projection_dim=2048,
        hidden_size=2048,
        **_ids(tok, image_token_index="<image>"),
    )
    return PaliGemmaForConditionalGeneration(config), processor


def gemma3_4b(layers: int | None, vision_layers: int | None, vocab: int | None = None):
    """Gemma3-4B-it: SigLIP-so400m at 896 px pooled to 256 tokens, Gemma3 decoder (34 x 8
    heads, 4 KV heads, head_dim 256, 5 sliding-window layers to 1 global)."""
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
    vision = dict(
        model_type="siglip_vision_model",
        **SIGLIP_SO400M,
        num_hidden_layers=vision_layers or 27,
        image_size=896,
        patch_size=14,
    )
    text = dict(
        vocab_size=vocab or 262208,
        hidden_size=2560,
        intermediate_size=10240,
        num_hidden_layers=layers or 34,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=1024,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    config = Gemma3Config(
        vision_config=vision,
        text_config=text,
        mm_tokens_per_image=256,
        **_ids(
            tok,
            boi_token_index="<start_of_image>",
            eoi_token_index="<end_of_image>",
            image_token_index="<image_soft_token>",
        ),
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": 896, "width": 896})
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=256,
        chat_template=tok.chat_template,
    )
    return Gemma3ForConditionalGeneration(config), processor


BUILDERS: dict[str, Callable] = {
    "smolvlm-256m": smolvlm_256m,
    "llava-ov-0.5b": llava_ov_05b,
    "qwen2-vl-2b": qwen2_vl_2b,
    "paligemma-3b": paligemma_3b,
    "gemma3-4b": gemma3_4b,
}


def folder_for(
    name: str, layers: int | None = None, vision_layers: int | None = None, vocab: int | None = None
) -> Path:
    suffix = (f"-t{layers}" if layers else "") + (f"-v{vision_layers}" if vision_layers else "")
    suffix += f"-w{vocab}" if vocab else ""
    return cache_root() / "real-size" / f"{name}{suffix}"


def build(
    name: str,
    layers: int | None = None,
    vision_layers: int | None = None,
    seed: int = 0,
    vocab: int | None = None,
) -> Path:
    """The folder of `name` built at its published config with random weights (bf16 on disk;
    `savs.load_model` loads it in fp32 on CPU), built once and reused. `vocab`: a smaller
    vocabulary for tests (the embedding is most of a CI build's size; the small tokenizer's ids
    all fit), the widths and layouts staying real."""
    folder = folder_for(name, layers, vision_layers, vocab)
    if (folder / DONE).is_file():
        return folder
    torch.manual_seed(seed)
    model, processor = BUILDERS[name](layers, vision_layers, vocab)
    params = sum(p.numel() for p in model.parameters())
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(folder)
    processor.save_pretrained(folder)
    info = {"name": name, "parameters": params, "layers": layers, "vision_layers": vision_layers}
    info["vocab"] = vocab
    (folder / DONE).write_text(json.dumps(info) + "\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="smolvlm-256m", help=", ".join(BUILDERS))
    parser.add_argument("--layers", type=int, help="keep the first N text layers (CI)")
    parser.add_argument("--vision-layers", type=int, help="keep the first N vision layers (CI)")
    parser.add_argument("--vocab", type=int, help="a smaller vocabulary (tests); widths stay real")
    args = parser.parse_args(argv)
    for name in args.models.split(","):
        folder = build(name.strip(), args.layers, args.vision_layers, vocab=args.vocab)
        print(json.loads((folder / DONE).read_text()) | {"folder": str(folder)})


if __name__ == "__main__":
    main()
