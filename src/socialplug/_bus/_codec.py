"""
The message format on every bus, and the page cursors of bus sources.

A message's payload is the item as JSON (:func:`~socialplug.model.item_to_dict`: the post's
:meth:`~socialplug.model.Post.to_dict` plus ``"type": "post"``), UTF-8 encoded. Where the broker
has headers or properties, a message also carries the item key (``socialplug-key``), the
delivery's idempotency key (``socialplug-delivery-key``, also the broker's message id where it
has one) and the route (``socialplug-route``). A consumer in any language can read the payload
without socialplug.

A bus source's page cursor is JSON naming what the runtime's ``commit(cursor)`` acknowledges:
message ids, delivery tags or offsets. The broker, not the state store, remembers the position;
a stored cursor is only informative on restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .._fastjson import dumps, loads
from ..model import Alert, Delivery, Malformed, Page, Post, item_from_dict, item_to_dict


__all__ = [
    "DELIVERY_KEY",
    "ITEM_KEY",
    "ROUTE",
    "decode",
    "dump_cursor",
    "encode",
    "headers_of",
    "load_cursor",
    "make_page",
]

ITEM_KEY: Final = "socialplug-key"
DELIVERY_KEY: Final = "socialplug-delivery-key"
ROUTE: Final = "socialplug-route"
_MAX_PAYLOAD_IN_DEAD_LETTER: Final = 64 * 1024


def encode(delivery: Delivery, /) -> bytes:
    """Return the payload of *delivery*: its item as UTF-8 JSON with a ``type`` tag."""
    return dumps(item_to_dict(delivery.item))


def headers_of(delivery: Delivery, /) -> dict[str, str]:
    """Return the headers every bus message carries (see the module docstring)."""
    return {ITEM_KEY: delivery.item.key, DELIVERY_KEY: delivery.key, ROUTE: delivery.route}


def decode(payload: bytes | str | None, /, *, source: str, where: str) -> Post | Malformed:
    """
    Turn a message payload back into a post; anything else becomes a :class:`Malformed`
    (kept as a dead letter, the pipeline goes on). *where* names the message in the reason.
    """
    if payload is None:
        return Malformed(reason=f"{where}: message has no payload", payload="", source=source)
    try:
        item = item_from_dict(_object(loads(payload)))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = f"{where}: not a serialized post: {type(exc).__name__}: {exc}"
    else:
        if not isinstance(item, Alert):
            return item
        reason = f"{where}: an alert, not a post; bus sources read posts"
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    return Malformed(reason=reason, payload=text[:_MAX_PAYLOAD_IN_DEAD_LETTER], source=source)


def _object(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        msg = f"expected a JSON object, got {type(data).__name__}"
        raise TypeError(msg)
    return data


def dump_cursor(ids: Iterable[Any], /) -> str:
    """Return a page cursor naming *ids* (JSON values) to acknowledge."""
    return json.dumps(list(ids), separators=(",", ":"))


def load_cursor(cursor: str, /) -> list[Any]:
    """Parse a :func:`dump_cursor` cursor; anything else names nothing to acknowledge."""
    try:
        value = json.loads(cursor)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def make_page(
    items: Sequence[Post | Malformed], ids: Iterable[Any], /, *, cursor: str | None = None
) -> Page:
    """
    Return the page of decoded *items* whose cursor acknowledges *ids* (or is *cursor*).
    """
    posts = tuple(i for i in items if isinstance(i, Post))
    malformed = tuple(i for i in items if isinstance(i, Malformed))
    return Page(
        posts=posts,
        cursor=dump_cursor(ids) if cursor is None else cursor,
        malformed=malformed,
    )
