"""Escaping what visitors and shared files supply, before the page renders it."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from savs.markup import hide_paths, md, plain

pytestmark = pytest.mark.unit

HOSTILE = [
    "![x](https://elsewhere.invalid/p.png)",
    "[sign in again](https://phish.invalid)",
    "<form action=//x><input name=pw></form>",
    "<img src=x onerror=alert(1)>",
    "**bold** _it_ `code` # heading | table | $x^2$",
    "https://elsewhere.invalid/page",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_keeps_no_markup(text):
    out = md(text)
    # every character that opens markup is escaped, and no bare URL scheme is left to autolink
    assert not re.search(r"(?<!\\)[<>\[\]()!*_`#|$]", out), out
    assert "://" not in out.replace("\\://", "")


@settings(derandomize=True, database=None, max_examples=200)
@given(st.text(max_size=80))
@example("a\\*b")
@example("\x1b[31mred\x1b[0m")
def test_markdown_escaping_is_total_and_keeps_the_words(text):
    out = md(text, limit=1000)
    assert not re.search(r"(?<!\\)[<>\[\]()!*_`#|$]", out.replace("\\\\", ""))
    assert "\x1b" not in out and "\n" not in out
    # removing the escapes gives the text back (control characters and newlines aside)
    kept = (
        re.sub(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]", "", text)
        .replace("\r", " ")
        .replace("\n", " ")
    )
    assert re.sub(r"\\(.)", r"\1", out) == kept


def test_long_text_is_cut():
    assert md("x" * 1000, limit=10) == "x" * 10 + "…"
    assert len(plain("y" * 5000, limit=100)) == 101


def test_html_is_entities_not_tags():
    assert plain("<b>hi</b> & 'q'") == "&lt;b&gt;hi&lt;/b&gt; &amp; 'q'"


@pytest.mark.parametrize(
    "message, shown",
    [
        ("/tmp/savs-import-ab12/data.jsonl:3: bad", "data.jsonl:3: bad"),
        ("'/tmp/gradio/4f2/x.zip': not a zip", "'x.zip': not a zip"),
        ("see C:\\Users\\me\\secret.png now", "see secret.png now"),
        ("What colour? a/b and http://x.org/a stay", "What colour? a/b and http://x.org/a stay"),
    ],
)
def test_server_paths_are_cut_to_their_last_part(message, shown):
    assert hide_paths(message) == shown
