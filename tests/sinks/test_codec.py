"""The bus message format: lossless posts, and anything else as Malformed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from _sinks_support import deliveries, make_post

from socialplug._bus._codec import decode, dump_cursor, encode, headers_of, load_cursor
from socialplug.model import Alert, Malformed


def test_posts_round_trip_with_raw_and_annotations():
    """A post survives encode/decode exactly, raw payload and nested values included."""
    post = make_post(5, quote_of=make_post(6))
    (d,) = deliveries([post])

    back = decode(encode(d), source="s", where="m")

    assert back == post
    assert dict(back.raw) == dict(post.raw)
    assert json.loads(encode(d))["type"] == "post"
    assert headers_of(d) == {
        "socialplug-key": post.key,
        "socialplug-delivery-key": d.key,
        "socialplug-route": "ops",
    }


def test_huge_integers_fall_back_to_the_standard_encoder():
    """Values orjson refuses (ints beyond 64 bits) are still encoded, losslessly."""
    post = make_post(1, raw={"id": 2**70})

    back = decode(encode(deliveries([post])[0]), source="s", where="m")

    assert back.raw["id"] == 2**70


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"\xff\xfe", "not a serialized post", id="not-utf8"),
        pytest.param(b"[1, 2]", "expected a JSON object", id="array"),
        pytest.param(b'{"type": "post", "id": "1"}', "not a serialized post", id="incomplete"),
        pytest.param(None, "no payload", id="empty"),
    ],
)
def test_bad_payloads_become_malformed(payload, reason):
    """Undecodable payloads are reported with a reason and the payload kept as text."""
    got = decode(payload, source="src", where="message 7")

    assert isinstance(got, Malformed)
    assert reason in got.reason
    assert got.reason.startswith("message 7")
    assert got.source == "src"


def test_alerts_are_not_posts():
    """A bus source reads posts; an alert on the bus is reported, not turned into a post."""
    alert = Alert(kind="spike", key="a1", title="t", created_at=datetime(2026, 1, 1, tzinfo=UTC))

    got = decode(encode(deliveries([alert])[0]), source="s", where="m")

    assert isinstance(got, Malformed)
    assert "alert" in got.reason


def test_cursors():
    """Cursors are JSON lists; anything else names nothing to acknowledge."""
    assert load_cursor(dump_cursor(["1-0", "2-0"])) == ["1-0", "2-0"]
    assert load_cursor("not json") == []
    assert load_cursor('{"a": 1}') == []
