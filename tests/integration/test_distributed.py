"""`accelerate launch` with two CPU processes (gloo) gives the same fit as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from savs.classifier import SAVClassifier

import tiny_models

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A tiny LLaVA saved with save_pretrained + a 3-class train / test set of 24 images."""
    tmp = tmp_path_factory.mktemp("dist")
    model, processor = tiny_models.llava()
    model.save_pretrained(tmp / "model")
    processor.save_pretrained(tmp / "model")
    (tmp / "images").mkdir()
    colours = {"red": (200, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 210)}
    for split, count in (("train", 5), ("test", 3)):
        lines = []
        for name, rgb in colours.items():
            for i in range(count):
                shade = tuple(min(255, c + 9 * i) for c in rgb)
                path = tmp / "images" / f"{split}_{name}_{i}.png"
                Image.new("RGB", (20 + 3 * i, 24), shade).save(path)
                question = "What colour is it?" + " Answer in one word." * (i % 3)
                lines.append(
                    json.dumps(
                        {"image": f"images/{path.name}", "question": question, "label": name}
                    )
                )
        (tmp / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return tmp


def _fit(workspace: Path, out: str, launcher: list[str]) -> dict:
    cmd = [
        *launcher,
        "savs",
        "fit",
        "--model",
        str(workspace / "model"),
        "--train",
        str(workspace / "train.jsonl"),
        "--test",
        str(workspace / "test.jsonl"),
        "--heads",
        "5",
        "--batch-size",
        "2",
        "--out",
        str(workspace / out),
        "--json",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, f"expected one JSON line (main process only), got {proc.stdout!r}"
    return json.loads(lines[0])


@pytest.mark.slow
def test_two_processes_match_one(workspace):
    single = _fit(workspace, "single", [sys.executable, "-m"])
    double = _fit(
        workspace,
        "double",
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            "29533",
            "-m",
        ],
    )
    assert (single["processes"], double["processes"]) == (1, 2)
    for key in ("labels", "top_heads", "head_scores", "train_accuracy", "test_accuracy"):
        assert single[key] == double[key], key
    a = SAVClassifier.load(workspace / "single")
    b = SAVClassifier.load(workspace / "double")
    assert a.heads == b.heads and a.labels == b.labels
    assert (a.means - b.means).abs().max() < 1e-6


@pytest.mark.integration
def test_device_map_split_model_reads_every_layer(workspace, tmp_path):
    """A model split by accelerate (some layers in memory, the rest offloaded to disk, as a model
    larger than one GPU would be split across devices) gives the same activations."""
    from savs import Example, load_model

    whole = load_model(str(workspace / "model"))
    split = load_model(
        str(workspace / "model"),
        device_map="auto",
        max_memory={"cpu": "600KB"},
        offload_folder=str(tmp_path / "offload"),
    )
    placements = set(split.model.hf_device_map.values())
    assert {"cpu", "disk"} <= placements, split.model.hf_device_map
    image = next((workspace / "images").glob("train_red_*.png"))
    examples = [
        Example(text="What colour is it?", images=(str(image),)),
        Example(text="A question without an image, a little longer."),
    ]
    a = split.read_heads(split.encode(examples))  # [2, L, H, d]
    b = whole.read_heads(whole.encode(examples))
    assert a.shape == (2, whole.num_layers, whole.num_heads, whole.head_dim)
    assert a.abs().sum(dim=(0, 2, 3)).min() > 0  # every layer was read
    assert (a - b).abs().max() < 1e-5
