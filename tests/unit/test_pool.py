"""The model pool: one load per name, shared by sessions, at most N resident (least recently
used idle one unloaded first), per-model locks so sessions on different models overlap."""

from __future__ import annotations

import threading
import time

import pytest

from savs.errors import ModelError
from studio.pool import ModelPool, max_models_from_env


class FakeAdapter:
    """What the pool needs of a ModelAdapter (no model: these are unit tests)."""

    def __init__(self, name: str):
        self.name, self.num_layers, self.num_heads, self.head_dim = name, 2, 3, 4
        self.is_vlm, self.device = False, "cpu"


def counting_loader(delay: float = 0.0, fail: set[str] = frozenset()):
    calls: list[str] = []

    def load(name: str) -> FakeAdapter:
        calls.append(name)
        time.sleep(delay)
        if name in fail:
            raise ModelError(f"could not load model {name!r}")
        return FakeAdapter(name)

    return load, calls


@pytest.mark.unit
def test_a_model_is_loaded_once_and_shared():
    load, calls = counting_loader()
    pool = ModelPool(load, max_models=2)
    with pool.use("a") as first:
        pass
    with pool.use("a") as second:
        assert second is first
    assert calls == ["a"] and pool.info("a").num_all_heads == 6


@pytest.mark.unit
def test_two_sessions_asking_at_once_trigger_one_load():
    load, calls = counting_loader(delay=0.3)
    pool = ModelPool(load, max_models=2)
    got = []
    threads = [threading.Thread(target=lambda: got.append(pool.load("a"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"] and len(got) == 4


@pytest.mark.unit
def test_the_least_recently_used_idle_model_is_unloaded_first():
    load, calls = counting_loader()
    pool = ModelPool(load, max_models=2)
    pool.load("a")
    pool.load("b")
    pool.load("a")  # a is now the most recently used
    pool.load("c")
    assert sorted(pool.resident()) == ["a", "c"]
    assert pool.info("b") is not None  # still known (the page shows it) though unloaded
    with pool.use("b"):  # used again: loaded again, never swapped for another
        pass
    assert calls == ["a", "b", "c", "b"] and len(pool.resident()) == 2


@pytest.mark.unit
def test_a_model_in_use_is_never_evicted_and_resident_models_never_exceed_n():
    load, _ = counting_loader()
    pool = ModelPool(load, max_models=1, busy_timeout=0.3)
    with pool.use("a"):
        with pytest.raises(ModelError, match="busy"):
            pool.load("b")
        assert pool.resident() == ["a"]
    pool.load("b")
    assert pool.resident() == ["b"]


@pytest.mark.unit
def test_a_failed_load_changes_nothing_and_the_next_asker_tries_again():
    load, calls = counting_loader(fail={"bad"})
    pool = ModelPool(load, max_models=2)
    pool.load("a")
    with pytest.raises(ModelError, match="'bad'"):
        pool.load("bad")
    with pytest.raises(ModelError, match="'bad'"):
        pool.load("bad")
    assert pool.resident() == ["a"] and calls == ["a", "bad", "bad"]
    with pytest.raises(ModelError, match="no model chosen"):
        pool.load("  ")


@pytest.mark.unit
def test_work_on_one_model_does_not_wait_for_another():
    load, _ = counting_loader()
    pool = ModelPool(load, max_models=2)
    pool.load("a")
    pool.load("b")
    inside_a = threading.Event()
    release_a = threading.Event()

    def hold_a():
        with pool.use("a"):
            inside_a.set()
            release_a.wait(5)

    t = threading.Thread(target=hold_a)
    t.start()
    inside_a.wait(5)
    start = time.monotonic()
    with pool.use("b"):
        pass
    waited_b = time.monotonic() - start
    # the same model is serialised: a second user of "a" waits for the first
    got_a = threading.Event()
    t2 = threading.Thread(target=lambda: (pool.use("a").__enter__(), got_a.set()))
    t2.start()
    assert not got_a.wait(0.2)
    release_a.set()
    t.join()
    assert got_a.wait(5)
    assert waited_b < 0.2


@pytest.mark.unit
def test_max_models_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SAVS_MAX_MODELS", "3")
    assert max_models_from_env() == 3
    monkeypatch.setenv("SAVS_MAX_MODELS", "zero")
    with pytest.raises(ModelError, match="SAVS_MAX_MODELS"):
        max_models_from_env()


@pytest.mark.integration
def test_the_pool_lends_real_tiny_models(llava_model_dir):
    """Tiny random LLaVA through the real loader: loads, lends, evicts, reloads."""
    from savs.models.registry import load_model

    pool = ModelPool(load_model, max_models=1)
    info = pool.load(llava_model_dir)
    assert info.is_vlm and info.num_all_heads == info.num_layers * info.num_heads
    with pool.use(llava_model_dir) as adapter:
        assert adapter.name == llava_model_dir
    pool.unload_all()
    assert pool.resident() == [] and pool.loads == 1
    pool.load(llava_model_dir)
    assert pool.loads == 2


@pytest.mark.integration
def test_sessions_on_one_model_take_turns_batch_by_batch(llava_adapter, colour_examples):
    """A long extraction lends the model batch by batch: another session's single prediction
    runs between two of its batches instead of after all of them."""
    from savs.activations import extract

    many = list(colour_examples) * 8  # 96 examples: 12 batches of 8
    order: list[str] = []
    original = llava_adapter.read_heads

    def recording(inputs, *args, **kwargs):
        out = original(inputs, *args, **kwargs)
        order.append("batch" if inputs["input_ids"].shape[0] > 1 else "single")
        return out

    started = threading.Event()
    llava_adapter.read_heads = recording
    try:
        worker = threading.Thread(target=lambda: (started.set(), extract(llava_adapter, many)))
        worker.start()
        started.wait(5)
        while "batch" not in order:
            time.sleep(0.001)
        enc = llava_adapter.encode(colour_examples[:1])
        llava_adapter.read_heads(enc)
        worker.join(60)
    finally:
        del llava_adapter.read_heads
    assert order.count("batch") == 12
    assert order.index("single") < len(order) - 1, order  # not after the whole extraction
