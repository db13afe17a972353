"""No one kind of event takes every place in gradio's queue.

Why: gradio's queue has one size for all events (64 here), counted over every concurrency
group. A webcam stream holds its worker while it waits for frames (up to its time limit, 30 s),
so a script joining streams from made-up sessions (no frame sent, nothing read) filled the
places left behind the running ones: every other visitor's `/classify` was refused with "Queue
is full" for as long as the script topped them up (measured on an exported Space, 7 Dec 2026:
0 of 17 answered in 50 s). Per-session caps (`studio.fairness`) cannot see it: each join has
its own session.

How: `cap_waiting` refuses a join of one group (gradio answers 503 with the message) while that
group already has `limit` events waiting, before it takes a place. Running events do not
count: they left the queue. This module imports nothing of the app: `savs.export_space`
copies it into exported Spaces.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

# what a webcam's join past the cap is told (the app and exported Spaces alike)
TOO_MANY_WEBCAMS = "Too many webcams are waiting for the server: try again in a minute."


def cap_waiting(demo: gr.Blocks, concurrency_id: str, limit: int, message: str) -> None:
    """At most `limit` events of `concurrency_id` waiting in `demo`'s queue; a join past it is
    refused with `message`. Wraps the queue's push (call after demo.queue)."""
    queue = demo._queue
    push = queue.push

    async def capped_push(body: Any, request: Any, username: str | None) -> tuple:
        fn = demo.fns.get(body.fn_index)
        if fn is not None and fn.concurrency_id == concurrency_id:
            waiting = queue.event_queue_per_concurrency_id.get(concurrency_id)
            if waiting is not None and len(waiting.queue) >= limit:
                return False, message, "queue_full"
        return await push(body=body, request=request, username=username)

    queue.push = capped_push


__all__ = ["TOO_MANY_WEBCAMS", "cap_waiting"]
