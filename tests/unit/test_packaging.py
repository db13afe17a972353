"""What `pip install -r requirements.txt` gives must be what was tested: requirements.txt pins
exactly the versions installed here (where the tests run), pyproject accepts those pins, and the
README front matter fits the Hugging Face Hub's limits and says how to install and run.
(tests/slow/test_wheel_install.py checks what `pip install .` gives.)"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# everything the app and library import, and what requirements.txt must therefore pin
MUST_PIN = {
    "torch",
    "transformers",
    "gradio",
    "accelerate",
    "plotly",
    "safetensors",
    "pillow",
    "numpy",
    "gguf",
    "tqdm",
    "num2words",
}
HUB_COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}

pytestmark = pytest.mark.unit


def pins() -> dict[str, Requirement]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate():  # uvloop: not on Windows
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


def test_requirements_pin_exactly_what_is_installed():
    found = pins()
    assert MUST_PIN <= set(found), f"not pinned: {sorted(MUST_PIN - set(found))}"
    for name, req in found.items():
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{name}: pin one exact version"
        installed = Version(importlib.metadata.version(name))
        # a local build label (torch 2.13.0+cpu) is the same release as its pin
        assert Version(installed.public) == Version(specs[0].version), (
            f"requirements.txt pins {name}=={specs[0].version} but the tests ran with {installed}"
        )


def test_the_server_runs_on_httptools_and_uvloop():
    """uvicorn (gradio's server) takes the C HTTP parser and the libuv loop when they are
    installed (requirements.txt pins them: ~10% less server CPU per click and per frame)."""
    import uvicorn  # gradio's server (a gradio dependency)

    config = uvicorn.Config(app=lambda scope, receive, send: None)
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    loop = config.get_loop_factory()()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_pyproject_accepts_the_pinned_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [
        dep for deps in project["optional-dependencies"].values() for dep in deps
    ]
    found = pins()
    for line in declared:
        req = Requirement(line)
        if req.name.lower() in found:
            pinned = next(iter(found[req.name.lower()].specifier)).version
            assert req.specifier.contains(pinned), f"pyproject {line} excludes the pin {pinned}"


def test_the_library_alone_installs_no_app_or_figure_packages():
    """`pip install savs` is the method: gradio comes with [app], plotly with [plots] / [app]
    (only studio imports gradio, only savs.plots imports plotly: tests/unit/test_boundary.py)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        key: {Requirement(d).name for d in deps}
        for key, deps in project["optional-dependencies"].items()
    }
    assert {Requirement(d).name for d in project["dependencies"]}.isdisjoint({"gradio", "plotly"})
    assert {"gradio", "plotly"} <= names["app"] and names["plots"] == {"plotly"}


def test_readme_front_matter_fits_the_hub():
    fields = front_matter()
    assert 0 < len(fields["short_description"]) <= 60, fields["short_description"]
    assert fields["sdk"] == "gradio" and (ROOT / fields["app_file"]).is_file()
    assert fields["sdk_version"] == next(iter(pins()["gradio"].specifier)).version
    assert {fields["colorFrom"], fields["colorTo"]} <= HUB_COLOURS
    assert re.fullmatch(r"3\.\d+", fields["python_version"])


def test_readme_says_how_to_install_and_run():
    text = (ROOT / "README.md").read_text()
    assert "python -m venv .venv" in text
    assert "python app.py --port 7860" in text
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert f"torch=={next(iter(pins()['torch'].specifier)).version}" in text


def test_readme_two_commands_are_what_ci_runs():
    """The README's block is two commands (set up and run; test), the set-up script installs
    the pinned torch first (CPU index on Linux) and CI runs the same scripts in a fresh venv."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands\n\n```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == [
        "bash scripts/setup.sh && .venv/bin/python app.py --port 7860",
        "bash scripts/test.sh",
    ]
    assert "--host 0.0.0.0" in text and "SAVS_ALLOWED_MODELS" in text
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    torch_pin = f"torch=={next(iter(pins()['torch'].specifier)).version}"
    installs = [line for line in setup.splitlines() if line.startswith("pip_install ")]
    assert installs[0].startswith(f"pip_install {torch_pin} ") and "-r " in installs[1]
    assert "https://download.pytorch.org/whl/cpu" in setup
    assert ". scripts/setup.sh requirements-dev.txt" in (ROOT / "scripts" / "test.sh").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "SAVS_VENV=" in ci and "mktemp -d" in ci
    assert ci.index("bash scripts/setup.sh") < ci.index("bash scripts/test.sh")


def test_the_wheel_lists_every_package_folder():
    """setuptools ships only the packages pyproject names: a new package folder (savs/data/)
    missing there would install a library that fails on import. Every folder of savs/ and
    studio/ holding an __init__.py must be listed, and every listed one must exist."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    moved = setuptools.get("package-dir", {})  # savs.assets is ./assets (no __init__.py)
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("savs", "studio")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), f"not in pyproject's packages: {sorted(found - listed)}"
    gone = {p for p in listed - found if p not in moved}
    assert gone == set(), f"listed but no such package: {sorted(gone)}"
    assert "savs.data" in listed
