"""An exported Space runs on its own (issue 25): a `tiny` classifier on the bundled `count` task
is exported with the README's command, the folder's `app.py` starts as its own process with
an empty PYTHONPATH (its own `savs` copy, not this repository's, checked inside the process),
and `/classify` gives the library's label and vote shares for held-out pictures, through
gradio_client, @gradio/client (Node, from npm) and curl, each run as the README shows it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

import savs
from savs.models.registry import ASSETS

import studio_fixtures as sf

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[2]
TASK = ASSETS / "examples" / "count"
QUESTION = "How many shapes are there?"
START_TIMEOUT_S = 120
RSS_LIMIT_MB = 100  # issue 21's bound for a hostile image on any endpoint
SERVER_PID: dict[str, int] = {}  # the exported app's process, for its RSS
CALL_TIMEOUT_S = 60
# inside the app's process, before app.py runs: the savs it imports is the folder's copy
PROBE = (
    "import pathlib, runpy, sys; import savs; here = pathlib.Path.cwd().resolve(); "
    "f = pathlib.Path(savs.__file__).resolve(); "
    "assert f.is_relative_to(here), f'savs from {f}, not {here}'; "
    f"assert not any(pathlib.Path(p or '.').resolve() == pathlib.Path({str(ROOT)!r}) "
    "for p in sys.path[1:]), sys.path; "
    "print('savs from', f, flush=True); runpy.run_path('app.py', run_name='__main__')"
)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of each block in README's "Take the classifier with you"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Take the classifier with you", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(work folder, classifier folder, Space folder): fit on `count`, export as the README."""
    work = tmp_path_factory.mktemp("export")
    model = savs.load_model("tiny", device="cpu")
    clf = savs.fit(model, savs.load_examples(TASK / "train.jsonl"), k=8)
    clf.save(work / "count-classifier")
    command = readme_blocks()[0][1].splitlines()[0]
    assert command.startswith("python -m savs export-space")
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    done = subprocess.run(
        command.replace("python", sys.executable, 1),
        shell=True,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    space = work / "count-space"
    size = sum(p.stat().st_size for p in space.rglob("*") if p.is_file())
    print(f"\nexport: {time.perf_counter() - start:.1f} s, {size / 1e6:.1f} MB; {done.stdout}")
    return work, work / "count-classifier", space


@pytest.fixture(scope="module")
def server(exported):
    """The Space's app.py on a free 127.0.0.1 port, PYTHONPATH empty; yields its URL."""
    work, _, space = exported
    port = sf.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SAVS_ASSETS", "PYTHONPATH")}
    env.update(
        PYTHONPATH="",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    with open(work / "app.log", "w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", PROBE], cwd=space, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            sf.wait_until_answering(url, proc, log, START_TIMEOUT_S)
            print(f"\nexported app answered {time.perf_counter() - start:.1f} s after start")
            log.seek(0)
            assert f"savs from {space.resolve() / 'savs'}" in log.read()
            SERVER_PID["pid"] = proc.pid
            yield url
        finally:
            sf.stop(proc)


@pytest.fixture(scope="module")
def held_out(exported):
    """Three held-out pictures and what the library says of each (whole model)."""
    _, clf_dir, _ = exported
    test = savs.load_examples(TASK / "test.jsonl")[:3]
    clf = savs.SAVClassifier.load(clf_dir)
    predictions = savs.predict(savs.load_model("tiny", device="cpu"), clf, test)
    paths = [TASK / json.loads(line)["image"] for line in (TASK / "test.jsonl").open()][:3]
    return list(zip(paths, predictions))


def picture_folder(work: Path, picture: Path, name: str) -> Path:
    folder = work / name
    folder.mkdir(exist_ok=True)
    shutil.copyfile(picture, folder / "picture.png")
    return folder


def local(code: str, url: str) -> str:
    return code.replace("http://127.0.0.1:7860", url.rstrip("/"))


def test_classify_gives_the_librarys_label_and_vote_shares(server, held_out):
    client = Client(server, verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == [
        "/classify"
    ]
    times = []
    for picture, expected in held_out:
        start = time.perf_counter()
        label, bars = client.predict(handle_file(picture), QUESTION, api_name="/classify")
        times.append(time.perf_counter() - start)
        assert label["label"] == expected.label
        shares = {c["label"]: c["confidence"] for c in label["confidences"]}
        assert shares == pytest.approx(expected.probabilities, abs=1e-9)
        assert bars["type"] == "plotly"
    print(f"\n/classify through gradio_client: {', '.join(f'{t * 1000:.0f}' for t in times)} ms")


def test_the_readme_python_example(server, held_out, exported):
    (lang, code) = readme_blocks()[1]
    picture, expected = held_out[0]
    folder = picture_folder(exported[0], picture, "python")
    done = subprocess.run(
        [sys.executable, "-c", local(code, server)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT_S,
    )
    assert lang == "python" and done.returncode == 0, done.stderr
    assert (
        done.stdout.strip().splitlines()[-1].split()[0] == expected.label
    )  # after "Loaded as API"


def test_the_readme_curl_example(server, held_out, exported):
    lang, code = readme_blocks()[3]
    picture, expected = held_out[1]
    folder = picture_folder(exported[0], picture, "curl")
    done = subprocess.run(
        ["bash", "-c", "set -e\n" + local(code, server)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT_S,
    )
    assert lang == "bash" and done.returncode == 0, done.stderr
    assert "event: complete" in done.stdout, done.stdout
    data = next(line for line in done.stdout.splitlines() if line.startswith("data: "))
    label, bars = json.loads(data.removeprefix("data: "))
    assert label["label"] == expected.label
    shares = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert shares == pytest.approx(expected.probabilities, abs=1e-9)


JS_CLIENT = "@gradio/client@2.7.0"  # the version npm installed when the README example was written


def test_the_readme_javascript_example(server, held_out, exported):
    """The README's @gradio/client example, run by Node against the exported app (the client
    from npm, the one registry this machine reaches besides PyPI and Debian)."""
    lang, code = readme_blocks()[2]
    picture, expected = held_out[2]
    folder = picture_folder(exported[0], picture, "js")
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", JS_CLIENT],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    (folder / "classify.mjs").write_text(local(code, server))
    done = subprocess.run(
        ["node", "classify.mjs"], cwd=folder, capture_output=True, text=True, timeout=CALL_TIMEOUT_S
    )
    assert lang == "javascript" and done.returncode == 0, done.stderr
    got, confidences = done.stdout.split(maxsplit=1)
    assert got == expected.label
    shares = {c["label"]: c["confidence"] for c in json.loads(confidences)}
    assert shares == pytest.approx(expected.probabilities, abs=1e-9)


def test_hosted_limits_hold_on_the_api(server, held_out):
    client = Client(server, verbose=False)
    with pytest.raises(Exception, match="2,000"):
        client.predict(None, "x" * 2001, api_name="/classify")
    with pytest.raises(Exception, match="nothing to classify"):
        client.predict(None, "", api_name="/classify")


def test_hostile_images_are_refused_before_anything_decodes_them(server, tmp_path):
    """The exported app's image input hands files over unopened (savs.images.unopened_image):
    a 169 M-pixel PNG of a few kB is refused from its header, an EPS named .gif by its format,
    without the server's memory growing and without a server path in the message."""
    client = Client(server, verbose=False)
    before = sf.rss_mb(SERVER_PID["pid"])
    hostile = [(sf.bomb_png(tmp_path), "too large"), (sf.eps_named_gif(tmp_path), "not a readable")]
    for path, said in hostile:
        with pytest.raises(Exception) as refused:
            client.predict(handle_file(path), "", api_name="/classify")
        message = str(refused.value)
        assert said in message, message
        assert "/tmp" not in message and str(tmp_path) not in message, message
    grown = sf.rss_mb(SERVER_PID["pid"]) - before
    assert grown < RSS_LIMIT_MB, f"the exported app's RSS grew {grown:.0f} MB"


WHY_PROBE = """
import base64, json, os, runpy, shutil, sys
app = runpy.run_path("app.py", run_name="space")
label, bars, overlay, tokens = app["classify_page"](sys.argv[1], sys.argv[2])
# the webcam stream's callback, one frame, as the image box writes a data URL's bytes
box = [b for b in app["build"]().blocks.values() if getattr(b, "streaming", False)][0]
with open(sys.argv[1], "rb") as f:
    url = "data:image/png;base64," + base64.b64encode(f.read()).decode()
frame = box.preprocess(type("ImageData", (), {"url": url, "path": None})())
frame_label, frame_bars = app["classify_frame"](frame, sys.argv[2])
# the API's picture sent as a data URL too, and an upload (gradio's cache sweeps those)
sent = box.preprocess(type("ImageData", (), {"url": url, "path": None})())
upload = shutil.copyfile(sys.argv[1], "upload.png")
app["classify"](sent, sys.argv[2]), app["classify"](upload, sys.argv[2])
print(json.dumps({"label": label, "overlay": list(overlay.size), "tokens": len(tokens),
                  "layers": [app["MODEL"].num_layers, app["MODEL"].full_layers],
                  "frame": frame_label,
                  "kept": [os.path.exists(p) for p in (frame, sent, upload)]}))
"""


def test_the_page_shows_why_from_the_same_pass(exported, held_out):
    _, clf_dir, space = exported
    picture, expected = held_out[0]
    env = {k: v for k, v in os.environ.items() if k not in ("SAVS_ASSETS", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-c", WHY_PROBE, str(picture), QUESTION],
        cwd=space,
        env=dict(env, PYTHONPATH="", HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["label"] == pytest.approx(expected.probabilities, abs=1e-9)
    from PIL import Image

    assert seen["overlay"] == list(Image.open(picture).size) and seen["tokens"] > 1
    deepest = savs.SAVClassifier.load(clf_dir).deepest_layer
    assert seen["layers"] == [deepest + 1, 8]  # cut after the deepest selected layer
    # the live webcam's frames: the same answer, and each frame's file deleted after its call;
    # so is a picture the API got as a data URL (gradio's cache sweep knows only its own
    # files: such files were kept for ever), while an upload stays for that sweep
    assert seen["frame"] == pytest.approx(expected.probabilities, abs=1e-9)
    assert seen["kept"] == [False, False, True]
