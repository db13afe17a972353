"""The redraw every step's events share: after each action, failed or not, the page is drawn
again from the session's state (`views.page`), so what it shows is never stale. After a
success it skips what the event sent and the views whose inputs did not change (`studio.drawn`);
after a failure it draws everything.

Each step names the components the redraw updates or other steps read (`page.add`) and
declares its events next to its components (`page.public`, `page.private`). An event may send
outputs to another step's components that are not drawn yet (load_task fills the train step's
heatmap), so events are registered once the whole page is laid out (`page.finish`), in the
order they were declared; events declared later (the class cards, drawn by `gr.render`) are
registered at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from savs.limits import LIVE_STREAMS, LIVE_TIME_LIMIT_S

from .actions import Studio
from .drawn import forget_session
from .fairness import model_call
from .server import (
    CLICK_QUEUE,
    CLICK_WORKERS,
    LIVE_QUEUE,
    LOAD_QUEUE,
    LOAD_WORKERS,
    MODEL_GROUPS,
    MODEL_QUEUE,
    MODEL_WORKERS,
    start_session,
)
from .views import PAGE, forget_views, page

FIT = ("heatmap", "top_heads", "fit_line")  # what a new fit redraws (views.fit_views)
IMPORTED = ("prompt", "k", "scoring", "summary")  # what an imported dataset sets

PRIVATE = dict(api_visibility="private")
MODEL_BOUND = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_WORKERS)
CLICK_BOUND = dict(concurrency_id=CLICK_QUEUE, concurrency_limit=CLICK_WORKERS)
LOAD_BOUND = dict(concurrency_id=LOAD_QUEUE, concurrency_limit=LOAD_WORKERS)
# the class cards' redraw (`gr.render`, steps/classes.py): one at a time over all sessions
# (gradio's default for a render is no limit: a script replaying a 1,000-example session's
# redraw kept both cores busy), and never two of one session at once (blocks.drop_unrendered)
CARDS_BOUND = dict(concurrency_id="cards", concurrency_limit=1)
# a dataset import extracts a zip of up to HOSTED's 256 MB: two at once over all sessions
IMPORT_BOUND = dict(concurrency_id="import", concurrency_limit=2)
# webcam streams: their own group (an open stream keeps its worker between frames), ended
# LIVE_TIME_LIMIT_S after their frames stop; model work inside takes the model's lock
LIVE = dict(concurrency_id=LIVE_QUEUE, concurrency_limit=LIVE_STREAMS, time_limit=LIVE_TIME_LIMIT_S)

Output = Any  # a component, or the name a step gave it in `page.add` (resolved in `finish`)
Outputs = Output | Sequence[Output]


def redraw(studio: Studio) -> tuple:
    """After a failed action (or one that sent none of the page): the whole page from the
    session's state."""
    start_session(studio)
    return page(studio)


def redraw_all(studio: Studio) -> tuple:
    """After a failed action: the whole page, what it was known to show forgotten. The value a
    visitor typed or picked that the action refused (a k of 0, a head that is not one) is put
    back as the session has it, though the session did not change."""
    start_session(studio)
    forget_session(studio)
    return page(studio)


def redraw_except(sent: frozenset[str]) -> Callable[[Studio], tuple]:
    """After an action that sent the components `sent` itself: the rest of the page."""
    if not sent:
        return redraw

    def redraw_rest(studio: Studio) -> tuple:
        start_session(studio)
        return page(studio, sent)

    return redraw_rest


@dataclass
class Page:
    """The session's state, the components steps share by name, and the events still to wire."""

    state: gr.State
    shown: dict[str, Any] = field(default_factory=dict)
    _pending: list[Callable[[], None]] | None = field(default_factory=list)

    def add(self, **components: Any) -> None:
        """Components the redraw updates (their names in PAGE) or another step reads."""
        self.shown.update(components)

    def __getitem__(self, name: str) -> Any:
        return self.shown[name]

    def public(
        self,
        event: Callable,
        fn: Callable,
        inputs: Outputs,
        outputs: Outputs,
        name: str,
        **kwargs: Any,
    ) -> None:
        """A named API endpoint (stable outputs for gradio_client users), then the redraw.
        A model-bound one takes its session's turn (one model call per session at once)."""
        if kwargs.get("concurrency_id") in MODEL_GROUPS:
            fn = model_call(fn)
        self._later(
            lambda: self.then(
                event(fn, *self._resolve(inputs, outputs), api_name=name, **kwargs),
                sent=self._names(outputs),
            )
        )

    def private(
        self,
        event: Callable,
        fn: Callable,
        inputs: Outputs,
        outputs: Outputs,
        **kwargs: Any,
    ) -> None:
        """A page event that is no API endpoint, then the redraw."""
        self._later(
            lambda: self.then(
                event(fn, *self._resolve(inputs, outputs), **PRIVATE, **kwargs),
                sent=self._names(outputs),
            )
        )

    def on(
        self,
        event: Callable,
        fn: Callable | None,
        inputs: Outputs,
        outputs: Outputs,
        **kwargs: Any,
    ) -> None:
        """An event the redraw does not follow (a stream's frames, a download, a label). What
        it sends of the page's views is no longer what the page's memory says it shows."""
        self._later(
            lambda: event(self._forgetting(fn, outputs), *self._resolve(inputs, outputs), **kwargs)
        )

    def _forgetting(self, fn: Callable | None, outputs: Outputs) -> Callable | None:
        """`fn`, after which the session's page memory (studio.drawn) forgets the views of
        the PAGE components among `outputs`: the next redraw draws them again."""
        names = self._names(outputs)
        if fn is None or not names:
            return fn

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                if args and isinstance(args[0], Studio):
                    forget_views(args[0], names)

        return wrapper

    def then(self, event: Any, sent: frozenset[str] = frozenset()) -> Any:
        """Chain the redraw after `event` (once the page is laid out): after a success, the
        components the event did not send itself (`sent`: it drew them from the same state);
        after a failure, the whole page (a failed event sends nothing)."""
        if self._pending is not None:
            self._pending.append(lambda: self.then(event, sent))
            return event
        shown = [self.shown[n] for n in PAGE]
        event.failure(redraw_all, self.state, shown, **PRIVATE)
        return event.success(redraw_except(sent), self.state, shown, **PRIVATE)

    def _names(self, outputs: Outputs) -> frozenset[str]:
        """The PAGE components among an event's outputs (given by name or as components)."""
        ids = {id(self.shown[n]): n for n in PAGE if n in self.shown}
        listed = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return frozenset(
            c if isinstance(c, str) else ids[id(c)]
            for c in listed
            if (c in PAGE if isinstance(c, str) else id(c) in ids)
        )

    def finish(self) -> None:
        """The page is laid out: wire every event declared so far, in order."""
        pending, self._pending = self._pending or [], None
        missing = set(PAGE) - set(self.shown)
        if missing:  # a step left out a component views.page() draws: positions would shift
            raise RuntimeError(f"views.page() draws components no step added: {sorted(missing)}")
        for wire in pending:
            wire()

    def _later(self, wire: Callable[[], None]) -> None:
        if self._pending is None:
            wire()
        else:
            self._pending.append(wire)

    def _resolve(self, inputs: Outputs, outputs: Outputs) -> tuple[Any, Any]:
        """Names to components; a single component stays single (gradio's own convention)."""

        def one(c: Output) -> Any:
            return self.shown[c] if isinstance(c, str) else c

        def each(cs: Outputs) -> Any:
            return [one(c) for c in cs] if isinstance(cs, (list, tuple)) else one(cs)

        return each(inputs), each(outputs)
