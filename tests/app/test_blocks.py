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


def test_sessions_keep_no_copy_of_the_page_config_and_the_same_state():
    """StudioBlocks' server hands out PageStates: no per-session copy of every component's
    config (gradio builds one, for deep links only), while State values, their time to live
    and the components a session's updates change are kept as gradio keeps them; and the page
    receives the same answers."""
    from gradio.routes import App

    from studio.gradio_state import PageState

    answers = []
    for cls in (gr.Blocks, StudioBlocks):
        demo = build(cls)
        App.create_app(demo)  # as launch does: the server's StateHolder meets the Blocks
        session = demo.state_holder["visitor"]
        assert isinstance(session, PageState) == (cls is StudioBlocks)
        assert bool(session.config_values) == (cls is gr.Blocks)  # gradio's own: a copy
        fn = demo.fns[0]
        predictions = [3, "typed", 2.0, gr.update(visible=False), None, {"a": 1.0}]
        out = asyncio.run(demo.postprocess_data(fn, predictions, session))
        state, button = fn.outputs[0], fn.outputs[3]
        assert session[state._id] == 3 and state._id in session._state_ttl
        assert session.blocks_config.blocks[button._id].visible is False  # this session's
        assert button.visible is True  # the page's own component is unchanged
        assert demo.state_holder["visitor"] is session  # one state per session
        answers.append(out)
    assert answers[0] == answers[1]


def _pictures_and_figures(cls):
    with cls() as demo:
        picture, plot, choice = gr.Image(type="pil", format="jpeg"), gr.Plot(), gr.Dropdown([])
        number = gr.Number()
        button = gr.Button()
        button.click(lambda: None, None, [picture, plot, choice, number])
    return demo


def test_plain_outputs_postprocessed_together_are_what_gradio_sends(tmp_path):
    """Plain values (a picture moved to gradio's cache, a figure, a value checked against a
    choice list an update of the same event set) go through one worker thread: the page
    gets what gradio's own sends, for gradio's session state and for ours."""
    from PIL import Image

    from savs import plots
    from studio.gradio_state import PageState

    picture = Image.new("RGB", (8, 8), (200, 30, 30))
    answers = []
    for cls, make_state in (
        (gr.Blocks, SessionState),
        (StudioBlocks, SessionState),
        (StudioBlocks, PageState),
    ):
        demo = _pictures_and_figures(cls)
        values = [picture, plots.empty_figure("x"), gr.update(choices=["a", "b"], value="b"), 2]
        answers.append(asyncio.run(demo.postprocess_data(demo.fns[0], values, make_state(demo))))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0]["path"] and answers[0][1]["type"] == "plotly"


def test_a_plain_output_that_fails_says_so_as_gradio_says_it():
    messages = []
    for cls in (gr.Blocks, StudioBlocks):
        demo = _pictures_and_figures(cls)
        values = [gr.skip(), 123, gr.skip(), 2]  # a number is no figure
        with pytest.raises(Exception) as failed:
            asyncio.run(demo.postprocess_data(demo.fns[0], values, SessionState(demo)))
        messages.append((type(failed.value), str(failed.value)))
    assert messages[0] == messages[1]


def _cards(cls):
    """A page with a `gr.render` like the class cards: a group per item, its inputs wrapped
    in a Form by gradio, none keyed (so each run draws new components)."""
    with cls() as demo:
        items = gr.Textbox()
        redraw = gr.Button()

        @gr.render(inputs=[items], triggers=[redraw.click])
        def cards(names):
            for name in names.split():
                with gr.Group():
                    gr.Textbox(value=name)
                    gr.Number(value=len(name))
                    gr.Markdown(name)

    return demo


def _run(demo, fn, state, names):
    return asyncio.run(demo.process_api(block_fn=fn, inputs=[" ".join(names)], state=state))


def test_a_render_keeps_only_what_its_last_run_drew():
    """gradio keeps every component a render ever drew in the session's config; StudioBlocks
    forgets those its last run did not draw again (the class cards' redraw after each edit
    kept 1,000 thumbnails per redraw): the session's components stop growing with redraws,
    and the page still gets the same layout, with the last run's components."""
    from gradio.routes import App

    counts, layouts = {}, {}
    for cls in (gr.Blocks, StudioBlocks):
        demo = _cards(cls)
        App.create_app(demo)
        fn = next(f for f in demo.fns.values() if f.renderable is not None)
        state = demo.state_holder["visitor"]
        sizes = []
        for names in (["a", "b", "c"], ["a", "b", "c"], ["a", "b"], ["a", "b", "c", "d"]):
            answer = _run(demo, fn, state, names)
            sizes.append(len(state.blocks_config.blocks))
        counts[cls] = sizes
        config = answer["render_config"]
        layouts[cls] = len(config["layout"]["children"])
        drawn = {c["id"] for c in config["components"]}
        assert all(i in state.blocks_config.blocks for i in drawn)
    start = counts[StudioBlocks][0]
    per_item = 5  # a group, gradio's form in it, a textbox, a number, a markdown
    # gradio's own: every run's components stay (3, 3, 2 and 4 items' worth)
    assert counts[gr.Blocks] == [start + per_item * n for n in (0, 3, 5, 9)]
    assert counts[StudioBlocks] == [start, start, start - per_item, start + per_item]
    assert layouts[gr.Blocks] == layouts[StudioBlocks] == 4
