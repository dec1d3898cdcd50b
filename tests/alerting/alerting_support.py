"""
Shared by the alerting tests: a dict-backed state store and the routes of a rail company.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from socialplug.model import DeadLetter, Post
from socialplug.routing import Escalation, Route, Router, Tier


class DictStore:
    """
    The records part of the StateStore protocol over a dict, JSON in and out (so a value
    that would not survive a real store fails here too); counts writes.
    """

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}
        self.writes = 0

    async def get_cursor(self, source: str, /) -> str | None:
        return None

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        raise NotImplementedError

    async def seen(self, keys: Sequence[str], /) -> set[str]:
        return set()

    async def mark_seen(self, keys: Sequence[str], /, *, ttl: float | None = None) -> None:
        raise NotImplementedError

    async def add_dead_letters(self, letters: Sequence[DeadLetter], /) -> None:
        raise NotImplementedError

    async def dead_letters(
        self, *, origin: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        return []

    async def remove_dead_letters(self, ids: Sequence[int], /) -> int:
        return 0

    async def get_record(self, namespace: str, key: str, /) -> Any:
        raw = self.data.get(namespace, {}).get(key)
        return None if raw is None else json.loads(raw)

    async def put_record(
        self, namespace: str, key: str, value: Any, /, *, ttl: float | None = None
    ) -> None:
        self.writes += 1
        self.data.setdefault(namespace, {})[key] = json.dumps(value)

    async def delete_record(self, namespace: str, key: str, /) -> None:
        self.data.get(namespace, {}).pop(key, None)

    async def records(self, namespace: str, /) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.data.get(namespace, {}).items()}

    async def aclose(self) -> None:
        pass


def mentions(post: Post) -> bool:
    """The support route's query: the brand is mentioned."""
    return "acmerail" in post.text.lower()


def never(post: Post) -> bool:
    """Routes that only receive escalations."""
    return False


ESCALATION = Escalation(
    Tier(after=timedelta(minutes=15), route="operations"),
    Tier(after=timedelta(minutes=30), route="management"),
)


def rail_router() -> Router:
    """Support hears first; operations after 15 minutes, management after 30."""
    return Router(
        [
            Route(
                name="support",
                sinks=["support-chat"],
                when=mentions,
                team="support",
                priority="P3",
                escalation=ESCALATION,
            ),
            Route(
                name="operations",
                sinks=["ops-pager"],
                when=never,
                team="operations",
                priority="P2",
            ),
            Route(
                name="management",
                sinks=["management-mail"],
                when=never,
                team="management",
                priority="P1",
            ),
        ]
    )
