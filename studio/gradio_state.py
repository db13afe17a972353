"""gradio's per-session state, without its second copy of every component's config.

Why: gradio 6.31 keeps, for each session, the config of every component of the page (its props,
API schema and example inputs) beside the components themselves. One route reads it, deep links,
which this app closes (`savs.closed_routes`). Building that copy was a third of the server's
work for a new session's first event (the upload button's API schema alone 14%; a class of
thirty starts at once), and every `gr.update` and `gr.State` output rebuilt an entry of it.

It was also memory any visitor could fill: gradio stores each event's inputs in that copy
before the callback runs, so a refused 15 MB text kept 15 MB per made-up session (measured on
an exported Space, 7 Dec 2026: 60 calls kept +1.2 GB), and a do-nothing request with a new
session hash ~35 KB.

What stays as gradio has it: the components a session's updates changed (`blocks_config`), the
`gr.State` values and their time to live, the least-recently-used order of sessions.
`PageStateBlocks` (the app's `StudioBlocks`, an exported Space's page) makes gradio's
StateHolder hand out these (tests/app/test_blocks.py). This module imports nothing of the app:
`savs.export_space` copies it into exported Spaces.
"""

from __future__ import annotations

import datetime
from typing import Any

import gradio as gr
from gradio.state_holder import SessionState, StateHolder


class _NoComponents:
    """What SessionState.__init__ reads of the Blocks, with no component to copy a config of."""

    def __init__(self, blocks: gr.Blocks) -> None:
        self.default_config = blocks.default_config
        self.blocks: dict = {}


class PageState(SessionState):
    """A session's state with no config copy (`config_values` stays empty)."""

    def __init__(self, blocks: gr.Blocks) -> None:
        super().__init__(_NoComponents(blocks))

    def __setitem__(self, key: int, value: Any) -> None:
        block = self.blocks_config.blocks.get(key)
        if isinstance(block, gr.State):
            self._state_ttl[key] = (block.time_to_live, datetime.datetime.now())
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value

    def _update_config(self, key: int) -> None:
        pass  # no copy to update

    def _update_value_in_config(self, key: int, value: Any) -> None:
        pass


class PageStates(StateHolder):
    """gradio's StateHolder, making a PageState for each new session."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = PageState(self.blocks)
        return super().__getitem__(session_id)


class PageStateBlocks(gr.Blocks):
    """gr.Blocks whose server's StateHolder is PageStates: sessions without a config copy."""

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


__all__ = ["PageState", "PageStateBlocks", "PageStates"]
