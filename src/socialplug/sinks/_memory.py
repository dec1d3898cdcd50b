"""
A sink that keeps what it receives in memory: notebooks, tests, small scripts.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..model import Alert, Delivery, Item, Post


__all__ = ["MemorySink"]


@attrs.define(eq=False)
class MemorySink:
    """
    Collect deliveries in a list, in the order they arrived.

    Attributes:
        deliveries: Every delivery received.
        batches: The batches as received (to check batching).
    """

    deliveries: list[Delivery] = attrs.field(factory=list, init=False)
    batches: list[list[Delivery]] = attrs.field(factory=list, init=False, repr=False)

    @property
    def items(self) -> list[Item]:
        """The delivered posts and alerts."""
        return [d.item for d in self.deliveries]

    @property
    def posts(self) -> list[Post]:
        """The delivered posts."""
        return [d.item for d in self.deliveries if isinstance(d.item, Post)]

    @property
    def alerts(self) -> list[Alert]:
        """The delivered alerts."""
        return [d.item for d in self.deliveries if isinstance(d.item, Alert)]

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Append *batch*."""
        self.batches.append(list(batch))
        self.deliveries.extend(batch)

    async def aclose(self) -> None:
        """Keep what was collected: closing ends a run, not the sink's memory."""

    def clear(self) -> None:
        """Forget what was collected."""
        self.deliveries.clear()
        self.batches.clear()
