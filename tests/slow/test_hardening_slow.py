"""The slow half of test_hardening: the million-line file the limit refuses is itself valid,
so the refusal is the limit's doing (reading it all takes about 7 s)."""

from __future__ import annotations

import pytest
from test_hardening import _million_lines

from savs.data import load_examples
from savs.limits import Limits

pytestmark = pytest.mark.slow


def test_the_million_line_file_is_valid_without_a_limit(tmp_path):
    path = _million_lines(tmp_path / "huge.jsonl")
    assert len(load_examples(path, limits=Limits(max_examples=None))) == 1_000_000
