"""
The HMAC-SHA256 signature scheme shared by the webhook sink (signs) and source (verifies).

Header ``X-Socialplug-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
``HMAC-SHA256(secret, f"{t}.".encode() + body)``. The timestamp is signed with the body, so a
replayed request outside the window is refused; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time


__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Socialplug-Signature"


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """Return the signature header value for *body*."""
    key = secret.encode() if isinstance(secret, str) else secret
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(key, t, body)}"


def verify(
    secret: str | bytes,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """
    Return whether *header* is a valid signature of *body* made within *tolerance* seconds.
    """
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    expected = _mac(key, t, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", ()))
