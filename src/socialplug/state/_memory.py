"""
A state store in memory: for tests and throwaway notebook runs (lost on exit).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..model import DeadLetter


__all__ = ["MemoryStateStore"]


@attrs.define(eq=False)
class MemoryStateStore:
    """
    Keeps cursors, seen keys, dead letters and records in dicts.

    Values are copied in and out through JSON, so what works here works with the SQLite
    store too.
    """

    clock: Callable[[], float] = attrs.field(default=time.time, repr=False)
    _cursors: dict[str, str] = attrs.field(init=False, factory=dict)
    _seen: dict[str, float | None] = attrs.field(init=False, factory=dict)
    _letters: dict[int, DeadLetter] = attrs.field(init=False, factory=dict)
    _next_id: int = attrs.field(init=False, default=1)
    _records: dict[tuple[str, str], tuple[str, float | None]] = attrs.field(
        init=False, factory=dict
    )

    async def get_cursor(self, source: str, /) -> str | None:
        """Return the committed cursor of *source*."""
        return self._cursors.get(source)

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        """Commit *cursor* for *source*."""
        self._cursors[source] = cursor

    def _live(self, expires: float | None) -> bool:
        return expires is None or expires > self.clock()

    async def seen(self, keys: Sequence[str], /) -> set[str]:
        """Return which of *keys* are remembered."""
        table = self._seen
        return {k for k in keys if k in table and self._live(table[k])}

    async def mark_seen(self, keys: Sequence[str], /, *, ttl: float | None = None) -> None:
        """Remember *keys* for *ttl* seconds."""
        expires = None if ttl is None else self.clock() + ttl
        for key in keys:
            self._seen[key] = expires

    async def add_dead_letters(self, letters: Sequence[DeadLetter], /) -> None:
        """Keep *letters*, assigning ids."""
        for letter in letters:
            self._letters[self._next_id] = attrs.evolve(letter, id=self._next_id)
            self._next_id += 1

    async def dead_letters(
        self, *, origin: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        """Return dead letters, oldest first."""
        found = [
            letter
            for _, letter in sorted(self._letters.items())
            if origin is None or letter.origin == origin
        ]
        return found if limit is None else found[:limit]

    async def remove_dead_letters(self, ids: Sequence[int], /) -> int:
        """Delete dead letters by id."""
        return sum(self._letters.pop(i, None) is not None for i in ids)

    async def get_record(self, namespace: str, key: str, /) -> Any:
        """Return a copy of the record's value, or ``None``."""
        found = self._records.get((namespace, key))
        if found is None or not self._live(found[1]):
            return None
        return json.loads(found[0])

    async def put_record(
        self, namespace: str, key: str, value: Any, /, *, ttl: float | None = None
    ) -> None:
        """Store a JSON value."""
        expires = None if ttl is None else self.clock() + ttl
        self._records[namespace, key] = (json.dumps(value), expires)

    async def delete_record(self, namespace: str, key: str, /) -> None:
        """Delete a record."""
        self._records.pop((namespace, key), None)

    async def records(self, namespace: str, /) -> dict[str, Any]:
        """Return every live record of *namespace*."""
        return {
            key: json.loads(raw)
            for (ns, key), (raw, expires) in self._records.items()
            if ns == namespace and self._live(expires)
        }

    async def aclose(self) -> None:
        """Nothing to release."""
