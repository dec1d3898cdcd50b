"""
Compact JSON with orjson when the ``fast`` extra is installed, else the standard library.

Both produce the same JSON for socialplug's values (UTF-8, no extra spaces); orjson is several
times faster, and refuses a few values the standard library takes (integers beyond 64 bits),
for which this module falls back to the standard library.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any


__all__ = ["dumps", "dumps_text", "loads"]


def _std_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@functools.cache
def _impl() -> tuple[Callable[[Any], bytes], Callable[[bytes | str], Any], type[Exception]]:
    try:
        import orjson  # noqa: PLC0415  (optional extra, imported on first use)
    except ImportError:
        return _std_dumps, json.loads, TypeError
    return orjson.dumps, orjson.loads, orjson.JSONEncodeError


def dumps(value: Any, /) -> bytes:
    """Return *value* as compact UTF-8 JSON."""
    encode, _, refused = _impl()
    try:
        return encode(value)
    except refused:
        return _std_dumps(value)


def dumps_text(value: Any, /) -> str:
    """Return *value* as compact JSON text."""
    return dumps(value).decode()


def loads(data: bytes | str, /) -> Any:
    """
    Parse JSON as :func:`json.loads` does, with orjson where it can.

    What orjson refuses and the standard library takes (a byte order mark, ``NaN``, a lone
    surrogate escape, a number beyond a double's range) goes to the standard library, so
    the two differ only on integers beyond 64 bits, which orjson reads as floats: use
    :func:`json.loads` for payloads that may carry them.

    Raises:
        ValueError: *data* is not JSON (or not UTF-8).
    """
    decode = _impl()[1]
    try:
        return decode(data)
    except ValueError:
        if decode is json.loads:
            raise
        return json.loads(data)
