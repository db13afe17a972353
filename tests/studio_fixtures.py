"""Builders shared by the studio, app and browser tests: a tiny random LLaVA saved as a model
folder (what `savs.load_model(folder)` and `python app.py --model FOLDER` read), and a small
generated example task in the bundled layout (<root>/<task>/{train,test}.jsonl + images/)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

import tiny_models

TASK_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
TASK_QUESTION = "What colour is the shape?"


def save_tiny_llava(folder: Path) -> Path:
    """The tiny random LLaVA of tiny_models, saved with its processor (offline)."""
    model, processor = tiny_models.llava()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def upload(path: Path) -> str:
    """A copy of `path`, as gradio hands a callback an upload (callbacks delete their uploads)."""
    copy = Path(tempfile.mkdtemp(prefix="upload-")) / Path(path).name
    shutil.copyfile(path, copy)
    return str(copy)


def bomb_png(folder: Path, side: int = 13_000) -> Path:
    """169 M pixels (13,000 x 13,000) in a few kB: one bit per pixel, all black."""
    path = folder / "bomb.png"
    Image.new("1", (side, side)).save(path)
    return path


def many_frames_gif(folder: Path, frames: int = 100, side: int = 1200) -> Path:
    """100 solid 1200 x 1200 frames (144 M pixels in all) in about 220 kB; frame 0 is red."""
    path = folder / "frames.gif"
    palette = [220, 30, 30] + [c for i in range(255) for c in (30, 40, i)]
    images = []
    for i in range(frames):  # palette frames: no quantising, so this takes well under a second
        frame = Image.new("P", (side, side), min(i, 255))
        frame.putpalette(palette)
        images.append(frame)
    images[0].save(path, save_all=True, append_images=images[1:], duration=40)
    return path


def eps_named_gif(folder: Path) -> Path:
    """An EPS file under a .gif name: Pillow's EPS plugin would hand it to Ghostscript."""
    path = folder / "x.gif"
    Image.new("RGB", (8, 8)).save(path, "EPS")
    return path


def colour_image(rgb: tuple[int, int, int], i: int, size: int = 32) -> Image.Image:
    """A solid square in a slightly different shade for each i."""
    shade = tuple(max(0, min(255, c + 9 * (i % 5) - 18)) for c in rgb)
    return Image.new("RGB", (size, size), shade)


def make_colour_task(root: Path, name: str = "colours", n_train: int = 4, n_test: int = 2) -> Path:
    """<root>/<name>/{train,test}.jsonl with solid-colour PNGs; returns the task folder."""
    folder = root / name
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        rows = []
        for label, rgb in TASK_COLOURS.items():
            for i in range(n):
                rel = f"images/{split}_{label}_{i}.png"
                colour_image(rgb, i + (0 if split == "train" else 7)).save(folder / rel)
                rows.append({"image": rel, "question": TASK_QUESTION, "label": label})
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


@contextmanager
def app_on_tiny_model(root: Path) -> Iterator:
    """app.py with the tiny random LLaVA loaded and a generated example task as the examples
    root (SAVS_EXAMPLES); the environment is restored afterwards."""
    import pytest

    model_dir = save_tiny_llava(root / "tiny-llava")
    make_colour_task(root / "examples")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAVS_EXAMPLES", str(root / "examples"))
    try:
        import app

        app.start(str(model_dir))
        app.CACHE.clear()
        yield app
    finally:
        mp.undo()


@contextmanager
def launched(app) -> Iterator[str]:
    """The app's page served from this process on 127.0.0.1 (a free port): its URL."""
    demo = app.build_demo()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.launch_kwargs()
    )
    try:
        yield url
    finally:
        demo.close()


@contextmanager
def served_with_text_model(root: Path, prepare=None) -> Iterator[tuple[str, str]]:
    """(url, text-model folder): `app_on_tiny_model` served from this process, the tiny text LM
    saved to a folder and listed as an operator model; `prepare(app)` runs before the launch."""
    import pytest

    text_dir = root / "tiny-text"
    model, tokenizer = tiny_models.qwen2_lm()
    model.save_pretrained(text_dir)
    tokenizer.save_pretrained(text_dir)
    mp = pytest.MonkeyPatch()
    with app_on_tiny_model(root) as app:
        if prepare is not None:
            prepare(app)
        mp.setenv("SAVS_ALLOWED_MODELS", f"{app.START['model']},{text_dir}")
        try:
            with launched(app) as url:
                yield url, str(text_dir)
        finally:
            mp.undo()


ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(root: Path, start_timeout: float = 90, **env_extra: str) -> Iterator[tuple]:
    """`python app.py` on the tiny random LLaVA as its own process on 127.0.0.1 (so its memory
    can be read from /proc without the test's own); yields (url, pid), stops it afterwards."""
    model_dir = save_tiny_llava(root / "tiny-llava")
    port = free_port()
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        SAVS_EXAMPLES=str(root / "no-examples"),
        OMP_NUM_THREADS="1",
        # a fixed mmap threshold returns freed image buffers to the OS, so RSS shows what
        # is still held, not glibc's dynamic threshold keeping freed blocks in its arenas
        MALLOC_MMAP_THRESHOLD_="131072",
        # Gradio frees a closed session's state after 1 s instead of an hour
        GRADIO_IS_E2E_TEST="1",
        **env_extra,
    )
    with open(root / "app.log", "w+") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "--model",
                str(model_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_answering(f"http://127.0.0.1:{port}/", proc, log, start_timeout)
            yield f"http://127.0.0.1:{port}/", proc.pid
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """A server process ended: asked first, killed if it does not end within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def wait_until_answering(url: str, proc: subprocess.Popen, log, timeout: float) -> None:
    """Until `url` answers 200; fails with the end of `log` if the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"app exited with {proc.returncode}:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"app did not answer on {url} in {timeout} s")
        time.sleep(0.5)


def no_progress(*args, **kwargs) -> None:
    """A gr.Progress stand-in for callbacks called in-process."""
    return None


def app_fitted_studio(app, k: int = 4):
    """A Studio through the app's own callbacks (page load, the colour task, Extract with k
    heads): what a person who clicked through the first steps has."""
    from studio.actions import Studio

    studio = Studio()
    app.on_page_load(studio, None)
    app.load_task_cb(studio, "colours")
    app.extract_cb(studio, TASK_QUESTION, k, "loo", no_progress)
    return studio


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (no psutil needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")
