"""Helpers for the data and event-bus sink tests: service checks, posts, deliveries."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest

from socialplug.model import Alert, Author, Delivery, Engagement, Media, Post, delivery_key


SERVICES = {
    "postgres": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "mqtt": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
}


def skip_or_fail(reason: str) -> None:
    """Skip with *reason*; in CI (``CI=true``) fail instead, since CI must run everything."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require(service: str) -> None:
    """Skip (or fail in CI) unless *service* accepts TCP connections on loopback."""
    host, port = SERVICES[service]
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError:
        skip_or_fail(f"{service} is not running on {host}:{port}")


T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def make_post(i: int = 0, **overrides: object) -> Post:
    """A realistic post, numbered *i*, with non-ASCII text, nesting and annotations."""
    fields: dict[str, object] = {
        "platform": "mastodon",
        "id": f"1130{i:06d}",
        "key": f"mastodon:https://example.social/@rail/1130{i:06d}",
        "text": f"Zug {i} steckt im Tunnel fest — again 🚆 #bahn",
        "created_at": T0 + timedelta(seconds=i),
        "author": Author(id=f"a{i % 7}", handle=f"rider{i % 7}@example.social", name="Rider"),
        "url": f"https://example.social/@rail/1130{i:06d}",
        "lang": "de",
        "engagement": Engagement(likes=i % 5, reposts=1, replies=None),
        "tags": ("bahn",),
        "media": (Media(url="https://example.social/m.jpg", alt="Tunnel"),),
        "raw": {"id": f"1130{i:06d}", "nested": {"ok": True}},
        "annotations": {"sentiment": {"label": "negative", "score": -0.8}, "matched": ["rail"]},
        "source": "test",
    }
    fields.update(overrides)
    return Post(**fields)  # type: ignore[arg-type]


def deliveries(
    posts: list[Post] | list[Alert], *, route: str = "ops", sink: str = "db"
) -> list[Delivery]:
    """Wrap *posts* into deliveries with real idempotency keys."""
    return [
        Delivery(item=p, route=route, sink=sink, key=delivery_key(route, sink, p.key))
        for p in posts
    ]
