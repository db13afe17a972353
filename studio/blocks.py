"""The app's gr.Blocks: gradio's, with skipped outputs answered at once.

Why: the redraw after every event has ~60 outputs, and most of them are `gr.skip()` (the event
sent them itself, or `studio.drawn` knows the page shows them already). gradio 6.31 handles a
skip like any property update: it builds a new component and computes its config, JSON schema
included, twice. That was ~1 ms per skipped output, ~65 ms of server CPU per click, more than
the model and the views together (issue 21, measured through the app). A skip changes nothing,
so its answer is what gradio sends for it anyway, `{"__type__": "update"}`; gradio processes
the other outputs as usual (tests/app/test_blocks.py: the same answers as gradio's own).
"""

from __future__ import annotations

import copy
from typing import Any

import gradio as gr
from gradio.state_holder import StateHolder

from .gradio_state import PageStates
from .priority import CLICKS_FIRST
from .queue_wake import waking_queue
from .server import CLICK_QUEUE


def _skipped(value: Any) -> bool:
    """`gr.skip()`: an update that sets nothing."""
    return isinstance(value, dict) and value == {"__type__": "update"}


# Events between two summaries of gradio's monitoring page. gradio 6.31 recomputes the summary
# after every event, with pandas over its last 10,000 events' records: 4-8 ms of server CPU per
# event (more than a redraw's callback), growing with the server's uptime.
ANALYTICS_EVERY = 1000


class StudioBlocks(gr.Blocks):
    """gr.Blocks whose events answer their skipped outputs without building components, whose
    clicks go first (`studio.priority`), whose sessions keep no copy of the page's config
    (`studio.gradio_state`), and whose queue summarises its events for gradio's monitoring page
    once per ANALYTICS_EVERY events, not after each, and waits for work instead of polling
    (`studio.queue_wake`)."""

    @property
    def state_holder(self) -> StateHolder:
        return self.__dict__["state_holder"]

    @state_holder.setter
    def state_holder(self, holder: StateHolder) -> None:
        # gradio's server makes a StateHolder and hands it to its Blocks (set_blocks); ours
        # makes PageStates. The class of that one object changes (PageStates adds no state).
        if type(holder) is StateHolder:
            holder.__class__ = PageStates
        self.__dict__["state_holder"] = holder

    def queue(self, *args: Any, **kwargs: Any) -> StudioBlocks:
        super().queue(*args, **kwargs)
        self._queue.ANAYLTICS_CACHE_FREQUENCY = ANALYTICS_EVERY  # (gradio's spelling)
        waking_queue(self._queue)  # woken by events, not polling every 1 ms
        return self

    async def process_api(self, block_fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
        if fn.concurrency_id == CLICK_QUEUE:
            async with CLICKS_FIRST.click():
                return await super().process_api(block_fn, *args, **kwargs)
        await CLICKS_FIRST.after_clicks()
        return await super().process_api(block_fn, *args, **kwargs)

    async def postprocess_data(self, block_fn: Any, predictions: Any, state: Any) -> list[Any]:
        n = len(block_fn.outputs)
        if (
            block_fn.batch
            or n < 2
            or not isinstance(predictions, (list, tuple))
            or len(predictions) != n
        ):
            return await super().postprocess_data(block_fn, predictions, state)
        kept = [i for i, value in enumerate(predictions) if not _skipped(value)]
        if len(kept) == n:
            return await super().postprocess_data(block_fn, predictions, state)
        # what gradio answers for a skip: nothing for a State, an empty update for the rest
        out: list[Any] = [
            None if block.stateful else {"__type__": "update"} for block in block_fn.outputs
        ]
        if kept:
            part = copy.copy(block_fn)
            part.outputs = [block_fn.outputs[i] for i in kept]
            values = [predictions[i] for i in kept]
            # gradio takes a one-output function's value as it is, not in a list
            done = await super().postprocess_data(
                part, values if len(kept) > 1 else values[0], state
            )
            for i, value in zip(kept, done):
                out[i] = value
        return out


__all__ = ["StudioBlocks"]
