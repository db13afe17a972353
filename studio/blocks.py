"""The app's gr.Blocks: gradio's, with skipped outputs answered at once.

Why: the redraw after every event has ~60 outputs, and most of them are `gr.skip()` (the event
sent them itself, or `studio.drawn` knows the page shows them already). gradio 6.31 handles a
skip like any property update: it builds a new component and computes its config, JSON schema
included, twice. That was ~1 ms per skipped output, ~65 ms of server CPU per click, more than
the model and the views together (issue 21, measured through the app). A skip changes nothing,
so its answer is what gradio sends for it anyway, `{"__type__": "update"}`.

Outputs that are plain values (no update, no State) are postprocessed together in one worker
thread: gradio hands each one to a worker thread and back (a classify and its redraw send ~15),
each handoff a wake-up of a thread and of the event loop. The other outputs go through gradio's
own code (tests/app/test_blocks.py: the same answers and state as gradio's own).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import anyio
import gradio as gr
from gradio import processing_utils
from gradio import utils as gradio_utils
from gradio.blocks import Block
from gradio.components import Component
from gradio.data_classes import GradioModel, GradioRootModel

from .gradio_state import PageState, PageStateBlocks
from .priority import CLICKS_FIRST
from .queue_wake import waking_queue
from .server import CLICK_QUEUE, LIVE_QUEUE


def _skipped(value: Any) -> bool:
    """`gr.skip()`: an update that sets nothing."""
    return isinstance(value, dict) and value == {"__type__": "update"}


def _plain(block: Any, value: Any) -> bool:
    """A value gradio would only postprocess and send: for a component, not an update (a dict,
    a component, a namespace), not a generator's end."""
    return (
        isinstance(block, Component)
        and not block.stateful
        and not gradio_utils.is_prop_update(value)
        and not isinstance(value, (Block, SimpleNamespace))
        and value is not gr.components._Keywords.FINISHED_ITERATING
    )


def drop_unrendered(blocks_config: Any, renderable: Any) -> int:
    """Forget the components an earlier run of `renderable` (a `gr.render`) drew that its last
    run did not draw again; returns how many. gradio 6.31 keeps every component a render ever
    drew in the session's `blocks_config` (a new id each run unless keyed), and the forms it
    wraps them in: a session's class cards, redrawn after every edit, kept 1,000 thumbnails
    (~40 MB) per redraw for as long as gradio kept the session, and each redraw's config was
    built over all of them. Renders of one session must not overlap (the cards' render is a
    concurrency group of one): a run in progress has drawn components its container does not
    hold yet."""
    blocks = blocks_config.blocks
    container = blocks.get(renderable.container_id)
    drawn: set[int] = set()
    todo = [container] if container is not None else []
    while todo:
        block = todo.pop()
        drawn.add(block._id)
        todo.extend(getattr(block, "children", ()))
    stale = [
        _id
        for _id, block in list(blocks.items())
        if _id not in drawn and _drawn_by(block, renderable)
    ]
    for _id in stale:
        blocks.pop(_id, None)
    return len(stale)


def _drawn_by(block: Any, renderable: Any) -> bool:
    """Whether `block` was drawn by `renderable`, or sits inside a block it drew (gradio's
    own wrappers, e.g. a Form around a card's inputs, are drawn by no render)."""
    for _ in range(64):  # a page's nesting depth, with room to spare
        if block is None:
            return False
        if getattr(block, "rendered_in", None) is renderable:
            return True
        block = getattr(block, "parent", None)
    return False


# Events between two summaries of gradio's monitoring page. gradio 6.31 recomputes the summary
# after every event, with pandas over its last 10,000 events' records: 4-8 ms of server CPU per
# event (more than a redraw's callback), growing with the server's uptime.
ANALYTICS_EVERY = 1000


