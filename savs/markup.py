"""Escaping user-supplied text for the places the app renders it.

Why: labels, class names, file names and messages come from visitors and from shared files.
Gradio renders Markdown (and toasts) as HTML, so a label like `![x](https://elsewhere/)` or
`<form ...>` would draw or fetch whatever its author wanted. Every user string passes through
one of these before it reaches the page.
"""

from __future__ import annotations

import html
import re

# every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all of them
# that mean something (links, images, emphasis, code, HTML, tables, headings, math) makes the
# text literal
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~<>&$])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:)?(?:[/\\][^/\\\s'\"():,]+)+[/\\]([^/\\\s'\"():,]*)")


def hide_paths(message: str) -> str:
    """A message for a visitor: every absolute path shortened to its last part, so errors
    never show where the server keeps files."""
    return _PATH.sub(lambda m: m.group(1) or "(folder)", message)


def md(text: object, limit: int = 300) -> str:
    """`text` as literal Markdown: no markup, links, images or HTML survive. Long text is cut
    (with an ellipsis) so one label cannot fill the page; newlines become spaces."""
    s = _CONTROL.sub("", str(text)).replace("\r", " ").replace("\n", " ")
    if len(s) > limit:
        s = s[:limit] + "…"
    # "://" too: a bare URL in a label would become a link (autolink) otherwise
    return _MARKDOWN_SPECIAL.sub(r"\\\1", s).replace("://", "\\://")


def plain(text: object, limit: int = 2000) -> str:
    """`text` for places rendered as HTML (toasts, HTML components): entities, no tags."""
    s = _CONTROL.sub("", str(text))
    if len(s) > limit:
        s = s[:limit] + "…"
    return html.escape(s, quote=False)


__all__ = ["md", "plain", "hide_paths"]
