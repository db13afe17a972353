"""Models: deny by default (issue 21). A hosted app's visitors load the bundled models, the start
model and the operator's SAVS_ALLOWED_MODELS only; any other name is refused before the disk or
the hub is asked. A model is sized from its config (a meta-device build) and refused over
SAVS_MAX_MODEL_GB before one weight is built. SAVS_ALLOWED_MODELS has one parser."""

from __future__ import annotations

import re
import socket
import sys
import time
from pathlib import Path

import pytest
import torch

from savs.errors import ModelError
from savs.limits import MAX_MODEL_GB_ENV, MAX_MODEL_NAME_CHARS
from savs.models import registry, sizing

import studio_fixtures as sf

ROOT = Path(__file__).resolve().parents[2]
LONG_NAME = "a" * 10_000
# a Llama-70B-shaped config: 70.6 B parameters, 282 GB in fp32
HUGE = dict(
    hidden_size=8192,
    intermediate_size=28672,
    num_hidden_layers=80,
    num_attention_heads=64,
    num_key_value_heads=8,
    vocab_size=128256,
)
SMALL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=256,
)


class Asked(AssertionError):
    """Raised by a stand-in for anything that would read the hub or build weights."""


@pytest.fixture
def nothing_is_fetched(monkeypatch):
    """Every hub / disk read of a model raises Asked, and so does any socket: a refusal must
    come before all of them."""
    import huggingface_hub
    import transformers

    def asked(*args, **kwargs):
        raise Asked(f"asked for {args[:1]}")

    for cls in ("AutoConfig", "AutoModelForCausalLM", "AutoModelForImageTextToText"):
        monkeypatch.setattr(getattr(transformers, cls), "from_pretrained", asked)
    for fn in ("hf_hub_download", "snapshot_download", "model_info"):
        monkeypatch.setattr(huggingface_hub, fn, asked)
    monkeypatch.setattr(socket, "create_connection", asked)
    registry._can_connect.cache_clear()
    yield
    registry._can_connect.cache_clear()


def config_folder(folder: Path, **shape) -> Path:
    """A folder holding only a config.json (no weights, no tokenizer)."""
    from transformers import LlamaConfig

    folder.mkdir(parents=True, exist_ok=True)
    LlamaConfig(**shape).save_pretrained(folder)
    assert [p.name for p in folder.iterdir()] == ["config.json"]
    return folder


def rss_mb() -> float:
    return sf.rss_mb(int(Path("/proc/self/stat").read_text().split()[0]))


# --- the one parser ---------------------------------------------------------------------------


@pytest.mark.unit
def test_one_parser_of_the_allowlist(monkeypatch):
    env = registry.ALLOWED_MODELS_ENV
    monkeypatch.delenv(env, raising=False)
    assert registry.allowed_models() is None
    monkeypatch.setenv(env, " org/a , tiny,, org/a ,")
    assert registry.allowed_models() == ["org/a", "tiny"]  # trimmed, in order, once each
    monkeypatch.setenv(env, "   ")
    assert registry.allowed_models() is None  # blank is unset
    monkeypatch.setenv(env, " , ")
    assert registry.allowed_models() == []  # set, listing nothing: nothing may load
    # nothing else in the code reads the variable: the app uses the library's parser
    readers = [
        str(p.relative_to(ROOT))
        for p in [ROOT / "app.py", *ROOT.glob("savs/**/*.py"), *ROOT.glob("studio/**/*.py")]
        if re.search(r"environ[^\n]*(ALLOWED_MODELS|SAVS_ALLOWED)", p.read_text("utf-8"))
    ]
    assert readers == ["savs/models/registry.py"], readers


@pytest.mark.unit
def test_visitors_are_denied_by_default(monkeypatch, nothing_is_fetched):
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    start = "/srv/models/start-model"
    assert registry.visitor_names(start) == [*registry.BUNDLED, start]
    for name in (*registry.BUNDLED, start):
        registry.check_visitor_model(name, start)  # allowed: no error, nothing asked
    offered = registry.visitor_models(start, hub=True)
    assert start in offered and not set(registry.HUB_SUGGESTIONS) & set(offered)
    for name in ("org/big-model", "HuggingFaceTB/SmolVLM-256M-Instruct", "gpt2"):
        with pytest.raises(ModelError) as refused:
            registry.check_visitor_model(name, start)
        assert "not a bundled name" in str(refused.value)
        assert registry.ALLOWED_MODELS_ENV in str(refused.value)  # what the operator can do
    for name in ("/etc", "../start-model", "a/b/c", "~/x", "org/..", "org name", "org/x\x00"):
        with pytest.raises(ModelError, match="not a bundled name") as refused:
            registry.check_visitor_model(name, start)
        assert "/srv" not in str(refused.value)


