"""Issue 21 against the app as its own process: a classifier .zip holding 23 MB of JSON is
refused without the server's memory growing, and a classifier whose labels hide an invisible
character or a NaN is refused naming it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file

from savs.classifier import CONFIG_FILE, TENSORS_FILE, fit_activations

import studio_fixtures as sf

pytestmark = pytest.mark.app

RSS_LIMIT_MB = 30  # the bomb's JSON, parsed and kept, cost +551 MB before issue 21


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sf.app_server(tmp_path_factory.mktemp("artifacts")) as served:
        yield served


def classifier_zip(folder: Path, name: str, edit) -> Path:
    """A valid classifier .zip whose classifier.json text went through `edit`."""
    acts = torch.randn(4, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    saved = fit_activations(acts, ["a", "a", "b", "b"], k=2, config={"model": "m"}).save(
        folder / f"{name}-folder"
    )
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.write(saved / TENSORS_FILE, TENSORS_FILE)
        zf.writestr(CONFIG_FILE, edit(json.loads((saved / CONFIG_FILE).read_text())))
    return archive


def test_a_classifier_json_bomb_costs_the_server_nothing(server, tmp_path):
    url, pid = server
    client = Client(url, verbose=False)

    def bomb(config: dict) -> str:
        return json.dumps({**config, "junk": [0] * 7_700_000})  # 23 MB

    archive = classifier_zip(tmp_path, "bomb", bomb)
    assert archive.stat().st_size < 60_000
    before = sf.rss_mb(pid)
    for _ in range(3):
        with pytest.raises(Exception, match=r"classifier\.json is larger than"):
            client.predict(handle_file(archive), api_name="/import_classifier")
    grown = sf.rss_mb(pid) - before
    assert grown < RSS_LIMIT_MB, f"server RSS grew {grown:.0f} MB"


@pytest.mark.parametrize(
    "name,edit,message",
    [
        (
            "zwsp",
            lambda c: json.dumps({**c, "labels": ["a", "a\u200b"]}),
            r"labels\[1\] .*U\+200B \(ZERO WIDTH SPACE\) at position 2",
        ),
        (
            "nan",
            lambda c: json.dumps({**c, "train_accuracy": "X"}).replace('"X"', "NaN"),
            r"NaN is not a number here",
        ),
    ],
)
def test_hostile_classifier_fields_are_refused_by_name(server, tmp_path, name, edit, message):
    url, _ = server
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match=message):
        client.predict(
            handle_file(classifier_zip(tmp_path, name, edit)), api_name="/import_classifier"
        )
