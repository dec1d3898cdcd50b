"""
Backtests: replay recorded posts through routes and detectors in simulated time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from ..clock import ManualClock
from ..exceptions import ConfigurationError
from ..model import Alert, Post
from ..routing import Router
from ..state import MemoryStateStore
from ..typing import StateStore
from ._escalation import acknowledge
from ._keys import epoch, from_epoch
from ._monitor import Monitor


__all__ = ["BacktestReport", "Fired", "IncidentReport", "backtest"]


@attrs.frozen(kw_only=True)
class Fired:
    """
    One alert the backtest raised: when, and to whom.

    .. versionadded:: 0.1.0
    """

    at: datetime
    alert: Alert
    routes: tuple[str, ...]
    sinks: tuple[str, ...]
    teams: tuple[str, ...]


@attrs.frozen(kw_only=True)
class IncidentReport:
    """
    The life of one incident in a backtest.

    Attributes:
        key: The incident key.
        subject: What spiked (the detector's key: a route, a query...).
        route: The incident's route.
        opened_at: When it was opened (``None`` if it was already open when the replay
            started, e.g. after a restart).
        onset: When the surge started: the *onset* given to :func:`backtest`, else the
            detector's estimate (the first unusually busy bucket of the window).
        latency: ``opened_at - onset``: the detection latency.
        updates: How many ``incident.updated`` alerts it had.
        escalations: ``(when, route)`` of every escalation.
        acknowledged_at: When it was acknowledged.
        resolved_at: When it resolved.

    .. versionadded:: 0.1.0
    """

    key: str
    subject: str | None
    route: str | None
    opened_at: datetime | None
    onset: datetime | None
    latency: timedelta | None
    updates: int
    escalations: tuple[tuple[datetime, str], ...]
    acknowledged_at: datetime | None
    resolved_at: datetime | None


@attrs.frozen(kw_only=True)
class BacktestReport:
    """
    What a backtest would have alerted, when and to whom.

    Attributes:
        alerts: Every alert raised, in order.
        incidents: Every incident seen, in order of first alert.
        posts: How many posts were replayed.
        routed: Posts per route.
        unrouted: Posts that took no route (not shown to the detectors).
        start: The simulated time the replay started.
        end: The simulated time it stopped.

    .. versionadded:: 0.1.0
    """

    alerts: tuple[Fired, ...]
    incidents: tuple[IncidentReport, ...]
    posts: int
    routed: Mapping[str, int]
    unrouted: int
    start: datetime
    end: datetime

    def of_kind(self, *kinds: str) -> tuple[Fired, ...]:
        """The alerts of *kinds*."""
        return tuple(f for f in self.alerts if f.alert.kind in kinds)

    def to_sink(self, sink: str, /) -> tuple[Alert, ...]:
        """What sink *sink* would have received."""
        return tuple(f.alert for f in self.alerts if sink in f.sinks)

    def summary(self) -> str:
        """A plain-text table: one line per alert, then one per incident."""
        lines = [f"{self.posts} posts from {self.start.isoformat()} to {self.end.isoformat()}"]
        lines.extend(
            f"{f.at.isoformat()}  {f.alert.kind:<22} {f.alert.severity}  "
            f"{','.join(f.sinks) or '-':<20} {f.alert.title}"
            for f in self.alerts
        )
        for i in self.incidents:
            latency = "?" if i.latency is None else f"{i.latency.total_seconds() / 60:.1f} min"
            lines.append(
                f"incident {i.key}: latency {latency}, {i.updates} updates, "
                f"{len(i.escalations)} escalations, resolved "
                f"{i.resolved_at.isoformat() if i.resolved_at else 'no'}"
            )
        return "\n".join(lines)


@attrs.define
class _Incident:
    key: str
    subject: str | None = None
    route: str | None = None
    opened_at: datetime | None = None
    onset: datetime | None = None
    updates: int = 0
    escalations: list[tuple[datetime, str]] = attrs.field(factory=list)
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None

    def freeze(self, onset: datetime | None) -> IncidentReport:
        start = self.onset
        if onset is not None and self.opened_at is not None and onset <= self.opened_at:
            start = onset
        latency = None
        if start is not None and self.opened_at is not None:
            latency = self.opened_at - start
        return IncidentReport(
            key=self.key,
            subject=self.subject,
            route=self.route,
            opened_at=self.opened_at,
            onset=start,
            latency=latency,
            updates=self.updates,
            escalations=tuple(self.escalations),
            acknowledged_at=self.acknowledged_at,
            resolved_at=self.resolved_at,
        )


async def backtest(
    posts: Iterable[Post],
    monitor: Monitor,
    /,
    *,
    router: Router | None = None,
    store: StateStore | None = None,
    tick: timedelta = timedelta(minutes=1),
    until: datetime | None = None,
    onset: datetime | None = None,
    acknowledge_after: timedelta | None = None,
) -> BacktestReport:
    """
    Replay *posts* in simulated time through *router* and *monitor*; report what would
    have been alerted, when, and to whom.

    Posts are replayed in ``created_at`` order: the clock jumps to each post's time, the
    router annotates its routes (unrouted posts are counted and skipped, as in a
    pipeline), the monitor observes it, and the monitor ticks every *tick* of simulated
    time, on to *until* (default: one tick after the last post). Alerts are routed with
    the same router. *monitor* itself is not touched: a copy runs on a simulated clock.

    Use it in a notebook (``report = await backtest(posts, monitor)``) to tune queries
    and thresholds before going live.

    Args:
        posts: Recorded posts (any order).
        monitor: The monitor to try.
        router: The routes; defaults to ``monitor.router``. Without one, posts are observed
            with the routes already in their annotations.
        store: Where the monitor keeps its state; a fresh in-memory one by default. Passing
            the same store to two backtests replays a restart.
        tick: How often the monitor ticks, in simulated time.
        until: Keep ticking until then (to see incidents resolve after the last post).
        onset: When the surge really started, if known: detection latency is measured
            from it.
        acknowledge_after: Simulate someone acknowledging each incident this long after it
            opened (``None``: nobody does).

    .. versionadded:: 0.1.0
    """
    if tick <= timedelta(0):
        msg = "backtest: tick must be positive"
        raise ConfigurationError(msg)
    router = router if router is not None else monitor.router
    replay = sorted(posts, key=lambda p: p.created_at)
    first = replay[0].created_at if replay else (until or monitor.clock.now())
    clock = ManualClock(current=first)
    sim = attrs.evolve(monitor, router=router, clock=clock)
    store = store if store is not None else MemoryStateStore()
    await sim.bind(store)

    fired: list[Fired] = []
    incidents: dict[str, _Incident] = {}
    pending_acks: list[tuple[datetime, str]] = []
    routed: dict[str, int] = {}
    unrouted = 0

    def record(alerts: Iterable[Alert]) -> None:
        now = clock.now()
        for alert in alerts:
            names = (
                router.decide(alert)
                if router is not None
                else (() if alert.route is None else (alert.route,))
            )
            sinks: list[str] = []
            teams: list[str] = []
            for name in names:
                if router is not None:
                    route = router.route(name)
                    sinks.extend(s for s in route.sinks if s not in sinks)
                    if route.team and route.team not in teams:
                        teams.append(route.team)
            fired.append(
                Fired(at=now, alert=alert, routes=names, sinks=tuple(sinks), teams=tuple(teams))
            )
            _follow(alert, now, incidents, pending_acks, acknowledge_after)

    step = tick.total_seconds()
    next_tick = from_epoch(math.floor(epoch(first) / step) * step + step)

    async def tick_until(when: datetime) -> None:
        nonlocal next_tick
        while next_tick <= when:
            clock.set(next_tick)
            due = [key for at, key in pending_acks if at <= next_tick]
            pending_acks[:] = [(at, key) for at, key in pending_acks if at > next_tick]
            for key in due:
                await acknowledge(store, key, by="backtest", at=next_tick, monitor=sim.name)
            record(await sim.tick(next_tick))
            next_tick += tick

    for post in replay:
        await tick_until(post.created_at)
        clock.set(post.created_at)
        if router is not None:
            names = router.decide(post)
            if not names:
                unrouted += 1
                continue
            for name in names:
                routed[name] = routed.get(name, 0) + 1
            post = post.annotate(routes=list(names))  # noqa: PLW2901
        record(await sim.observe(post))
    end = until if until is not None else next_tick
    await tick_until(end)
    return BacktestReport(
        alerts=tuple(fired),
        incidents=tuple(i.freeze(onset) for i in incidents.values()),
        posts=len(replay),
        routed=routed,
        unrouted=unrouted,
        start=first,
        end=max(clock.now(), end),
    )


def _follow(
    alert: Alert,
    now: datetime,
    incidents: dict[str, _Incident],
    pending_acks: list[tuple[datetime, str]],
    acknowledge_after: timedelta | None,
) -> None:
    if alert.incident is None:
        return
    incident = incidents.get(alert.incident)
    if incident is None:
        incident = incidents[alert.incident] = _Incident(
            key=alert.incident,
            subject=alert.data.get("subject"),
            route=alert.route if alert.kind != "escalation" else alert.data.get("from_route"),
        )
    if alert.kind == "incident.opened":
        incident.opened_at = now
        onset = alert.data.get("onset")
        incident.onset = datetime.fromisoformat(onset) if isinstance(onset, str) else None
        if acknowledge_after is not None:
            pending_acks.append((now + acknowledge_after, alert.incident))
    elif alert.kind == "incident.updated":
        incident.updates += 1
    elif alert.kind == "escalation":
        incident.escalations.append((now, alert.route or ""))
    elif alert.kind == "incident.acknowledged":
        incident.acknowledged_at = now
    elif alert.kind == "incident.resolved":
        incident.resolved_at = now