@pytest.mark.unit
def test_a_long_name_is_refused_without_being_echoed(monkeypatch, nothing_is_fetched):
    for listed in (None, "tiny"):
        if listed is None:
            monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
        else:
            monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, listed)
        for name in (LONG_NAME, "/" + LONG_NAME, "x" * (MAX_MODEL_NAME_CHARS + 1)):
            with pytest.raises(ModelError, match=f"at most {MAX_MODEL_NAME_CHARS} characters"):
                registry.check_visitor_model(name, "tiny")
        registry.check_visitor_model("tiny", "tiny")


@pytest.mark.unit
def test_an_operator_list_replaces_the_default(monkeypatch, nothing_is_fetched):
    monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, "org/good, /srv/folder")
    assert registry.visitor_names("tiny") == ["org/good", "/srv/folder"]
    registry.check_visitor_model("org/good", "tiny")
    registry.check_visitor_model("/srv/folder", "tiny")  # the operator's own folder
    for name in ("tiny", "org/evil"):
        with pytest.raises(ModelError, match="not allowed on this server"):
            registry.check_visitor_model(name, "tiny")
    assert registry.visitor_models("tiny", hub=False) == ["org/good", "/srv/folder"]


@pytest.mark.unit
def test_the_library_survives_a_name_the_os_refuses(monkeypatch, nothing_is_fetched):
    """Local use: a 10,000-character name is no folder and no hub id, never an OSError."""
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    assert registry.resolve(LONG_NAME) == (LONG_NAME, {})
    assert registry.resolve("~no-such-user-here/x") == ("~no-such-user-here/x", {})
    assert registry.looks_like_path(LONG_NAME) is False


@pytest.mark.unit
def test_the_size_cap_reads_its_variable(monkeypatch):
    monkeypatch.delenv(MAX_MODEL_GB_ENV, raising=False)
    assert sizing.max_model_gb(None) is None  # local default: no cap
    assert sizing.max_model_gb(8.0) == 8.0
    monkeypatch.setenv(MAX_MODEL_GB_ENV, "0.5")
    assert sizing.max_model_gb(None) == 0.5 and sizing.max_model_gb(8.0) == 0.5
    monkeypatch.setenv(MAX_MODEL_GB_ENV, "inf")
    assert sizing.max_model_gb(8.0) == float("inf")
    for bad in ("0", "-1", "nan", "lots"):
        monkeypatch.setenv(MAX_MODEL_GB_ENV, bad)
        with pytest.raises(ModelError, match=f"{MAX_MODEL_GB_ENV} must be a positive number"):
            sizing.max_model_gb(8.0)


# --- sizing from the config -------------------------------------------------------------------


@pytest.mark.integration
def test_a_huge_config_is_refused_before_any_weight(tmp_path, monkeypatch):
    """A folder holding only a config that declares 70 B parameters: refused by its size, fast,
    without memory, and from_pretrained never runs."""
    import transformers

    folder = config_folder(tmp_path / "huge", **HUGE)
    built = []
    for cls in ("AutoModelForCausalLM", "AutoModelForImageTextToText"):
        monkeypatch.setattr(
            getattr(transformers, cls), "from_pretrained", lambda *a, **k: built.append(a)
        )
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    monkeypatch.setenv(MAX_MODEL_GB_ENV, "8")
    sizing.parameter_size(  # warm up the import of the Llama classes
        transformers.LlamaConfig(**SMALL),
        transformers.AutoModelForCausalLM,
        torch.float32,
    )
    before, t0 = rss_mb(), time.monotonic()
    with pytest.raises(ModelError) as refused:
        registry.load_model(str(folder), device="cpu")
    seconds, grown = time.monotonic() - t0, rss_mb() - before
    message = str(refused.value)
    assert re.search(r"is 282\.\d GB in float32 \(70\.55 B parameters\)", message), message
    assert "up to 8 GB (SAVS_MAX_MODEL_GB)" in message
    assert built == []
    assert seconds < 20, seconds  # about 1.2 s on this machine
    assert grown < 300, grown  # MB; the model at full size would be 282,000
    # bf16 halves it, and the hosted default (8 GB) applies without the variable
    monkeypatch.delenv(MAX_MODEL_GB_ENV)
    with pytest.raises(ModelError, match=r"is 141\.\d GB in bfloat16"):
        registry.load_model(str(folder), device="cpu", dtype="bf16", max_gb=8.0)
    assert built == []


