"""Many users at once: 8 concurrent gradio_client sessions against the running app (issue 7).

The app runs as its own process (`python app.py --model FOLDER --port P` on 127.0.0.1, the tiny
random LLaVA of studio_fixtures), so its memory can be read from /proc without the test's own
allocations. Each session builds its own two-class classifier whose labels carry the session
number ("s3-red"); colours are shared between sessions (so the content-keyed activation cache is
shared too) while label names are not, so any cross-session leak shows up as a foreign label.
Some sessions also send one bad request (corrupt image, non-image file, classify before
extract, unknown model, oversized prompt) and must keep their own data; the others must not
notice. Several rounds of sessions run, and the server's RSS must stop growing.

A second, in-process test covers what the shared activation cache does under load: a session's
fresh activations dropped (bounded cache) before extraction reads them back.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from savs.limits import HOSTED_TEXT_CHARS

import studio_fixtures as sf

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 8
ROUNDS = 3
REQUEST_TIMEOUT = 60  # seconds for any one request (they queue behind one model slot)
START_TIMEOUT = 90  # seconds for the app process to answer
TEST_BUDGET = 120  # seconds for all rounds together
RSS_GROWTH_LIMIT_MB = 300  # from a started app to after the last round
LAST_ROUND_GROWTH_LIMIT_MB = 40  # measured: about 5-10 MB; sessions kept alive add about 70
PROMPT = "What colour is the shape?"
N_TRAIN = 4  # images per class
IMAGE_SIDE = 512  # a session left in memory holds 8 of these: about 70 MB a round, visible
PALETTE = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 40),
    "cyan": (40, 210, 220),
    "magenta": (210, 40, 200),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
}
# one bad request for every other session, each kind once per round
BAD_REQUESTS = {
    1: "corrupt_image",
    3: "not_an_image",
    5: "classify_before_extract",
    6: "unknown_model",
    7: "oversized_prompt",
}


def session_colours(i: int) -> list[str]:
    """Two colours per session; every colour is used by two sessions under different labels."""
    names = list(PALETTE)
    return [names[i % len(names)], names[(i + 3) % len(names)]]


def label(i: int, colour: str) -> str:
    return f"s{i}-{colour}"


ALL_LABELS = {label(i, c) for i in range(SESSIONS) for c in session_colours(i)}


def image(colour: str, shade: int):
    return sf.colour_image(PALETTE[colour], shade, size=IMAGE_SIDE)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app as a subprocess on loopback; yields (url, pid)."""
    root = tmp_path_factory.mktemp("load")
    with sf.app_server(root, START_TIMEOUT) as served:
        yield served


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Per session: a class-folder dataset zip and one held-out image per class; plus the
    bad files."""
    root = tmp_path_factory.mktemp("inputs")
    out: dict = {}
    for i in range(SESSIONS):
        folder = root / f"s{i}"
        folder.mkdir()
        zpath = folder / "train.zip"
        with zipfile.ZipFile(zpath, "w") as zf:
            for colour in session_colours(i):
                for n in range(N_TRAIN):
                    png = folder / f"{colour}_{n}.png"
                    image(colour, n).save(png)
                    zf.write(png, f"{label(i, colour)}/{n}.png")
        held_out = {}
        for colour in session_colours(i):
            path = folder / f"held_out_{colour}.png"
            image(colour, N_TRAIN).save(path)  # a shade no training image has
            held_out[label(i, colour)] = path
        out[i] = {"train": zpath, "held_out": held_out}
    good_png = root / "good.png"
    image("red", 0).save(good_png)
    corrupt = root / "corrupt.zip"
    with zipfile.ZipFile(corrupt, "w") as zf:
        zf.write(good_png, "other-a/ok.png")
        zf.writestr("other-a/broken.png", good_png.read_bytes()[:40])  # truncated PNG
        zf.write(good_png, "other-b/ok.png")
    notes = root / "notes.png"  # an image by name only
    notes.write_text("these are notes, not pixels\n")
    out["corrupt_zip"], out["not_an_image"] = corrupt, notes
    return out


def call(client: Client, *args, api_name: str):
    """One request with a time limit."""
    return client.submit(*args, api_name=api_name).result(timeout=REQUEST_TIMEOUT)


def call_fails(client: Client, *args, api_name: str, match: str) -> str:
    """A request that must fail with an error mentioning `match`; returns the message."""
    try:
        out = call(client, *args, api_name=api_name)
    except AppError as exc:  # a gr.Error, or Gradio's generic message for any other error
        message = str(exc)
        assert match.lower() in message.lower(), f"{api_name}: {message!r} lacks {match!r}"
        return message
    raise AssertionError(f"{api_name} should have failed ({match}), returned {out!r}")


def own_labels_only(i: int, output, where: str) -> None:
    """Every label in `output` belongs to session i."""
    text = json.dumps(output, default=str)
    others = ALL_LABELS - {label(i, c) for c in session_colours(i)}
    foreign = sorted(lab for lab in others if lab in text)
    assert not foreign, f"session {i} {where}: sees labels of other sessions {foreign}"


def classify_all(client: Client, i: int, held_out: dict) -> dict[str, str]:
    """Classify each held-out image; every answer must be session i's correct label."""
    predicted = {}
    for true, path in held_out.items():
        lab, bars, votes_map, timing = call(client, handle_file(path), "", api_name="/classify")
        assert {c["label"] for c in lab["confidences"]} == set(held_out), lab
        own_labels_only(i, [lab, bars, votes_map, timing], "classify")
        predicted[true] = lab["label"]
    assert predicted == {t: t for t in held_out}, f"session {i}: {predicted}"
    return predicted


