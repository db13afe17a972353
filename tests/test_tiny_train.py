"""A few steps of the tiny-model training script on a toy-sized config (never the full run)."""

import json

import pytest
import torch

from savs.tiny import train


def test_training_script_runs_and_saves(tmp_path):
    out = tmp_path / "tiny"
    argv = ["--out", str(out), "--steps", "3", "--scenes", "16", "--batch-size", "4",
            "--warmup", "1", "--log-every", "1", "--save-every", "0", "--threads", "1",
            "--hidden", "32", "--layers", "2", "--heads", "2", "--kv-heads", "1",
            "--intermediate", "64", "--vision-hidden", "32", "--vision-layers", "1",
            "--vision-heads", "2", "--vision-intermediate", "64"]
    train.main(argv)
    info = json.loads((out / "training_info.json").read_text())
    assert info["steps"] == 3 and info["config"]["layers"] == 2
    assert (out / "model.safetensors").is_file()
    assert "step 2 loss" in (out / "train_log.txt").read_text()

    from transformers import AutoModelForImageTextToText, AutoProcessor

    from savs.tiny.scenes import make_scene

    proc = AutoProcessor.from_pretrained(out)
    model = AutoModelForImageTextToText.from_pretrained(out, dtype=torch.float32)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What shape is this?"}]}]
    prompt = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[prompt], images=[make_scene(0).image], return_tensors="pt")
    with torch.inference_mode():
        out_ids = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert out_ids.shape[1] <= inputs["input_ids"].shape[1] + 2


def test_batches_put_loss_on_answers_only():
    from savs.tiny.build import TinyConfig, build_tokenizer

    cfg = TinyConfig()
    tok = build_tokenizer(cfg)
    b = train.Batcher(tok, cfg.num_image_tokens)
    ids, mask, lab = b([("What colour is the shape?", "red"), ("Describe the image.", "a red circle and a blue star")])
    assert ids.shape == lab.shape == mask.shape
    n_img = (ids[0] == tok.convert_tokens_to_ids("<image>")).sum().item()
    assert n_img == cfg.num_image_tokens
    answer0 = [t for t in lab[0].tolist() if t != -100]
    assert tok.decode(answer0) == "red<|end|>"
    assert tok.decode([t for t in lab[1].tolist() if t != -100], skip_special_tokens=True) == "a red circle and a blue star"
