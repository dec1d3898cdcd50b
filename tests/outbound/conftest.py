"""Shared helpers of the sink tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from socialplug.model import Alert, Author, Delivery, Item, Post, delivery_key


ROOT = Path(__file__).resolve().parents[2]
SHARED_OUTBOUND = ROOT / ".." / "shared" / "fixtures" / "outbound"
OWN_OUTBOUND = ROOT / "tests" / "fixtures" / "outbound"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

#: Text that tries every trick: broadcasts, user mentions, spoofed links, markup, HTML.
HOSTILE = (
    "<!channel> <!here> @channel @here @everyone @room <@U024BE7LH> <@&123> "
    "[https://good.example](https://evil.example) <https://evil.example|https://good.example> "
    "**bold** <script>alert(1)</script> & done"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def need_shared(path: Path) -> Path:
    """Return *path*, or skip (fail under CI) when the shared fixtures are absent."""
    if not path.exists():
        reason = f"shared fixtures not found at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def make_post(
    n: int = 1, *, text: str = "The 8:15 train is stuck in the tunnel", **kw: object
) -> Post:
    values: dict[str, object] = {
        "platform": "mastodon",
        "id": str(n),
        "text": text,
        "created_at": T0,
        "author": Author(id="a1", handle="ann@example.social", name="Ann"),
        "url": f"https://example.social/@ann/{n}",
        "source": "mastodon:#trains",
    }
    values.update(kw)
    return Post(**values)  # type: ignore[arg-type]


def make_alert(
    kind: str = "incident.opened", *, incident: str | None = "inc-1", **kw: object
) -> Alert:
    values: dict[str, object] = {
        "kind": kind,
        "key": f"{incident}:{kind}",
        "title": "Spike: trains delayed",
        "created_at": T0,
        "summary": "42 posts in 5 minutes mention delays",
        "severity": "P1",
        "incident": incident,
        "posts": (make_post(1), make_post(2, text="Still stuck")),
        "data": {"count": 42, "rate": 8.4},
        "url": "https://status.example.com/incidents/1",
    }
    values.update(kw)
    return Alert(**values)  # type: ignore[arg-type]


def deliveries(*items: Item, sink: str = "s", route: str = "r") -> list[Delivery]:
    return [
        Delivery(item=i, route=route, sink=sink, key=delivery_key(route, sink, i.key))
        for i in items
    ]