def check_intact(client: Client, i: int, held_out: dict) -> None:
    """The session still holds its 2 classes x N_TRAIN examples, its cached activations (refit
    works without the model) and its classifier (same answers)."""
    heatmap, rows, line, summary = call(client, 4, "loo", api_name="/refit")
    assert summary.startswith(f"2 classes, {2 * N_TRAIN} examples; classifier: top 4 heads"), (
        summary
    )
    own_labels_only(i, [heatmap, rows, line, summary], "refit")
    classify_all(client, i, held_out)


def bad_request(kind: str, client: Client, i: int, inputs: dict) -> None:
    """One failing request of `kind` by a session that already has a classifier."""
    if kind == "corrupt_image":
        call_fails(
            client,
            handle_file(inputs["corrupt_zip"]),
            api_name="/import_dataset",
            match="broken.png",
        )
    elif kind == "not_an_image":  # reaches our loader undecoded, which names the file
        call_fails(
            client,
            handle_file(inputs["not_an_image"]),
            "",
            api_name="/classify",
            match="not a readable image",
        )
    elif kind == "unknown_model":
        call_fails(
            client,
            f"no-such-org/no-such-model-{i}",
            api_name="/load_model",
            match="could not load model",
        )
    elif kind == "oversized_prompt":
        call_fails(
            client,
            "x" * (HOSTED_TEXT_CHARS + 1),
            4,
            "loo",
            api_name="/extract",
            match=f"limit is {HOSTED_TEXT_CHARS:,}",
        )
    else:
        raise AssertionError(kind)


def run_session(i: int, url: str, inputs: dict, start: threading.Barrier) -> float:
    """One user's whole visit; returns its seconds."""
    data = inputs[i]
    own = {label(i, c) for c in session_colours(i)}
    client = Client(url, verbose=False)
    try:
        start.wait(timeout=REQUEST_TIMEOUT)
        began = time.monotonic()
        out = call(client, handle_file(data["train"]), api_name="/import_dataset")
        assert out[-1] == f"2 classes, {2 * N_TRAIN} examples", out[-1]
        own_labels_only(i, out, "import")  # (its own labels show in classify and the export)
        kind = BAD_REQUESTS.get(i)
        if kind == "classify_before_extract":
            call_fails(
                client,
                handle_file(next(iter(data["held_out"].values()))),
                "",
                api_name="/classify",
                match="no classifier yet",
            )
        heatmap, rows, line, summary = call(client, PROMPT, 4, "loo", api_name="/extract")
        assert "fit accuracy" in line and summary.startswith(f"2 classes, {2 * N_TRAIN}"), line
        own_labels_only(i, [heatmap, rows, line, summary], "extract")
        classify_all(client, i, data["held_out"])
        if kind and kind != "classify_before_extract":
            bad_request(kind, client, i, inputs)
            check_intact(client, i, data["held_out"])
        exported = call(client, api_name="/export_dataset")
        with zipfile.ZipFile(exported) as zf:
            rows = [json.loads(line) for line in zf.read("data.jsonl").decode().splitlines()]
            meta = json.loads(zf.read("studio.json"))
        assert sorted(r["label"] for r in rows) == sorted(list(own) * N_TRAIN), rows
        assert set(meta["classes"]) == own and meta["prompt"] == PROMPT, meta
        return time.monotonic() - began
    finally:
        client.close()


