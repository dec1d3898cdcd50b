"""``socialplug._fastjson``: orjson's speed with the standard library's results."""

from __future__ import annotations

import json

import pytest

from socialplug import _fastjson


pytest.importorskip("orjson")


@pytest.mark.parametrize(
    "data",
    [
        b'{"id": "1", "n": [1, 2.5, null, true], "s": "caf\\u00e9 \xf0\x9f\x9a\x86"}',
        b"\xef\xbb\xbf{}",  # a byte order mark: orjson refuses it
        b'"\\ud800"',  # a lone surrogate escape: orjson refuses it
        b"[NaN, Infinity, -Infinity]",  # not JSON, but the standard library reads them
        b'{"big": 1e400}',  # beyond a double: orjson refuses it
        '{"text": "already decoded"}',
    ],
)
def test_loads_gives_what_the_standard_library_gives(data: bytes | str) -> None:
    expected = json.loads(data)
    got = _fastjson.loads(data)
    assert repr(got) == repr(expected)
    assert type(got) is type(expected)


@pytest.mark.parametrize("data", [b"[1, 2", b'"\xff"', b"", b"{'a': 1}"])
def test_bad_json_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        _fastjson.loads(data)
