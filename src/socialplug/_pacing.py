"""
Shared request pacing: one budget per (host, credential), across every source that uses it.

Platforms publish their budget in headers (``X-RateLimit-Remaining/Reset``, IETF
``RateLimit-*``, X's ``x-rate-limit-*``, Reddit's ``X-Ratelimit-Used/Remaining/Reset``).
Several sources reading one server with one token share one :class:`Budget`, so together they
never exceed it: a source asks :meth:`Budget.acquire` before each request and reports the
response with :meth:`Budget.observe`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
import attrs

from ._retry import parse_reset, parse_retry_after


__all__ = ["Budget", "budget_for"]


def _number(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(raw.split(",")[0].split(";")[0].strip())
        except ValueError:
            continue
    return None


@attrs.define(eq=False)
class Budget:
    """
    A token bucket refilled at *rate* requests per second (burst *capacity*), corrected by
    what the server says about the remaining budget and its reset.

    Attributes:
        rate: Steady requests per second allowed.
        capacity: Burst size.
    """

    rate: float = 5.0
    capacity: float = 10.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    _tokens: float = attrs.field(init=False, default=0.0)
    _primed: bool = attrs.field(init=False, default=False)
    _updated: float = attrs.field(init=False, default=0.0)
    _blocked_until: float = attrs.field(init=False, default=0.0)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def _reserve(self) -> float:
        """Take a token; return how long to wait before using it."""
        with self._lock:
            now = self.clock()
            self._prime(now)
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._blocked_until - now)

    def _prime(self, now: float) -> None:
        """Start with a full bucket (once; a negative balance is a debt, not a reset)."""
        if not self._primed:
            self._tokens, self._updated, self._primed = self.capacity, now, True

    async def acquire(self) -> None:
        """Wait until a request fits in the budget."""
        wait = self._reserve()
        if wait > 0:
            await self.sleep(wait)

    def observe(self, headers: Mapping[str, str], *, status: int = 200) -> None:
        """
        Correct the budget from a response's headers.

        When the server says nothing is left, hold every user of this budget until the reset;
        on a 429 with ``Retry-After``, hold until then.
        """
        lower = {k.lower(): v for k, v in headers.items()}
        remaining = _number(
            lower, "x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining"
        )
        reset = next(
            (
                parse_reset(lower[name])
                for name in ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")
                if name in lower
            ),
            None,
        )
        retry_after = parse_retry_after(lower.get("retry-after"))
        now = self.clock()
        hold = 0.0
        if status == 429 and retry_after is not None:
            hold = retry_after
        elif remaining is not None and remaining <= 0 and reset is not None:
            # Epoch seconds (X, Bluesky), delta seconds (Reddit, IETF), ISO time (Mastodon).
            hold = reset
        with self._lock:
            self._prime(now)
            if hold > 0:
                self._blocked_until = max(self._blocked_until, now + hold)
            if remaining is not None and self._tokens > remaining:
                self._tokens = remaining


_budgets: dict[tuple[str, str], Budget] = {}
_budgets_lock = threading.Lock()


def budget_for(
    host: str, credential: str | None = None, *, rate: float = 5.0, capacity: float = 10.0
) -> Budget:
    """
    Return the process-wide budget of (*host*, *credential*), creating it on first use.

    The credential is hashed, never stored.
    """
    cred = hashlib.sha256(credential.encode()).hexdigest()[:16] if credential else "anonymous"
    with _budgets_lock:
        budget = _budgets.get((host, cred))
        if budget is None:
            budget = _budgets[host, cred] = Budget(rate=rate, capacity=capacity)
        return budget
