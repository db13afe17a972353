"""studio.blocks.StudioBlocks answers an event's skipped outputs itself (gradio 6.31 builds a
component and its JSON schema for each): what the page receives must be what gradio's own
gr.Blocks sends, skipped outputs, updates, values and State alike, and the session's state
must hold the same values."""

from __future__ import annotations

import asyncio
import copy

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from studio.blocks import StudioBlocks

pytestmark = pytest.mark.app


def build(cls):
    with cls() as demo:
        state = gr.State(0)
        text = gr.Textbox()
        number = gr.Number()
        button = gr.Button()
        plot = gr.Plot()
        label = gr.Label()
        outputs = [state, text, number, button, plot, label]
        button.click(lambda: None, None, outputs)
        button.click(lambda: None, None, text)
    return demo


CASES = {
    "mixed": [gr.skip(), "typed", gr.skip(), gr.update(visible=False), gr.skip(), {"a": 0.5}],
    "all skipped": [gr.skip()] * 6,
    "none skipped": [3, "typed", 2.0, gr.update(value="Go"), None, {"a": 1.0}],
    "one left": [gr.skip(), gr.skip(), 4.0, gr.skip(), gr.skip(), gr.skip()],
    "state set, rest skipped": [7, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()],
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_page_receives_what_gradio_itself_sends(case):
    answers = []
    for cls in (gr.Blocks, StudioBlocks):
        demo = build(cls)
        fn = demo.fns[0]
        state = SessionState(demo)
        predictions = copy.deepcopy(CASES[case])  # gradio pops values out of update dicts
        out = asyncio.run(demo.postprocess_data(fn, predictions, state))
        kept = state[fn.outputs[0]._id] if fn.outputs[0]._id in state else None
        answers.append((out, kept))
    assert answers[0] == answers[1]


def test_a_one_output_event_and_a_wrong_count_go_to_gradio_unchanged():
    demo = build(StudioBlocks)
    one = demo.fns[1]
    assert asyncio.run(demo.postprocess_data(one, gr.skip(), SessionState(demo))) == [
        {"__type__": "update"}
    ]
    with pytest.raises(ValueError):  # gradio's own check of the number of outputs
        asyncio.run(demo.postprocess_data(demo.fns[0], [gr.skip()] * 5, SessionState(demo)))
