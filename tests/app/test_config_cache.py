"""studio.config_cache: GET /config and the page itself (GET or HEAD /) are answered from the
answer gradio built once per query it reads, with the request's own root put in, and the answer
is what gradio itself sends for that request (whatever host, forwarded host or X-Gradio-Server
header a client sends, whatever other query), compared with the same page served without it."""

from __future__ import annotations

import gradio as gr
import pytest
from fastapi.testclient import TestClient
from gradio.routes import App
from starlette.middleware import Middleware

from studio.config_cache import NO_DEEP_LINK, ConfigCache

pytestmark = pytest.mark.app

HEADERS = [
    {},
    {"host": "school.example:7860"},
    {"x-forwarded-host": "space.example", "x-forwarded-proto": "https"},
    {"x-gradio-server": "http://other.example/sub/"},
    {"host": 'evil.example"\\x'},  # JSON-escaped like gradio's own answer
]


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    """(ours, gradio's): the same page served with ConfigCache and without."""
    from PIL import Image

    picture = tmp_path_factory.mktemp("config") / "a.png"
    Image.new("RGB", (4, 4), "red").save(picture)
    with gr.Blocks() as demo:
        gr.Image(value=str(picture), label="picture")  # a file URL under the root
        gr.Textbox(label="text")
        gr.Button().click(lambda t: t, gr.Textbox(), gr.Textbox(), api_name="echo")
    ours = App.create_app(demo, app_kwargs={"middleware": [Middleware(ConfigCache)]})
    gradios = App.create_app(demo)
    demo.config["body_css"] = {}  # set by launch(); the page's template reads it
    return (
        TestClient(ours, raise_server_exceptions=False),
        TestClient(gradios, raise_server_exceptions=False),
    )


HOSTILE = {"host": "evil.example'<script>&"}  # what toorjson escapes in the page


@pytest.mark.parametrize("headers", [*HEADERS, HOSTILE], ids=range(len(HEADERS) + 1))
@pytest.mark.parametrize("route", ["/config", "/", "/config?deep_link=abc", "/?x=1&deep_link=z"])
def test_the_kept_answer_is_what_gradio_sends_for_that_request(clients, headers, route):
    ours, gradios = clients
    mine = ours.get(route, headers=headers)
    # a deep link: the app makes none, so every one is as unknown as this name
    theirs = gradios.get(route.replace("abc", NO_DEEP_LINK).replace("z", NO_DEEP_LINK),
                         headers=headers)  # fmt: skip
    assert mine.status_code == theirs.status_code == 200
    assert mine.headers["content-type"] == theirs.headers["content-type"]
    assert "savs-config.invalid" not in mine.text
    if route.startswith("/config"):
        assert mine.json() == theirs.json()
        root = mine.json()["root"]
        assert any(root in str(c.get("props", {}).get("value")) for c in mine.json()["components"])
    else:
        assert mine.text == theirs.text
        assert "<script>&" not in mine.text  # the hostile host, escaped as gradio escapes it


def test_gradio_builds_each_kept_answer_once(clients, monkeypatch):
    """gradio's handlers rebuild the config (a deep copy of 259 KB in the app) per request;
    once built, no host, query or method reaches them again."""
    import gradio.routes

    ours, _ = clients
    for route in ("/config", "/", "/config?deep_link=x", "/?deep_link=x"):
        ours.get(route)  # built (if no test before did)
    calls = []
    update = gradio.routes.route_utils.update_root_in_config
    monkeypatch.setattr(
        gradio.routes.route_utils,
        "update_root_in_config",
        lambda *args: calls.append(1) or update(*args),
    )
    for host in ("a.example", "b.example", "c.example"):
        assert ours.get("/config", headers={"host": host}).json()["root"] == f"http://{host}"
        assert ours.get("/?x=1&page=", headers={"host": host}).status_code == 200
        assert ours.get(f"/config?deep_link={host}&y=2").status_code == 200
        assert ours.head("/", headers={"host": host}).status_code == 200
    assert calls == []
    _, gradios = clients
    gradios.get("/config")
    assert calls  # gradio's handler does call it: the check above can fail


def test_head_answers_the_page_headers_without_its_body(clients):
    ours, gradios = clients
    head, page = ours.head("/"), ours.get("/")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(page.content)
    assert gradios.head("/").status_code == 200


def test_the_api_info_is_not_built_for_the_placeholder(clients):
    """gradio keeps the API info (code snippets with the root) of the first request to
    /gradio_api/info; the page's build, for the placeholder host, must not be that first (the
    page builds its own per page, with the root the kept answer then replaces)."""
    ours, _ = clients
    ours.get("/")
    assert "savs-config.invalid" not in ours.get("/gradio_api/info").text


def test_a_page_name_the_app_does_not_have_gets_gradios_own_answer(clients):
    ours, gradios = clients
    assert ours.get("/?page=nope").status_code == gradios.get("/?page=nope").status_code == 500
