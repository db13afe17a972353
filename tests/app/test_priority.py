"""Clicks first (studio.priority, issue 21): while a click is being answered, other events wait
to start, for at most the bound; StudioBlocks applies it to its events by concurrency group."""

from __future__ import annotations

import asyncio
import time

import gradio as gr
import pytest

from studio.blocks import ANALYTICS_EVERY, StudioBlocks
from studio.priority import ClicksFirst
from studio.server import CLICK_QUEUE

pytestmark = pytest.mark.app  # studio imports gradio: not the unit tier


def test_other_work_starts_when_the_click_is_answered():
    gate = ClicksFirst(max_wait_s=5.0)
    order: list[str] = []

    async def click() -> None:
        async with gate.click():
            await asyncio.sleep(0.2)
            order.append("click answered")

    async def redraw() -> None:
        await asyncio.sleep(0.01)  # arrives while the click runs
        await gate.after_clicks()
        order.append("redraw starts")

    async def main() -> None:
        await asyncio.gather(click(), redraw())

    asyncio.run(main())
    assert order == ["click answered", "redraw starts"]
    assert gate.deferred == 1 and gate.clicks == 0


def test_a_stream_of_clicks_holds_other_work_for_the_bound_only():
    gate = ClicksFirst(max_wait_s=0.2)

    async def main() -> float:
        async with gate.click():  # a click that outlasts the bound
            start = time.monotonic()
            await gate.after_clicks()
            return time.monotonic() - start

    waited = asyncio.run(main())
    assert 0.15 <= waited < 1.0, waited


def test_with_no_click_other_work_starts_at_once():
    gate = ClicksFirst(max_wait_s=5.0)
    start = time.monotonic()
    asyncio.run(gate.after_clicks())
    assert time.monotonic() - start < 0.05 and gate.deferred == 0


def test_studio_blocks_let_a_click_go_before_work_that_arrives_during_it():
    order: list[str] = []

    def slow_click(x: str) -> str:
        time.sleep(0.3)
        order.append("click")
        return x

    def other(x: str) -> str:
        order.append("other")
        return x

    with StudioBlocks() as demo:
        box = gr.Textbox()
        out = gr.Textbox()
        gr.Button().click(slow_click, box, out, concurrency_id=CLICK_QUEUE, api_name="c")
        gr.Button().click(other, box, out, api_name="o")
    demo.queue()
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == ANALYTICS_EVERY

    async def main() -> None:
        click = asyncio.create_task(demo.process_api(0, ["a"], state=None))
        await asyncio.sleep(0.05)  # the click's callback is running
        await demo.process_api(1, ["b"], state=None)
        await click

    asyncio.run(main())
    assert order == ["click", "other"]
