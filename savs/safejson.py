"""JSON someone else wrote (JSONL lines, classifier.json, studio.json), parsed strictly.

Why: Python's json accepts NaN, Infinity and 1e999 (which becomes inf), and a non-finite number
in a config poisons every later comparison and plot; an integer of more than 4,300 digits raises
a bare ValueError that the readers did not catch. Every reader parses through here and catches
`JSON_ERRORS`; the caller bounds the size before calling.
"""

from __future__ import annotations

import json
import math

JSON_ERRORS: tuple[type[BaseException], ...] = (ValueError, RecursionError)  # JSONDecodeError too


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number here (every number must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise ValueError(f"{text[:20]} is out of range (every number must be finite)")
    return value


def strict_json(text: str) -> object:
    """json.loads, refusing NaN, Infinity and numbers too large for a float: nothing a stranger
    sends may carry a non-finite number into a config. Every failure is a ValueError (a
    JSONDecodeError, a refused number, an integer of over 4,300 digits) or a RecursionError."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def json_reason(exc: BaseException) -> str:
    """A short reason for a `strict_json` failure, with the position where JSON gives one."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(exc):
        return "a number with more than 4,300 digits"
    return str(exc)


__all__ = ["JSON_ERRORS", "strict_json", "json_reason"]
