"""
Injected time: every time-based component asks a :class:`Clock`, never the system directly,
so history can be replayed in simulated time (backtests, tests).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import anyio
import attrs


__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """
    **Protocol:** The current time and a way to wait.
    """

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float, /) -> None:
        """Wait *seconds* of this clock's time."""
        ...


@attrs.frozen
class SystemClock:
    """
    The real time.
    """

    def now(self) -> datetime:
        """Return ``datetime.now(UTC)``."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float, /) -> None:
        """Sleep for real (cancellable)."""
        await anyio.sleep(seconds)


@attrs.define
class ManualClock:
    """
    Simulated time that moves only when told to: :meth:`advance`, or :meth:`sleep`, which
    advances instead of waiting. Records every sleep, so tests can check backoff delays.
    """

    current: datetime = attrs.field(factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    sleeps: list[float] = attrs.field(factory=list)

    def now(self) -> datetime:
        """Return the simulated time."""
        return self.current

    def advance(self, seconds: float, /) -> None:
        """Move time forward by *seconds*."""
        self.current += timedelta(seconds=seconds)

    def set(self, when: datetime, /) -> None:
        """Jump to *when* (never backwards)."""
        self.current = max(self.current, when)

    async def sleep(self, seconds: float, /) -> None:
        """Record *seconds*, advance by them and yield to other tasks once."""
        self.sleeps.append(seconds)
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()
