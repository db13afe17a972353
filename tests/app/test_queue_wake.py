"""studio.queue_wake: gradio's queue waits for work instead of looking for it every 1 ms, and
still starts each event as soon as it can (pushed, or another one finished), progress included.

The waits' fallback is set to 30 s in the tests that time events, so an event that started only
because the fallback ran out would take 30 s: each wake-up is tested, not the fallback."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr
import pytest
from gradio.queueing import Queue
from test_classroom import fn_index, join

import studio.queue_wake as qw
from studio.blocks import StudioBlocks

pytestmark = pytest.mark.app

STEP_S = 0.2  # one step of the slow event (three steps, a progress message each)


def _counting(base: type[Queue]) -> type[Queue]:
    """`base`, counting how often its start loop looks at the queue (once per len())."""

    class Counting(base):  # type: ignore[misc, valid-type]
        looks = 0

        def __len__(self) -> int:
            type(self).looks += 1
            return super().__len__()

    Counting.__name__ = f"Counting{base.__name__}"
    return Counting


def _slow(text: str, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008 - gradio's way
    for _ in progress.tqdm(range(3)):
        time.sleep(STEP_S)
    return text


@contextmanager
def _served(queue_class: type[Queue] | None = None) -> Iterator[str]:
    """A page with a slow event (one at a time, with progress) and an echo, on StudioBlocks
    (a WakingQueue), its queue's class swapped for `queue_class` when given."""
    with StudioBlocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        gr.Button().click(_slow, box, out, api_name="slow", concurrency_limit=1)
        gr.Button().click(lambda text: text, box, out, api_name="echo")
    demo.queue()
    if queue_class is not None:
        demo._queue.__class__ = queue_class
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield url
    finally:
        demo.close()


def _call(url: str, api_name: str, text: str) -> tuple[float, list[str]]:
    """Join the queue as a new session and read its stream to the end of the event: seconds
    to the answer, and the kinds of message the session got."""
    session, start = uuid.uuid4().hex, time.monotonic()
    status, event = join(url, fn_index(url, api_name), [text], session)
    assert status == 200, event
    kinds: list[str] = []
    stream = f"{url}gradio_api/queue/data?session_hash={session}"
    with urllib.request.urlopen(stream, timeout=60) as events:
        for raw in events:
            if raw.startswith(b"data:"):
                message = json.loads(raw[5:])
                kinds.append(message.get("msg"))
                if message.get("msg") == "process_completed":
                    assert message["success"] and message["output"]["data"] == [text], message
                    return time.monotonic() - start, kinds
    raise AssertionError(f"the stream ended first: {kinds}")


def test_studio_blocks_queue_is_a_waking_queue():
    with StudioBlocks() as demo:
        gr.Textbox()
    demo.queue()
    assert type(demo._queue) is qw.WakingQueue
    assert qw.waking_queue(demo._queue) is demo._queue  # twice changes nothing


def test_an_idle_queue_looks_a_few_times_a_second_where_gradios_looks_hundreds():
    looks = {}
    for counting in (_counting(Queue), _counting(qw.WakingQueue)):
        with _served(counting) as url:
            _call(url, "echo", "warm")  # running
            before = counting.looks
            time.sleep(1.0)
            looks[counting.__name__] = counting.looks - before
    assert looks["CountingQueue"] > 200, looks  # gradio's 1 ms polling (the premise)
    assert looks["CountingWakingQueue"] <= 2 / qw.FALLBACK_S, looks  # only the fallback's


def test_a_pushed_event_starts_at_once(monkeypatch):
    monkeypatch.setattr(qw, "FALLBACK_S", 30.0)
    with _served() as url:
        _call(url, "echo", "warm")
        time.sleep(0.3)  # the queue waits
        seconds = [_call(url, "echo", f"hi {i}")[0] for i in range(3)]
    assert max(seconds) < 2.0, seconds


def test_an_event_waiting_for_its_group_starts_when_the_one_before_ends(monkeypatch):
    monkeypatch.setattr(qw, "FALLBACK_S", 30.0)
    with _served() as url:
        _call(url, "echo", "warm")
        results: list[tuple[float, list[str]]] = []
        callers = [
            threading.Thread(target=lambda i=i: results.append(_call(url, "slow", f"s{i}")))
            for i in range(2)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=60)
    assert len(results) == 2
    # one at a time (concurrency_limit=1): the second waited for the first, then ran at once
    assert max(seconds for seconds, _ in results) < 6 * STEP_S + 2.0, results
    for _, kinds in results:  # the progress loop woke for each job
        assert "progress" in kinds, kinds


def test_a_page_launched_again_still_starts_its_events(monkeypatch):
    """A closed page launched again runs its queue on another event loop: the waits are that
    loop's, not the first one's (an asyncio.Event waited from two loops raises)."""
    monkeypatch.setattr(qw, "FALLBACK_S", 30.0)
    with StudioBlocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        gr.Button().click(lambda text: text, box, out, api_name="echo")
    demo.queue()
    for attempt in range(2):
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        try:
            _call(url, "echo", "warm")
            time.sleep(0.2)  # the queue waits, on this launch's loop
            seconds, _ = _call(url, "echo", f"launch {attempt}")
        finally:
            demo.close()
        assert seconds < 2.0, (attempt, seconds)
