"""`pip install .` gives a package that works on its own: a wheel built from this tree, installed
offline into a fresh venv (`--no-index --no-deps` for the wheel; torch and friends come from the
running interpreter's site-packages through a .pth file, so this works inside a venv too, where
`--system-site-packages` would see the base interpreter's packages instead), fits the bundled
`tiny` model on an example task from the installed package's own assets, run from another
folder."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import savs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _copy_tree(destination: Path) -> Path:
    """This checkout without build leftovers, git data or caches (a stale build/ would leak
    files into the wheel)."""
    ignore = shutil.ignore_patterns(
        ".git",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        ".venv",
        "test-artifacts",
        ".savs_cache",
        ".pytest_cache",
    )
    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


def venv_seeing_this_environment(venv: Path, run: dict) -> Path:
    """A fresh venv (its python returned) whose own site-packages come first, then those of the
    interpreter running the tests, listed in a .pth file: the packages of this environment,
    whether it is a venv or not, but never this checkout."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, **run)
    python = venv / "bin" / "python"
    ask = [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    own = Path(subprocess.run(ask, check=True, **run).stdout.strip())
    paths = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]])
    (own / "outer-environment.pth").write_text("".join(f"{p}\n" for p in paths))
    return python


def test_wheel_installed_offline_fits_tiny_from_its_own_assets(tmp_path):
    source = _copy_tree(tmp_path / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SAVS_ASSETS")}
    env.update(
        HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1"
    )
    run = dict(env=env, capture_output=True, text=True, timeout=600)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
        ],
        **run,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("savs-*.whl"))
    assert wheel.name.startswith(f"savs-{savs.__version__}-"), wheel.name  # savs/_version.py
    venv = tmp_path / "venv"
    python = venv_seeing_this_environment(venv, run)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-deps", str(wheel)], **run
    )
    assert installed.returncode == 0, installed.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import savs, savs.models.registry as r, torch;"
            "print(savs.__file__); print(r.ASSETS); print(torch.__file__)",
        ],
        cwd=elsewhere,
        **run,
    )
    package_file, assets, torch_file = where.stdout.split()
    assert Path(package_file).is_relative_to(venv), package_file  # not this checkout
    # torch is this environment's (a venv's own, not its base interpreter's)
    here = [Path(p) for p in site.getsitepackages()]
    assert any(Path(torch_file).is_relative_to(p) for p in here), (torch_file, here)
    # the app's package ships in the same wheel (its gradio comes with the [app] extra)
    app_wing = subprocess.run(
        [str(python), "-c", "import studio.steps.train as t; print(t.__file__)"],
        cwd=elsewhere,
        **run,
    )
    assert app_wing.returncode == 0, app_wing.stderr[-2000:]
    assert Path(app_wing.stdout.strip()).is_relative_to(venv), app_wing.stdout
    # and the app starts from any folder: the savs-studio command (studio.__main__:run)
    command = subprocess.run([str(venv / "bin" / "savs-studio"), "--help"], cwd=elsewhere, **run)
    assert command.returncode == 0, command.stderr[-2000:]
    assert "--max-image-tokens" in command.stdout and "--port" in command.stdout
    assets = Path(assets)
    assert assets == Path(package_file).parent / "assets"
    assert (assets / "tiny" / "model.safetensors").is_file()

    task = assets / "examples" / "colour"
    fit = subprocess.run(
        [
            str(python),
            "-m",
            "savs",
            "fit",
            "--model",
            "tiny",
            "--train",
            str(task / "train.jsonl"),
            "--test",
            str(task / "test.jsonl"),
            "--out",
            "clf",
            "--json",
        ],
        cwd=elsewhere,
        **run,
    )
    assert fit.returncode == 0, fit.stderr[-2000:]
    result = json.loads(fit.stdout)
    assert result["model"] == "tiny" and result["test_accuracy"] >= 0.95
    assert (elsewhere / "clf").exists()
