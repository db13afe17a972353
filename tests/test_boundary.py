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

ROOT = Path(__file__).resolve().parents[1]

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
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "savs").rglob("*.py"))
        if pattern.search(p.read_text("utf-8"))
    ]
    assert offenders == [], offenders
    assert not (ROOT / "savs" / "pool.py").exists()
