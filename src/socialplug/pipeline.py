"""
The pipeline: a frozen description of sources, filters, transforms, router, detectors and
sinks, and the entry points that run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import anyio
import attrs

from ._retry import RetryPolicy
from .clock import Clock, SystemClock
from .exceptions import ConfigurationError
from .model import Item, Post
from .state import MemoryStateStore
from .typing import Detector, Filter, Router, Sink, Source, StateStore, Transform


__all__ = ["Pipeline", "RunReport", "SinkPolicy"]


@attrs.frozen(kw_only=True)
class SinkPolicy:
    """
    How the runtime feeds one sink.

    Attributes:
        batch_size: Most deliveries per :meth:`~socialplug.typing.Sink.deliver` call.
        batch_wait: Longest wait (seconds) for a batch to fill before sending what is there.
        concurrency: Batches in flight at once.
        retry: Retries for retryable failures (exponential backoff, jitter, ``Retry-After``).
        seen_ttl: How long (seconds) the state store remembers a delivered key, for sinks
            that cannot dedupe themselves; ``None`` keeps keys forever.
    """

    batch_size: int = 100
    batch_wait: float = 0.5
    concurrency: int = 1
    retry: RetryPolicy = RetryPolicy()
    seen_ttl: float | None = 30 * 24 * 3600.0

    def __attrs_post_init__(self) -> None:
        if self.batch_size < 1 or self.concurrency < 1 or self.batch_wait < 0:
            msg = "SinkPolicy needs batch_size >= 1, concurrency >= 1 and batch_wait >= 0"
            raise ConfigurationError(msg)


def _frozen_sinks(value: Mapping[str, Sink]) -> Mapping[str, Sink]:
    return MappingProxyType(dict(value))


def _frozen_policies(value: Mapping[str, SinkPolicy]) -> Mapping[str, SinkPolicy]:
    return MappingProxyType(dict(value))


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return tuple(value)
    return (value,)


@attrs.frozen(kw_only=True)
class RunReport:
    """
    What a run did, per stage.

    Attributes:
        read: Posts the sources produced.
        kept: Posts that passed every filter.
        filtered: Posts a filter dropped.
        malformed: Items a source could not decode (kept as dead letters).
        unrouted: Kept posts that took no route.
        routed: Posts (and alerts) per route.
        delivered: Deliveries acknowledged per sink.
        duplicates: Deliveries skipped because the state store had seen their key.
        retried: Retries per sink.
        dead_lettered: Deliveries dead-lettered per sink.
        alerts: Alerts the detectors emitted.
        pages: Pages read.
        commits: Cursor commits.
        errors: Source and stage errors, as ``"name: message"``.
        duration: Seconds the run took.
        stopped_by: ``"end"`` (sources exhausted), ``"stop"`` (asked to stop) or a signal name.
    """

    read: int = 0
    kept: int = 0
    filtered: int = 0
    malformed: int = 0
    unrouted: int = 0
    routed: Mapping[str, int] = attrs.field(factory=dict)
    delivered: Mapping[str, int] = attrs.field(factory=dict)
    duplicates: int = 0
    retried: Mapping[str, int] = attrs.field(factory=dict)
    dead_lettered: Mapping[str, int] = attrs.field(factory=dict)
    alerts: int = 0
    pages: int = 0
    commits: int = 0
    errors: tuple[str, ...] = ()
    duration: float = 0.0
    started_at: datetime | None = None
    stopped_by: str = "end"

    @property
    def ok(self) -> bool:
        """Whether nothing failed: no errors, no dead letters, no malformed items."""
        return not self.errors and not sum(self.dead_lettered.values()) and not self.malformed

    def summary(self) -> str:
        """One line for logs and terminals."""
        delivered = sum(self.delivered.values())
        dead = sum(self.dead_lettered.values())
        return (
            f"read {self.read}, kept {self.kept}, filtered {self.filtered}, "
            f"unrouted {self.unrouted}, delivered {delivered}, duplicates {self.duplicates}, "
            f"dead-lettered {dead}, malformed {self.malformed}, alerts {self.alerts}, "
            f"{self.duration:.2f}s"
        )


def _default_route(item: Item) -> tuple[str, ...]:
    return ("default",)


@attrs.frozen(kw_only=True, eq=False)
class Pipeline:
    """
    Sources -> filters -> transforms -> router -> detectors -> sinks.

    A pipeline is an immutable description; :meth:`run` executes it. Without a router,
    everything goes to every sink (one route named ``"default"``). Without a state store, a
    :class:`~socialplug.state.MemoryStateStore` is created with the pipeline, so repeated
    :meth:`run_once` calls of one pipeline object resume; pass a
    :class:`~socialplug.state.SQLiteStateStore` to resume across processes.

    Args:
        sources: Where posts come from.
        filters: Predicates; a post must pass all of them.
        transforms: ``Post -> Post`` steps (sync or async), after the filters.
        router: Decides the routes of each post and alert.
        sinks: Destinations by key; routes refer to these keys.
        detectors: Stateful stages emitting alerts (spikes, incidents, digests).
        state: Cursors, seen keys, dead letters, detector state.
        policies: Batching, concurrency and retries per sink key.
        buffer: Pages in flight between stages (backpressure bound).
        clock: Time for detectors, retries and ticks (inject a ManualClock in tests).
        tick_interval: Seconds between detector ticks while following.
        drain_timeout: On stop, seconds to finish in-flight work before giving up on it
            (what did not finish is not committed and is re-read next run).
        freeze_gc: While running, keep the objects that existed before the run out of the
            cyclic garbage collector's scans (``gc.freeze()``, undone at the end): with large
            query sets this saves several percent of the run time. Garbage cycles created
            before the run are collected only after it.
    """

    sources: tuple[Source, ...] = attrs.field(converter=_as_tuple)
    sinks: Mapping[str, Sink] = attrs.field(converter=_frozen_sinks)
    filters: tuple[Filter | Callable[[Post], bool], ...] = attrs.field(
        default=(), converter=_as_tuple
    )
    transforms: tuple[Transform, ...] = attrs.field(default=(), converter=_as_tuple)
    router: Router | Callable[[Item], Iterable[str]] | None = None
    detectors: tuple[Detector, ...] = attrs.field(default=(), converter=_as_tuple)
    state: StateStore = attrs.field(factory=MemoryStateStore)
    policies: Mapping[str, SinkPolicy] = attrs.field(factory=dict, converter=_frozen_policies)
    name: str = "pipeline"
    buffer: int = 8
    clock: Clock = attrs.field(factory=SystemClock)
    tick_interval: float = 60.0
    drain_timeout: float = 30.0
    freeze_gc: bool = True

    def policy(self, sink: str, /) -> SinkPolicy:
        """The policy of *sink*: from :attr:`policies`, else the sink's own, else defaults."""
        found = self.policies.get(sink)
        if found is not None:
            return found
        own = getattr(self.sinks.get(sink), "policy", None)
        return own if isinstance(own, SinkPolicy) else SinkPolicy()

    def targets(self, route: str, /) -> Sequence[str]:
        """The sink keys of *route*."""
        router = self.router
        if router is None:
            return tuple(self.sinks)
        targets = getattr(router, "targets", None)
        if targets is not None:
            return tuple(targets(route))
        return (route,)

    def route_of(self) -> Callable[[Item], Iterable[str]]:
        """The routing function the runtime calls."""
        return _default_route if self.router is None else self.router

    def validate(self) -> None:
        """
        Check the wiring; raise :exc:`~socialplug.exceptions.ConfigurationError` listing
        every problem at once.
        """
        problems: list[str] = []
        if not self.sources:
            problems.append("the pipeline has no sources")
        names = [s.name for s in self.sources]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(
                f"two sources are named {dup!r}; names key the stored cursors and must be unique"
            )
        for key, sink in self.sinks.items():
            if not callable(getattr(sink, "deliver", None)):
                problems.append(f"sink {key!r} ({type(sink).__name__}) has no deliver() method")
        for key in self.policies:
            if key not in self.sinks:
                problems.append(f"a policy names sink {key!r}, which is not configured")
        check_router = getattr(self.router, "validate", None)
        destinations = getattr(self.router, "destinations", None)
        if callable(check_router):
            try:
                check_router(self.sinks)
            except ConfigurationError as exc:
                problems.extend(exc.problems)
        elif destinations is not None:
            known = ", ".join(sorted(self.sinks)) or "none"
            for target in sorted(destinations):
                if target not in self.sinks:
                    problems.append(
                        f"a route sends to sink {target!r}, which is not configured "
                        f"(configured: {known})"
                    )
        if self.buffer < 1:
            problems.append("buffer must be at least 1")
        if problems:
            raise ConfigurationError(
                "invalid pipeline: " + "; ".join(problems), problems=tuple(problems)
            )

    async def run(
        self,
        *,
        follow: bool = True,
        stop: anyio.Event | None = None,
        handle_signals: bool = False,
    ) -> RunReport:
        """
        Run the pipeline.

        With ``follow=True`` sources keep polling or streaming until *stop* is set, a signal
        arrives (with *handle_signals*, SIGINT and SIGTERM), or the surrounding scope is
        cancelled. With ``follow=False`` every source reads what is there and the run ends.
        Either way, in-flight work drains (within :attr:`drain_timeout`), every completed
        page is committed, and the report is returned.
        """
        from ._runtime import run_pipeline  # noqa: PLC0415 - the runtime imports this module

        self.validate()
        return await run_pipeline(self, follow=follow, stop=stop, handle_signals=handle_signals)

    async def run_once(self) -> RunReport:
        """Read everything new since the stored cursors, deliver, commit, return the report."""
        return await self.run(follow=False)

    async def replay_dead_letters(
        self, *, sink: str | None = None, limit: int | None = None
    ) -> RunReport:
        """
        Deliver dead-lettered items again to the sink that refused them, under the sink's
        retry policy; what succeeds is removed from the store and its key marked seen, what
        fails again stays in it with its attempts added and the new reason (and is counted
        in the report). A letter whose key was delivered meanwhile is removed without being
        sent (counted in ``duplicates``).
        """
        from ._runtime import replay_dead_letters  # noqa: PLC0415

        self.validate()
        return await replay_dead_letters(self, sink=sink, limit=limit)
