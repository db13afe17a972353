"""Compare tasks through the API (gradio_client): a client keeps two fitted classifiers by name,
reads the overlap of their heads (each pair's shared heads = the intersection of the two fits'
top heads), removes one, and is refused a fifth and a nameless keep before any fit."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

import studio_fixtures as sf

pytestmark = pytest.mark.app


def heads_of(rows: dict) -> set[tuple[int, int]]:
    """(layer, head) of the top-heads table an /extract returned ([rank, layer, head, score])."""
    return {(int(r[1]), int(r[2])) for r in rows["data"]}


def test_two_tasks_kept_side_by_side_and_their_overlap_read(served):
    client = Client(served, verbose=False)
    with pytest.raises(Exception, match="no classifier yet"):
        client.predict("early", api_name="/keep_classifier")
    client.predict("colours", api_name="/load_example_task")
    _, first, _, _ = client.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")
    line, overlay, table = client.predict("", api_name="/keep_classifier")  # the task's name
    assert "**colours** (4)" in line and table["data"] == []
    _, second, _, _ = client.predict("Which colour do you see?", 6, "loo", api_name="/extract")
    line, overlay, table = client.predict("asked again", api_name="/keep_classifier")
    assert "**colours** (4)" in line and "**asked again** (6)" in line
    shared = sorted(heads_of(first) & heads_of(second))
    [row] = table["data"]
    assert row[:3] == ["colours", "asked again", len(shared)]
    assert row[3] == pytest.approx(len(shared) / len(heads_of(first) | heads_of(second)), abs=1e-3)
    assert row[4] == ", ".join(f"L{a} H{b}" for a, b in shared)
    figure = json.loads(overlay["plot"])
    names = [t.get("name") for t in figure["data"]]
    assert "colours (4)" in names and "asked again (6)" in names
    for n in range(3, 5):
        client.predict(f"t{n}", api_name="/keep_classifier")
    with pytest.raises(Exception, match="at most 4 classifiers"):
        client.predict("fifth", api_name="/keep_classifier")
    line, _, table = client.predict("colours", api_name="/remove_kept")
    assert "colours" not in line and "**asked again** (6)" in line and len(table["data"]) == 3
    # another session keeps nothing of this one's
    other = Client(served, verbose=False)
    with pytest.raises(Exception, match="no kept classifier named 't3'"):
        other.predict("t3", api_name="/remove_kept")
