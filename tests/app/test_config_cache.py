"""studio.config_cache: a plain GET /config is answered from the config gradio built once, with
the request's own root put in, and the answer is what gradio itself sends for that request
(whatever host, forwarded host or X-Gradio-Server header a client sends)."""

from __future__ import annotations

import gradio as gr
import pytest
from fastapi.testclient import TestClient
from gradio.routes import App
from starlette.middleware import Middleware

from studio.config_cache import ConfigCache

pytestmark = pytest.mark.app

HEADERS = [
    {},
    {"host": "school.example:7860"},
    {"x-forwarded-host": "space.example", "x-forwarded-proto": "https"},
    {"x-gradio-server": "http://other.example/sub/"},
    {"host": 'evil.example"\\x'},  # JSON-escaped like gradio's own answer
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from PIL import Image

    picture = tmp_path_factory.mktemp("config") / "a.png"
    Image.new("RGB", (4, 4), "red").save(picture)
    with gr.Blocks() as demo:
        gr.Image(value=str(picture), label="picture")  # a file URL under the root
        gr.Textbox(label="text")
    app = App.create_app(demo, app_kwargs={"middleware": [Middleware(ConfigCache)]})
    return TestClient(app)


@pytest.mark.parametrize("headers", HEADERS, ids=range(len(HEADERS)))
def test_the_kept_config_is_what_gradio_sends_for_that_request(client, headers):
    ours = client.get("/config", headers=headers)
    # a query string goes to gradio's own handler (an empty deep link changes nothing)
    gradios = client.get("/config?deep_link=", headers=headers)
    assert ours.status_code == gradios.status_code == 200
    assert ours.json() == gradios.json()
    assert ours.headers["content-type"] == gradios.headers["content-type"]
    root = ours.json()["root"]
    assert "savs-config.invalid" not in ours.text
    assert any(root in str(c.get("props", {}).get("value")) for c in ours.json()["components"])


def test_gradio_builds_the_config_once(client, monkeypatch):
    """gradio's handler deep-copies the whole config per request; after the first plain
    request, plain requests never reach it."""
    import gradio.routes

    client.get("/config")  # built (if no test before did)
    calls = []
    copy = gradio.routes.utils.safe_deepcopy
    monkeypatch.setattr(
        gradio.routes.utils, "safe_deepcopy", lambda value: calls.append(1) or copy(value)
    )
    for host in ("a.example", "b.example", "c.example"):
        assert client.get("/config", headers={"host": host}).json()["root"] == f"http://{host}"
    assert calls == []
    client.get("/config?deep_link=")
    assert calls  # the handler itself does copy: the check above can fail