@pytest.mark.integration
def test_a_small_config_passes_the_size_check(tmp_path, monkeypatch):
    import transformers

    folder = config_folder(tmp_path / "small", **SMALL)
    built = []

    def stop(source, **kwargs):
        built.append(source)
        raise Asked("the size check passed")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", stop)
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    monkeypatch.setenv(MAX_MODEL_GB_ENV, "0.01")
    with pytest.raises(Asked):
        registry.load_model(str(folder), device="cpu")
    assert built == [str(folder)]
    config = transformers.LlamaConfig(**SMALL)
    count, size = sizing.parameter_size(config, transformers.AutoModelForCausalLM, torch.float32)
    real = transformers.AutoModelForCausalLM.from_config(config)
    assert count == sum(p.numel() for p in real.parameters())  # the meta count is exact
    assert size == 4 * count


@pytest.mark.integration
def test_a_config_with_absurd_layer_counts_is_refused_before_it_is_built(tmp_path, monkeypatch):
    folder = config_folder(tmp_path / "deep", **{**SMALL, "num_hidden_layers": 1_000_000})
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"num_hidden_layers = 1000000; at most 1024"):
        registry.load_model(str(folder), device="cpu", max_gb=8.0)
    assert time.monotonic() - t0 < 10


@pytest.mark.integration
def test_the_bundled_style_tiny_model_loads_under_the_hosted_cap(llava_model_dir, monkeypatch):
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    monkeypatch.delenv(MAX_MODEL_GB_ENV, raising=False)
    adapter = registry.load_model(llava_model_dir, device="cpu", max_gb=8.0)
    assert adapter.num_layers > 0


@pytest.mark.integration
def test_the_hosted_loader_refuses_unlisted_names_without_the_hub(monkeypatch, nothing_is_fetched):
    sys.path.insert(0, str(ROOT))
    import studio.server

    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    monkeypatch.setitem(studio.server.START, "model", "tiny")
    for name in ("org/big-model", "HuggingFaceTB/SmolVLM-256M-Instruct", LONG_NAME, "/etc"):
        with pytest.raises(ModelError) as refused:
            studio.server.hosted_loader(name)
        assert not isinstance(refused.value, Asked)
        assert len(str(refused.value)) < 400
    # a listed hub id goes on to the hub (here: the stand-in that says it was asked)
    monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, "org/big-model")
    with pytest.raises(Asked):
        studio.server.hosted_loader("org/big-model")


# --- through the app ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    with sf.app_server(root) as served:
        yield (*served, root / "app.log")


@pytest.mark.app
def test_the_app_refuses_long_and_unlisted_names_cleanly(server):
    from gradio_client import Client

    url, _, log = server
    client = Client(url, verbose=False)
    cases = [
        (LONG_NAME, f"at most {MAX_MODEL_NAME_CHARS} characters"),
        ("org/some-model", "SAVS_ALLOWED_MODELS"),
        ("../../etc", "not a bundled name"),
    ]
    for name, expected in cases:
        t0 = time.monotonic()
        with pytest.raises(Exception) as refused:
            client.predict(name, api_name="/load_model")
        message = str(refused.value)
        assert expected in message, message
        assert "Traceback" not in message and "/tmp" not in message and "a" * 300 not in message
        assert time.monotonic() - t0 < 10
    # gradio logs each refusal (gr.Error) with its stack; nothing else may have been raised
    raised = re.findall(r"^([A-Za-z_][\w.]*): ", log.read_text(), re.MULTILINE)
    assert raised == ["gradio.exceptions.Error"] * len(cases), raised
    # the menu offers what a visitor may load: bundled models and the start model, no hub ids
    (menu,) = [c for c in client.config["components"] if c["props"].get("label") == "Model"]
    offered = [choice[1] for choice in menu["props"]["choices"]]
    assert offered and offered[-1].endswith("tiny-llava"), offered
    assert set(offered[:-1]) <= set(registry.BUNDLED), offered
