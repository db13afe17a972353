"""Which queue each model call waits in (issue 21): clicks apart from long jobs, model loads
apart from both, so neither a classroom's extractions nor a visitor's long model load hold up
a click; every one of them counts as the session's one model call."""

from __future__ import annotations

import pytest

from studio.server import (
    CLICK_QUEUE,
    CLICK_WORKERS,
    LOAD_QUEUE,
    LOAD_WORKERS,
    MODEL_GROUPS,
    MODEL_QUEUE,
    MODEL_WORKERS,
)

pytestmark = pytest.mark.app

GROUPS = {
    "classify": (CLICK_QUEUE, CLICK_WORKERS),
    "ablated_answer": (CLICK_QUEUE, CLICK_WORKERS),
    "load_model": (LOAD_QUEUE, LOAD_WORKERS),
    "import_classifier": (LOAD_QUEUE, LOAD_WORKERS),
    "extract": (MODEL_QUEUE, MODEL_WORKERS),
    "evaluate": (MODEL_QUEUE, MODEL_WORKERS),
    "evaluate_task": (MODEL_QUEUE, MODEL_WORKERS),
    "class_attention": (MODEL_QUEUE, MODEL_WORKERS),
    "try_example": (MODEL_QUEUE, MODEL_WORKERS),
}


def test_each_model_call_waits_in_its_own_kind_of_queue(app_module):
    demo = app_module.build_demo()
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name, (group, limit) in GROUPS.items():
        fn = fns[name]
        assert (fn.concurrency_id, fn.concurrency_limit) == (group, limit), name
    # the rest of the model-group members are exactly the long jobs listed
    in_groups = {n for n, fn in fns.items() if fn.concurrency_id in MODEL_GROUPS}
    assert in_groups == set(GROUPS)


def test_one_long_job_at_a_time_on_a_cpu(monkeypatch):
    """SAVS_MODEL_WORKERS, else 1 without a GPU (two extractions side by side only share the
    cores: a classroom's first clicks waited 2-3x longer, benchmarks/RESULTS.md), 4 with one."""
    import torch

    from savs.errors import ModelError
    from studio.server import model_workers

    monkeypatch.delenv("SAVS_MODEL_WORKERS", raising=False)
    assert model_workers() == (4 if torch.cuda.is_available() else 1)
    monkeypatch.setenv("SAVS_MODEL_WORKERS", "3")
    assert model_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("SAVS_MODEL_WORKERS", bad)
        with pytest.raises(ModelError, match="SAVS_MODEL_WORKERS"):
            model_workers()


@pytest.mark.parametrize("setting", ["SAVS_MODEL_WORKERS=0", "SAVS_MAX_MODELS=many"])
def test_a_bad_setting_at_start_is_one_line_not_a_traceback(setting):
    import os
    import subprocess
    import sys
    from pathlib import Path

    name, value = setting.split("=")
    root = Path(__file__).resolve().parents[2]
    for command in (["app.py"], ["-m", "studio"]):
        done = subprocess.run(
            [sys.executable, *command, "--help"],
            cwd=root,
            env=dict(os.environ, **{name: value}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip()]
        assert done.stderr.startswith(f"error: {name} must be a whole number")
