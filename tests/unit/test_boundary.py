"""The method library stands on its own: importing every `savs` module never imports gradio or
the app (`studio`, its model pool, `app`), and `import savs` alone does not import plotly (only
`savs.plots` does)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib, json, pkgutil, sys
import savs
core = {name: name in sys.modules for name in ("plotly", "gradio")}
for info in pkgutil.walk_packages(savs.__path__, "savs."):
    importlib.import_module(info.name)
app = [m for m in sys.modules if m == "gradio" or m.startswith(("gradio.", "studio.", "app"))
       or m in ("studio", "app") or m.endswith(".pool")]
print(json.dumps({"core": core, "app": sorted(app)}))
"""


def test_no_savs_module_imports_gradio_or_the_app_and_the_core_needs_no_plotly():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["app"] == []
    assert seen["core"] == {"plotly": False, "gradio": False}


def test_no_savs_source_names_the_app_or_the_pool():
    """The import probe sees what runs; this sees what a deferred import inside a function would
    pull in later: no `savs` file imports `studio`, `app`, gradio or a pool module."""
    pattern = re.compile(
        r"^\s*(from|import)\s+(studio|app|gradio|ui)\b|^\s*from\s+\.+\s*import\s+pool\b"
        r"|^\s*(from|import)\s+[\w.]*\bpool\b",
        re.M,
    )
    # savs/space_template/app.py is the app an exported Space runs: a file export_space copies
    # into the Space's folder, never imported by savs (checked below)
    template = ROOT / "savs" / "space_template"
    sources = [p for p in sorted((ROOT / "savs").rglob("*.py")) if template not in p.parents]
    offenders = [str(p.relative_to(ROOT)) for p in sources if pattern.search(p.read_text("utf-8"))]
    assert offenders == [], offenders
    assert not any("space_template import" in p.read_text("utf-8") for p in sources)
    assert not (ROOT / "savs" / "pool.py").exists()


def test_the_readme_layout_names_every_app_module():
    """README's Layout section is where a newcomer finds their room: every module of the app
    wing is listed there, and no path named there as the app's is gone."""
    readme = (ROOT / "README.md").read_text("utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    app_part = layout.split("studio/ ", 1)[1].split("\nassets/", 1)[0]
    modules = sorted(p.name for p in (ROOT / "studio").rglob("*.py") if p.name != "__init__.py")
    assert modules, "studio/ holds the app"
    missing = [m for m in modules if m not in app_part]
    assert missing == [], missing
    named = set(re.findall(r"(?<![/\w])(\w+\.py)\b", app_part))  # savs/x.py: the library's
    gone = sorted(named - set(modules))
    assert gone == [], gone
    assert not (ROOT / "ui").exists() and "ui/" not in layout


def test_savs_plots_without_plotly_says_which_extra_to_install():
    """plotly is the [plots] extra: importing savs.plots without it names the extra."""
    probe = (
        "import sys; sys.modules['plotly'] = None\n"
        "try:\n    import savs.plots\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "pip install 'savs[plots]'" in out.stdout, out.stdout + out.stderr
