"""
The webhook signature scheme: HMAC-SHA256 over the timestamp and body, with a replay window.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from socialplug._signing import SIGNATURE_HEADER, sign, verify


SECRET = "whsec-test"
BODY = b'{"event":"post","id":"1"}'
T = 1_800_000_000


def test_header_name_and_format():
    """The header is t=<seconds>,v1=<hex HMAC-SHA256 of "t." + body>."""
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert SIGNATURE_HEADER == "X-Socialplug-Signature"
    assert sign(SECRET, BODY, timestamp=T) == f"t={T},v1={expected}"


def test_valid_signature_verifies():
    """A fresh signature of the exact body verifies; str and bytes secrets agree."""
    header = sign(SECRET, BODY, timestamp=T)
    assert verify(SECRET, BODY, header, now=T + 10)
    assert verify(SECRET.encode(), BODY, header, now=T)


@pytest.mark.parametrize(
    ("secret", "body"),
    [("wrong-secret", BODY), (SECRET, BODY + b" "), (SECRET, b"")],
)
def test_forged_signature_is_refused(secret, body):
    """A different secret or a changed body fails."""
    assert not verify(secret, body, sign(SECRET, BODY, timestamp=T), now=T)


def test_tampered_timestamp_is_refused():
    """Moving the timestamp without re-signing fails: the timestamp is signed."""
    mac = sign(SECRET, BODY, timestamp=T).split("v1=")[1]
    assert not verify(SECRET, BODY, f"t={T + 1},v1={mac}", now=T)


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_stale_or_future_signature_is_refused(offset):
    """A signature outside the tolerance window (either side) fails."""
    header = sign(SECRET, BODY, timestamp=T)
    assert not verify(SECRET, BODY, header, now=T + offset)
    assert verify(SECRET, BODY, header, now=T + offset, tolerance=abs(offset) + 1)


def test_multiple_v1_values_any_may_match():
    """During secret rotation several v1 values may be sent; one valid value suffices."""
    old = sign("old-secret", BODY, timestamp=T).split("v1=")[1]
    new = sign(SECRET, BODY, timestamp=T).split("v1=")[1]
    assert verify(SECRET, BODY, f"t={T},v1={old},v1={new}", now=T)
    assert verify(SECRET, BODY, f"t={T}, v1={new}, v1={old}", now=T)
    assert not verify(SECRET, BODY, f"t={T},v1={old},v1={'0' * 64}", now=T)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", f"v1={'0' * 64}", "t=abc,v1=00", f"t={T}", f"t={T},v1="],
)
def test_malformed_headers_are_refused(header):
    """Missing or malformed headers verify as False, never raise."""
    assert not verify(SECRET, BODY, header, now=T)