class StudioBlocks(PageStateBlocks):
    """gr.Blocks whose events answer their skipped outputs without building components, whose
    clicks go first (`studio.priority`: its queue says when a click joins and how many
    wait), whose sessions keep no copy of the page's config
    (`studio.gradio_state`), and whose queue summarises its events for gradio's monitoring page
    once per ANALYTICS_EVERY events, not after each, and waits for work instead of polling
    (`studio.queue_wake`)."""

    def queue(self, *args: Any, **kwargs: Any) -> StudioBlocks:
        super().queue(*args, **kwargs)
        self._queue.ANAYLTICS_CACHE_FREQUENCY = ANALYTICS_EVERY  # (gradio's spelling)
        queue = waking_queue(self._queue)  # woken by events, not polling every 1 ms

        async def push_noting_clicks(body: Any, request: Any, username: str | None) -> Any:
            # the class's push, looked up now: a test may swap the queue's class later
            joined = await type(queue).push(queue, body=body, request=request, username=username)
            fn = self.fns.get(body.fn_index)
            if joined[0] and fn is not None and fn.concurrency_id == CLICK_QUEUE:
                CLICKS_FIRST.joined()
            return joined

        queue.push = push_noting_clicks

        def clicks_queued() -> int:
            waiting = queue.event_queue_per_concurrency_id.get(CLICK_QUEUE)
            return len(waiting.queue) if waiting is not None else 0

        CLICKS_FIRST.queued = clicks_queued
        return self

    async def process_api(self, block_fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
        if fn.concurrency_id == CLICK_QUEUE:
            async with CLICKS_FIRST.click():
                return await super().process_api(block_fn, *args, **kwargs)
        if not self._starts_at_once(fn):  # see studio.priority
            await CLICKS_FIRST.after_clicks()
        answer = await super().process_api(block_fn, *args, **kwargs)
        state = args[1] if len(args) > 1 else kwargs.get("state")
        if fn.renderable is not None and state is not None:
            drop_unrendered(state.blocks_config, fn.renderable)
        return answer

    def _starts_at_once(self, fn: Any) -> bool:
        """Whether an event starts while a click is answered: a webcam frame, and the redraw
        after a click (held, the students' next clicks came together). The rest waits: long
        work, loading a task, the redraw after them."""
        if fn.concurrency_id == LIVE_QUEUE:
            return True
        before = self.fns.get(fn.trigger_after) if fn.trigger_after is not None else None
        return before is not None and before.concurrency_id == CLICK_QUEUE

    async def postprocess_data(self, block_fn: Any, predictions: Any, state: Any) -> list[Any]:
        n = len(block_fn.outputs)
        if (
            block_fn.batch
            or block_fn.is_validator_function
            or n < 2
            or not isinstance(predictions, (list, tuple))
            or len(predictions) != n
        ):
            return await super().postprocess_data(block_fn, predictions, state)
        kept = [i for i, value in enumerate(predictions) if not _skipped(value)]
        plain = [
            i for i in kept if block_fn.postprocess and _plain(block_fn.outputs[i], predictions[i])
        ]
        rest = sorted(set(kept) - set(plain))
        if len(rest) == n:
            return await super().postprocess_data(block_fn, predictions, state)
        # what gradio answers for a skip: nothing for a State, an empty update for the rest
        out: list[Any] = [
            None if block.stateful else {"__type__": "update"} for block in block_fn.outputs
        ]
        if rest:
            part = copy.copy(block_fn)
            part.outputs = [block_fn.outputs[i] for i in rest]
            values = [predictions[i] for i in rest]
            # gradio takes a one-output function's value as it is, not in a list
            done = await super().postprocess_data(
                part, values if len(rest) > 1 else values[0], state
            )
            for i, value in zip(rest, done):
                out[i] = value
        if plain:
            blocks = [block_fn.outputs[i] for i in plain]
            done = await self._postprocess_plain(blocks, [predictions[i] for i in plain], state)
            if done is None:  # one of them failed: gradio's own path raises as it raises
                return await super().postprocess_data(block_fn, predictions, state)
            for i, value in zip(plain, done):
                out[i] = value
        return out

    async def _postprocess_plain(
        self, blocks: list[Any], values: list[Any], state: Any
    ) -> list[Any] | None:
        """What gradio's postprocess_data answers for plain outputs (`_plain`), their
        postprocessing run in one worker thread; None if one of them raised."""
        # the session's own copy of a component, if an update changed it (gradio's choice too)
        session = [state[b._id] if b._id in state else b for b in blocks]

        def postprocess_all() -> list[Any] | None:
            try:
                return [b.postprocess(v) for b, v in zip(session, values)]
            except Exception:  # noqa: BLE001 - gradio's path raises it again, with its message
                return None

        done = await anyio.to_thread.run_sync(postprocess_all, limiter=self.limiter)
        if done is None:
            return None
        out = []
        for block, value in zip(session, done):
            if not isinstance(state, PageState):  # gradio's state keeps the value in a config
                dumped = (
                    value.model_dump()
                    if isinstance(value, (GradioModel, GradioRootModel))
                    else value
                )
                dumped = await processing_utils.async_move_files_to_cache(
                    dumped, block, postprocess=True
                )
                if block._id not in state:
                    state[block._id] = block
                state._update_value_in_config(block._id, dumped)
            elif block._id not in state:
                state[block._id] = block
            out.append(
                await processing_utils.async_move_files_to_cache(value, block, postprocess=True)
            )
        return out


__all__ = ["StudioBlocks", "drop_unrendered"]
