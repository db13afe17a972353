"""benchmarks/live.py against a minimal Gradio app (not app.py) that names a frame's dominant
colour: every frame is answered, answers line up with their frames, failures are counted."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageStat

from benchmarks import live

pytestmark = pytest.mark.app

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


@pytest.fixture(scope="module")
def echo_app():
    """One endpoint, /classify_frame: image in, gr.Label out ('green' frames fail on purpose)."""
    import gradio as gr

    def classify(image: Image.Image) -> dict:
        mean = ImageStat.Stat(image.convert("RGB")).mean  # [R, G, B]
        label = ["red", "green", "blue"][mean.index(max(mean))]
        if label == "green":
            raise gr.Error("green frames are refused")
        return {label: 1.0}

    with gr.Blocks() as demo:
        frame, answer = gr.Image(type="pil"), gr.Label()
        gr.Button().click(classify, frame, answer, api_name="classify_frame")
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    out = {}
    for name, rgb in COLOURS.items():
        out[name] = folder / f"{name}.png"
        Image.new("RGB", (32, 32), rgb).save(out[name])
    return out


@pytest.mark.parametrize("in_flight", [1, 3])
def test_every_frame_is_answered_in_order(echo_app, frames, in_flight):
    order = ["red", "blue", "blue", "red", "blue", "red"]
    build = live.file_inputs([frames[c] for c in order], ["{frame}"])
    result = live.measure_live(
        echo_app,
        "/classify_frame",
        build,
        n_frames=6,
        warmup=1,
        in_flight=in_flight,
        expected=order,
    )
    assert result.frames == 6 and result.errors == 0
    assert result.answers == order and result.accuracy == 1.0
    assert result.frames_per_second == pytest.approx(6 / result.seconds)
    assert 0 < result.latency_ms_median <= result.latency_ms_p90


def test_failed_frames_are_counted_not_answered(echo_app, frames):
    order = ["red", "green", "blue", "green"]
    build = live.file_inputs([frames[c] for c in order], ["{frame}"])
    result = live.measure_live(
        echo_app, "/classify_frame", build, n_frames=4, warmup=0, expected=order
    )
    assert (result.frames, result.errors) == (2, 2)
    assert result.answers == ["red", "", "blue", ""] and result.accuracy == 0.5


def test_the_command_line_prints_one_json_object(echo_app, capsys):
    assert (
        live.main(
            [
                "--url",
                echo_app,
                "--api-name",
                "/classify_frame",
                "--frames",
                "3",
                "--warmup",
                "0",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] + out["errors"] == 3 and out["frames_per_second"] > 0
    assert 0.0 <= out["accuracy"] <= 1.0


def test_first_label_reads_the_usual_outputs():
    assert live.first_label({"label": "cat", "confidences": []}) == "cat"
    assert live.first_label(("dog", None, "12 ms")) == "dog"
    assert live.first_label("bird") == "bird"
