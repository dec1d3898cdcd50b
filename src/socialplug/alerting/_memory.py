"""
A throwaway in-memory state store, for backtests run without one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import attrs

from ..model import DeadLetter


__all__ = ["ScratchStore"]


def _copy(value: Any) -> Any:
    # What a durable store would give back: JSON in, JSON out, no shared references.
    return json.loads(json.dumps(value))


@attrs.define(eq=False)
class ScratchStore:
    """
    Keeps everything in dictionaries; lost when the object is.

    .. versionadded:: 0.1.0
    """

    _cursors: dict[str, str] = attrs.field(factory=dict, init=False)
    _seen: dict[str, float | None] = attrs.field(factory=dict, init=False)
    _letters: list[DeadLetter] = attrs.field(factory=list, init=False)
    _records: dict[str, dict[str, Any]] = attrs.field(factory=dict, init=False)

    async def get_cursor(self, source: str, /) -> str | None:
        """Return the cursor of *source*."""
        return self._cursors.get(source)

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        """Keep *cursor* for *source*."""
        self._cursors[source] = cursor

    async def seen(self, keys: Sequence[str], /) -> set[str]:
        """Return which of *keys* were marked seen and have not expired."""
        now = time.monotonic()
        live = {k for k, until in self._seen.items() if until is None or until > now}
        return live.intersection(keys)

    async def mark_seen(self, keys: Sequence[str], /, *, ttl: float | None = None) -> None:
        """Remember *keys*."""
        until = None if ttl is None else time.monotonic() + ttl
        for key in keys:
            self._seen[key] = until

    async def add_dead_letters(self, letters: Sequence[DeadLetter], /) -> None:
        """Keep *letters*, numbering them."""
        for letter in letters:
            self._letters.append(attrs.evolve(letter, id=len(self._letters) + 1))

    async def dead_letters(
        self, *, origin: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        """Return the dead letters, oldest first."""
        found = [d for d in self._letters if origin is None or d.origin == origin]
        return found if limit is None else found[:limit]

    async def remove_dead_letters(self, ids: Sequence[int], /) -> int:
        """Delete the dead letters with *ids*."""
        before = len(self._letters)
        self._letters = [d for d in self._letters if d.id not in ids]
        return before - len(self._letters)

    async def get_record(self, namespace: str, key: str, /) -> Any:
        """Return the record, or ``None``."""
        return _copy(self._records.get(namespace, {}).get(key))

    async def put_record(
        self, namespace: str, key: str, value: Any, /, *, ttl: float | None = None
    ) -> None:
        """Store a JSON *value* (the *ttl* is ignored: nothing here outlives the process)."""
        self._records.setdefault(namespace, {})[key] = _copy(value)

    async def delete_record(self, namespace: str, key: str, /) -> None:
        """Delete the record if present."""
        self._records.get(namespace, {}).pop(key, None)

    async def records(self, namespace: str, /) -> dict[str, Any]:
        """Return every record of *namespace*."""
        return _copy(self._records.get(namespace, {}))  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Nothing to release."""
