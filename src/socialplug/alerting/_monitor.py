"""
The monitor: spike detectors, incidents, escalation, throttles, digests and gap alerts as
one :class:`~socialplug.typing.Detector` whose state lives in the state store.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import anyio
import attrs

from ..clock import Clock, SystemClock
from ..exceptions import ConfigurationError, StateError
from ..model import Alert, Post
from ..routing import Router
from ..typing import StateStore
from ._digest import Digest, DigestState
from ._escalation import (
    acknowledge,
    acks_namespace,
    due_escalations,
    incidents_namespace,
    resolutions_namespace,
    resolve_incident,
)
from ._gap import Gaps, GapState
from ._incidents import IncidentBook, Incidents, group_of, summary_of
from ._keys import epoch
from ._spike import Spike, SpikeEngine
from ._throttle import Throttle, ThrottleState


__all__ = ["Monitor"]


def _problems(monitor: Monitor) -> list[str]:
    problems: list[str] = []
    names = [s.name for s in monitor.spikes]
    problems.extend(
        f"two spike detectors are called {n!r}" for n in sorted(set(names)) if names.count(n) > 1
    )
    if monitor.throttle is not None and not monitor.digests:
        problems.append("a throttle needs a digest to fold what it holds back into")
    if monitor.incidents is not None:
        problems.extend(
            f"incidents resolve after {monitor.incidents.quiet} of quiet, which must be "
            f"longer than the cooldown of spike detector {s.name!r} ({s.cooldown})"
            for s in monitor.spikes
            if s.cooldown >= monitor.incidents.quiet
        )
    digests = [d.name for d in monitor.digests]
    problems.extend(
        f"two digests are called {n!r}" for n in sorted(set(digests)) if digests.count(n) > 1
    )
    router = monitor.router
    if router is not None:
        wanted = [
            *((f"spike detector {s.name!r}", s.route) for s in monitor.spikes),
            *((f"digest {d.name!r}", d.route) for d in monitor.digests),
            *((("gap alerts", monitor.gaps.route),) if monitor.gaps else ()),
        ]
        problems.extend(
            f"{what} sends to unknown route {route!r}"
            for what, route in wanted
            if route is not None and route not in router.names
        )
    return problems


@attrs.define(eq=False)
class Monitor:
    """
    Watch routed posts and raise the alerts people need: spikes grouped into incidents,
    escalated when nobody acknowledges them, throttled, summarised in digests; and gap
    alerts when a source goes silent or keeps failing.

    It is a :class:`~socialplug.typing.Detector`: give it to the pipeline, which calls
    :meth:`observe` on every kept, routed post and :meth:`tick` periodically. Every piece of
    state (windows, baselines, incidents, escalation tiers, acknowledgements, throttle
    buckets, digests, source health) lives in the state store under namespaces starting
    with :attr:`name`: it is saved whenever alerts are raised and at every tick, so a
    restart neither opens a second incident nor forgets an escalation. A crash may lose (or,
    when the pipeline re-reads an uncommitted page, count twice) the posts seen since the
    last tick; the windows and baselines absorb that.

    All time comes from *clock* and from the posts' ``created_at``, so
    :func:`~socialplug.alerting.backtest` can replay history in simulated time.

    Attributes:
        name: Stable identity: the state namespace prefix.
        router: The pipeline's router: routes give alerts their team, priority and
            escalation policy, and throttles count per route.
        spikes: The spike detectors.
        incidents: Group spikes into incidents; ``None`` sends raw ``spike`` alerts.
        throttle: Limits per route and per incident; needs at least one digest.
        digests: Scheduled summaries.
        gaps: Silent and failing source alerts.
        clock: Where the time comes from.

    .. versionadded:: 0.1.0
    """

    name: str = "monitor"
    router: Router | None = attrs.field(default=None, kw_only=True)
    spikes: tuple[Spike, ...] = attrs.field(default=(), converter=tuple, kw_only=True)
    incidents: Incidents | None = attrs.field(default=None, kw_only=True)
    throttle: Throttle | None = attrs.field(default=None, kw_only=True)
    digests: tuple[Digest, ...] = attrs.field(default=(), converter=tuple, kw_only=True)
    gaps: Gaps | None = attrs.field(default=None, kw_only=True)
    clock: Clock = attrs.field(factory=SystemClock, kw_only=True)

    _store: StateStore | None = attrs.field(default=None, init=False, repr=False)
    _engines: list[SpikeEngine] = attrs.field(factory=list, init=False, repr=False)
    _book: IncidentBook | None = attrs.field(default=None, init=False, repr=False)
    _buckets: ThrottleState | None = attrs.field(default=None, init=False, repr=False)
    _digests: list[DigestState] = attrs.field(factory=list, init=False, repr=False)
    _gaps: GapState | None = attrs.field(default=None, init=False, repr=False)
    _saving: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigurationError(
                f"monitor {self.name!r}: {'; '.join(problems)}", problems=tuple(problems)
            )

    # -- namespaces -------------------------------------------------------------------

    def _ns(self, part: str) -> str:
        return f"{self.name}.{part}"

    # -- Detector ---------------------------------------------------------------------

    async def bind(self, store: StateStore, /) -> None:
        """Load every piece of state from *store*."""
        self._store = store
        now = self.clock.now()
        t = epoch(now)
        self._engines = []
        for spec in self.spikes:
            engine = SpikeEngine(spec)
            namespace = self._ns(f"spike.{spec.name}")
            engine.load(
                await store.records(namespace), await store.records(f"{namespace}.history")
            )
            self._engines.append(engine)
        self._book = None
        if self.incidents is not None:
            self._book = IncidentBook(self.incidents)
            self._book.load(await store.records(incidents_namespace(self.name)))
        self._buckets = None
        if self.throttle is not None:
            self._buckets = ThrottleState(self.throttle)
            self._buckets.load(await store.records(self._ns("throttle")))
        saved = await store.records(self._ns("digest"))
        self._digests = []
        for digest in self.digests:
            state = DigestState(digest, t)
            if digest.name in saved:
                state.load(saved[digest.name])
            self._digests.append(state)
        self._gaps = None
        if self.gaps is not None:
            self._gaps = GapState(self.gaps)
            self._gaps.load(await store.records(self._ns("gaps")))
            self._gaps.start(t)
        await self._save()

    async def observe(self, post: Post, /) -> Sequence[Alert]:
        """Count *post* in every detector; return the alerts it triggers."""
        now = self.clock.now()
        raw: list[Alert] = []
        t = post.created_at.timestamp()
        for engine in self._engines:
            engine.observe(post, t, now, raw)
        out: list[Alert] = []
        book = self._book
        if book is not None and book.open:
            for engine in self._engines:
                prefix = engine.spec.name
                for key in engine.keys_of(post):
                    book.count_post(f"{prefix}:{key}")
        for alert in raw:
            dressed = self._dress(alert)
            group = group_of(dressed) if book is not None else None
            out.append(dressed if group is None or book is None else book.on_spike(dressed, group))
        if self._digests:
            routes = post.annotations.get("routes") or ()
            if isinstance(routes, str):
                routes = (routes,)
            for digest in self._digests:
                if digest.observe(post, routes):
                    sent = digest.send(now, self._open_for(digest.spec.route))
                    if sent is not None:
                        out.append(self._dress(sent))
        if self._gaps is not None:
            back = self._gaps.observe(post.source, now)
            if back is not None:
                out.append(self._dress(back))
        if out:
            out = self._throttled(out, now)
            # Save what must survive a crash right now (incidents, cooldowns, buckets,
            # digests); the other counts wait for the next tick.
            await self._save(only={(a.data.get("detector"), a.data.get("key")) for a in raw})
        return out

    async def tick(self, now: datetime, /) -> Sequence[Alert]:
        """
        Return what is due at *now*: acknowledgements, resolutions, escalations, gap alerts
        and digests.
        """
        store = self._bound()
        out: list[Alert] = []
        book = self._book
        if book is not None:
            namespace = acks_namespace(self.name)
            for key, ack in (await store.records(namespace)).items():
                if key not in book.by_key:
                    await store.delete_record(namespace, key)
                    continue
                told = book.acknowledge(key, str(ack["by"]), datetime.fromisoformat(ack["at"]))
                if told is not None:
                    out.append(told)
            by_hand = resolutions_namespace(self.name)
            for key, request in (await store.records(by_hand)).items():
                await store.delete_record(by_hand, key)
                closed = book.resolve(
                    key, str(request["by"]), datetime.fromisoformat(request["at"])
                )
                if closed is not None:
                    out.append(closed)
                    await store.delete_record(namespace, key)
            for resolved in book.resolve_quiet(now, self._last_active):
                out.append(resolved)
                if resolved.incident is not None:
                    await store.delete_record(namespace, resolved.incident)
            if self.router is not None:
                out.extend(due_escalations(book, now, self.router))
        if self._gaps is not None:
            out.extend(self._dress(a) for a in self._gaps.tick(now))
        out = self._throttled(out, now)
        t = epoch(now)
        for digest in self._digests:
            if digest.due(t):
                sent = digest.send(now, self._open_for(digest.spec.route))
                if sent is not None:
                    out.append(self._dress(sent))
        if self._buckets is not None:
            for name in self._buckets.prune(t):
                await store.delete_record(self._ns("throttle"), name)
        await self._save()
        return out

    # -- operations -------------------------------------------------------------------

    async def acknowledge(self, incident: str, /, *, by: str) -> bool:
        """
        Acknowledge *incident* (the key in ``Alert.incident``): escalation stops and the
        next :meth:`tick` tells the incident's route.

        Returns:
            Whether *incident* is open.
        """
        return await acknowledge(
            self._bound(), incident, by=by, at=self.clock.now(), monitor=self.name
        )

    async def resolve(self, incident: str, /, *, by: str) -> bool:
        """
        Resolve *incident* by hand: the next :meth:`tick` closes it and tells its route.

        Returns:
            Whether *incident* is open.
        """
        return await resolve_incident(
            self._bound(), incident, by=by, at=self.clock.now(), monitor=self.name
        )

    def source_failed(self, source: str, error: str, /) -> None:
        """
        Note that *source* failed with *error* (a message, never a secret); errors that
        persist for ``Gaps.failing`` raise a gap alert. A post from the source clears them.
        """
        if self._gaps is not None:
            self._gaps.failed(source, error, self.clock.now())

    def open_incidents(self) -> list[dict[str, Any]]:
        """The open incidents: key, subject, opened_at, updates, posts, acknowledgement..."""
        if self._book is None:
            return []
        return [summary_of(r) for r in self._book.open.values()]

    # -- internals --------------------------------------------------------------------

    def _bound(self) -> StateStore:
        if self._store is None:
            msg = f"monitor {self.name!r} is not bound to a state store; call bind() first"
            raise StateError(msg, key=self.name)
        return self._store

    def _last_active(self, record: dict[str, Any]) -> float | None:
        for engine in self._engines:
            if engine.spec.name == record["detector"]:
                return engine.last_active(str(record["subject"]))
        return None

    def _open_for(self, route: str | None) -> list[dict[str, Any]]:
        if self._book is None:
            return []
        return [
            summary_of(r) for r in self._book.open.values() if route is None or r["route"] == route
        ]

    def _dress(self, alert: Alert) -> Alert:
        """Give *alert* its route's team and priority."""
        router = self.router
        if router is None:
            return alert
        route = alert.route
        if route is None and alert.kind == "spike":
            key = alert.data.get("key")
            if isinstance(key, str) and key in router.names:
                route = key
        if route is None or route not in router.names:
            return alert
        spec = router.route(route)
        severity = spec.priority if alert.kind == "spike" else alert.severity
        if (route, spec.team, severity) == (alert.route, alert.team, alert.severity):
            return alert
        return attrs.evolve(alert, route=route, team=alert.team or spec.team, severity=severity)

    def _routes(self, alert: Alert) -> Iterable[str]:
        if self.router is not None:
            return self.router.decide(alert)
        return () if alert.route is None else (alert.route,)

    def _throttled(self, alerts: list[Alert], now: datetime) -> list[Alert]:
        buckets = self._buckets
        if buckets is None:
            return alerts
        t = epoch(now)
        passed = []
        for alert in alerts:
            routes = tuple(self._routes(alert))
            if buckets.allow(alert, routes, t):
                passed.append(alert)
                continue
            targets = [d for d in self._digests if d.spec.route in routes]
            targets = targets or [d for d in self._digests if d.spec.route is None]
            for digest in targets or self._digests[:1]:
                digest.hold(alert)
        return passed

    async def _save(self, *, only: set[tuple[Any, Any]] | None = None) -> None:
        """
        Write what changed. The pipeline may call :meth:`observe` and :meth:`tick` from two
        tasks: what to write is collected and the dirty marks cleared without yielding, and
        saves run one at a time, so a save never writes older state over newer.
        """
        store = self._bound()
        async with self._saving:
            deletes, writes = self._collect(only)
            for namespace, key in deletes:
                await store.delete_record(namespace, key)
            for namespace, key, value, ttl in writes:
                await store.put_record(namespace, key, value, ttl=ttl)

    def _collect(
        self, only: set[tuple[Any, Any]] | None
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str, Any, float | None]]]:
        deletes: list[tuple[str, str]] = []
        writes: list[tuple[str, str, Any, float | None]] = []
        for engine in self._engines:
            namespace = self._ns(f"spike.{engine.spec.name}")
            # A key silent for the whole history period is forgotten.
            ttl = engine.spec.history.total_seconds()
            if only is not None:
                keys = sorted(k for d, k in only if d == engine.spec.name and k in engine.keys)
                writes.extend((namespace, k, engine.dump_window(k), ttl) for k in keys)
                engine.dirty.difference_update(keys)
                continue
            writes.extend(
                (f"{namespace}.history", key, engine.dump_history(key), ttl)
                for key in sorted(engine.dirty_history)
            )
            writes.extend(
                (namespace, key, engine.dump_window(key), ttl)
                for key in sorted(engine.dirty | engine.dirty_history)
            )
            engine.dirty.clear()
            engine.dirty_history.clear()
        book = self._book
        if book is not None:
            namespace = incidents_namespace(self.name)
            deletes.extend((namespace, group) for group in sorted(book.gone))
            writes.extend(
                (namespace, group, copy.deepcopy(book.open[group]), None)
                for group in sorted(book.dirty)
            )
            book.gone.clear()
            book.dirty.clear()
        buckets = self._buckets
        if buckets is not None:
            writes.extend(
                (self._ns("throttle"), name, list(buckets.buckets[name]), None)
                for name in sorted(buckets.dirty)
            )
            buckets.dirty.clear()
        for digest in self._digests:
            if digest.dirty:
                writes.append((self._ns("digest"), digest.spec.name, digest.dump(), None))
                digest.dirty = False
        gaps = self._gaps
        if gaps is not None:
            writes.extend(
                (self._ns("gaps"), source, dict(gaps.sources[source]), None)
                for source in sorted(gaps.dirty)
            )
            gaps.dirty.clear()
        return deletes, writes
