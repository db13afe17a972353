"""Counts in messages read naturally: '1 mistake', '2 mistakes', '1 class', '3 classes'."""

from __future__ import annotations

import pytest

from savs.text import plural

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "n, word, expected",
    [
        (1, "mistake", "1 mistake"),
        (2, "mistake", "2 mistakes"),
        (0, "mistake", "0 mistakes"),
        (1, "class", "1 class"),
        (2, "class", "2 classes"),
        (1, "head", "1 head"),
        (12, "head", "12 heads"),
        (3, "query", "3 queries"),
        (2, "day", "2 days"),
        (2, "box", "2 boxes"),
        (2, "match", "2 matches"),
        (1, "example", "1 example"),
    ],
)
def test_plural(n, word, expected):
    assert plural(n, word) == expected


def test_plural_takes_an_irregular_form():
    assert plural(2, "person", "people") == "2 people"
    assert plural(1, "person", "people") == "1 person"