def run_round(url: str, inputs: dict) -> list[float]:
    start = threading.Barrier(SESSIONS)
    with ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(run_session, i, url, inputs, start) for i in range(SESSIONS)]
        return [f.result(timeout=TEST_BUDGET) for f in futures]


@pytest.mark.timeout(TEST_BUDGET + START_TIMEOUT + 60)
def test_eight_concurrent_sessions_keep_their_own_data(server, inputs):
    url, pid = server
    assert url.startswith("http://127.0.0.1:")  # loopback only
    began = time.monotonic()
    rss = [sf.rss_mb(pid)]
    seconds = []
    for _ in range(ROUNDS):
        seconds.append(run_round(url, inputs))
        time.sleep(3)  # closed sessions' state is freed after 1 s (GRADIO_IS_E2E_TEST)
        rss.append(sf.rss_mb(pid))
    elapsed = time.monotonic() - began
    report = (
        f"{ROUNDS} rounds x {SESSIONS} sessions in {elapsed:.1f} s; slowest session per "
        f"round {[round(max(s), 1) for s in seconds]} s; RSS MB "
        f"{[round(r) for r in rss]}"
    )
    print(report)
    assert elapsed < TEST_BUDGET, report
    assert rss[-1] - rss[0] < RSS_GROWTH_LIMIT_MB, report
    assert rss[-1] - rss[-2] < LAST_ROUND_GROWTH_LIMIT_MB, report


def test_extract_and_refit_survive_activations_dropped_from_the_shared_cache(tmp_path, monkeypatch):
    """The activation cache is shared by all sessions and bounded in bytes: another session's
    extraction (or a session larger than the cache) can drop a session's activations. It is
    only an accelerator: the session keeps its own training activations, so extract, classify
    and refit (without running the model) all still work."""
    import torch

    sys.path.insert(0, str(ROOT))
    import app
    from savs.activations import ActivationCache
    from studio.actions import Studio
    from studio.pool import ModelPool

    torch.set_num_threads(1)
    from studio import server
    from studio.steps import train as train_step

    pool = ModelPool(server.hosted_loader)
    for module in (server, train_step, sys.modules["studio.steps.classify"]):
        monkeypatch.setattr(module, "POOL", pool)
    app.start(str(sf.save_tiny_llava(tmp_path / "tiny-llava")))
    info = pool.info(app.START["model"])
    one_entry = info.num_layers * info.num_heads * info.head_dim * 4  # bytes of one [L, H, d]
    cache = ActivationCache(max_bytes=5 * one_entry)
    monkeypatch.setattr(train_step, "CACHE", cache)
    studio = Studio()
    for colour in ("red", "blue"):
        studio.add_class(colour)
        studio.add_examples(colour, [image(colour, n) for n in range(N_TRAIN)])
    assert studio.num_examples() > 5  # more than the cache holds
    studio, _, rows, line, _ = app.extract_cb(studio, PROMPT, 4, "loo", sf.no_progress)
    assert "fit accuracy" in line and len(rows) == 4, line
    assert len(cache) <= 5
    for colour in ("red", "blue"):
        held_out = tmp_path / f"{colour}.png"
        image(colour, N_TRAIN).save(held_out)
        probabilities = app.classify_cb(studio, str(held_out), "")[1]
        assert max(probabilities, key=probabilities.get) == colour, probabilities
    loads = pool.loads
    studio, _, rows, line, _ = app.refit_cb(studio, 3, "loo")
    assert len(rows) == 3 and pool.loads == loads
