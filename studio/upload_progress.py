"""gradio's upload-progress records, kept only while they can still be read.

Why: gradio 6.31 keeps an asyncio.Event for every upload id anyone asks about
(`GET /gradio_api/upload_progress?upload_id=...`: the id is the visitor's choice, of any length)
and never deletes it; and it keeps a tracker for every upload sent with an id until a progress
stream of that id ends, which a script never opens. 2,000 such requests with 8 KB ids kept
25 MB in the app (measured 6 Dec 2026, late, the app as its own process): memory any visitor
can grow without end.

How: the one `FileUploadProgress` gradio's routes share becomes a `TidyUploadProgress` (its class
is swapped, as `studio.gradio_state` does for the session states): a wait that ends with its id
untracked (gradio answers 404 after 3 s) drops its Event; a progress stream that ends drops it
too; at most MAX_TRACKED uploads are tracked at once, the oldest dropped first (its progress
stream, if one is open, ends; the upload itself goes on).
"""

from __future__ import annotations

import gradio.routes
from gradio.route_utils import FileUploadProgress

MAX_TRACKED = 1000  # uploads in flight whose progress a page may read


class TidyUploadProgress(FileUploadProgress):
    """FileUploadProgress that forgets an upload id once no one can read it."""

    def track(self, upload_id: str) -> None:
        while len(self._statuses) >= MAX_TRACKED:  # the oldest first (insertion order)
            self.stop_tracking(next(iter(self._statuses)))
        super().track(upload_id)

    async def is_tracked(self, upload_id: str) -> bool:
        try:
            return await super().is_tracked(upload_id)
        finally:  # also when gradio's 3 s wait gives up on it
            if upload_id not in self._statuses:
                self._signals.pop(upload_id, None)

    def stop_tracking(self, upload_id: str) -> None:
        super().stop_tracking(upload_id)
        self._signals.pop(upload_id, None)


def tidy_upload_progress() -> FileUploadProgress:
    """Make gradio's shared upload-progress records tidy (see above); returns them."""
    records = gradio.routes.file_upload_statuses
    if type(records) is FileUploadProgress:
        records.__class__ = TidyUploadProgress
    return records


__all__ = ["MAX_TRACKED", "TidyUploadProgress", "tidy_upload_progress"]
