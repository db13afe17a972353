"""What `pip install -r requirements.txt` and `pip install .` give must run: requirements.txt pins
exactly the versions installed here (where the tests run), pyproject accepts those pins, the
README front matter fits the Hugging Face Hub's limits, and (slow) a wheel built from this tree,
installed offline into a fresh venv, fits the bundled `tiny` model on an example task that it
ships, from another folder."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# everything the app and library import, and what requirements.txt must therefore pin
MUST_PIN = {"torch", "transformers", "gradio", "accelerate", "plotly", "safetensors", "pillow",
            "numpy", "gguf", "tqdm", "num2words"}
HUB_COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


def pins() -> dict[str, Requirement]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[req.name.lower()] = req
    return out


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with YAML front matter"
    fields = {}
    for line in match.group(1).splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip().strip('"')
    return fields


@pytest.mark.unit
def test_requirements_pin_exactly_what_is_installed():
    found = pins()
    assert MUST_PIN <= set(found), f"not pinned: {sorted(MUST_PIN - set(found))}"
    for name, req in found.items():
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{name}: pin one exact version"
        installed = Version(importlib.metadata.version(name))
        # a local build label (torch 2.13.0+cpu) is the same release as its pin
        assert Version(installed.public) == Version(specs[0].version), (
            f"requirements.txt pins {name}=={specs[0].version} but the tests ran with {installed}")


@pytest.mark.unit
def test_pyproject_accepts_the_pinned_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [
        dep for deps in project["optional-dependencies"].values() for dep in deps]
    found = pins()
    for line in declared:
        req = Requirement(line)
        if req.name.lower() in found:
            pinned = next(iter(found[req.name.lower()].specifier)).version
            assert req.specifier.contains(pinned), f"pyproject {line} excludes the pin {pinned}"


@pytest.mark.unit
def test_readme_front_matter_fits_the_hub():
    fields = front_matter()
    assert 0 < len(fields["short_description"]) <= 60, fields["short_description"]
    assert fields["sdk"] == "gradio" and (ROOT / fields["app_file"]).is_file()
    assert fields["sdk_version"] == next(iter(pins()["gradio"].specifier)).version
    assert {fields["colorFrom"], fields["colorTo"]} <= HUB_COLOURS
    assert re.fullmatch(r"3\.\d+", fields["python_version"])


@pytest.mark.unit
def test_readme_says_how_to_install_and_run():
    text = (ROOT / "README.md").read_text()
    assert "python -m venv .venv" in text
    assert "python app.py --port 7860" in text
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert f"torch=={next(iter(pins()['torch'].specifier)).version}" in text


def _copy_tree(destination: Path) -> Path:
    """This checkout without build leftovers, git data or caches (a stale build/ would leak
    files into the wheel)."""
    ignore = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                    ".venv", "test-artifacts", ".savs_cache", ".pytest_cache")
    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


@pytest.mark.slow
def test_wheel_installed_offline_fits_tiny_from_its_own_assets(tmp_path):
    source = _copy_tree(tmp_path / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SAVS_ASSETS")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    run = dict(env=env, capture_output=True, text=True, timeout=600)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                            "--no-build-isolation", "-w", str(tmp_path / "dist")], **run)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("savs-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, **run)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--no-deps",
                                str(wheel)], **run)
    assert installed.returncode == 0, installed.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(python), "-c", "import savs, savs.models.registry as r; "
                            "print(savs.__file__); print(r.ASSETS)"], cwd=elsewhere, **run)
    package_file, assets = where.stdout.split()
    assert Path(package_file).is_relative_to(venv), package_file  # not this checkout
    assets = Path(assets)
    assert assets == Path(package_file).parent / "assets"
    assert (assets / "tiny" / "model.safetensors").is_file()

    task = assets / "examples" / "colour"
    fit = subprocess.run([str(python), "-m", "savs", "fit", "--model", "tiny", "--train",
                          str(task / "train.jsonl"), "--test", str(task / "test.jsonl"),
                          "--out", "clf", "--json"], cwd=elsewhere, **run)
    assert fit.returncode == 0, fit.stderr[-2000:]
    result = json.loads(fit.stdout)
    assert result["model"] == "tiny" and result["test_accuracy"] >= 0.95
    assert (elsewhere / "clf").exists()
