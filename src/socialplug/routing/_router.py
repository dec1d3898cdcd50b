"""
Ordered routes: which sinks receive a post or an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert, Item, Post
from ..typing import Filter
from ._escalation import PRIORITIES, Escalation


__all__ = ["Route", "Router"]


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Route:
    """
    A named group of sinks, the team behind them and the condition for a post to take it.

    Attributes:
        name: The route's name (in reports, annotations and idempotency keys).
        sinks: The keys of the sinks in ``Pipeline.sinks`` that receive what takes the route.
        when: A filter (a ``Query``, a predicate or any ``Post -> bool``); ``None`` takes
            every post.
        alerts: Whether alerts without an explicit ``Alert.route`` take this route too.
        team: Who reads these sinks (``"support"``, ``"operations"``); alerts raised for
            this route carry it.
        priority: ``"P1"`` (page now) to ``"P4"`` (informational): the severity of the
            alerts raised for this route.
        escalation: Who hears next when an incident of this route is not acknowledged in
            time.

    .. versionadded:: 0.1.0
    """

    name: str
    sinks: tuple[str, ...] = attrs.field(converter=_names)
    when: Filter | Callable[[Post], bool] | None = attrs.field(default=None, eq=False)
    alerts: bool = False
    team: str | None = None
    priority: str = "P3"
    escalation: Escalation | None = None

    def accepts(self, item: Item, /) -> bool:
        """Return whether *item* takes this route."""
        if isinstance(item, Alert):
            return item.route == self.name if item.route is not None else self.alerts
        return self.when is None or bool(self.when(item))


@attrs.frozen
class Router:
    """
    Route to the first matching route, or to every matching one with ``fan_out=True``,
    else to *default*; with no default, what matches nothing is counted as unrouted.

    Structural problems (a route defined twice, an unknown priority, an escalation to a
    route that does not exist) raise :exc:`~socialplug.exceptions.ConfigurationError` at
    construction, every one of them in one error; :meth:`validate` checks the routes
    against the configured sinks when the pipeline is built.

    :attr:`counts` and :attr:`unrouted` count what this router decided since it was made
    (or since :meth:`reset_counts`).

    .. versionadded:: 0.1.0
    """

    routes: tuple[Route, ...] = attrs.field(converter=_routes)
    default: Route | None = attrs.field(default=None, kw_only=True)
    fan_out: bool = attrs.field(default=False, kw_only=True)
    _by_name: dict[str, Route] = attrs.field(init=False, repr=False, eq=False)
    _counts: dict[str, int] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        table: dict[str, Route] = {}
        problems: list[str] = []
        every = (*self.routes, *((self.default,) if self.default else ()))
        for route in every:
            if route.name in table:
                problems.append(f"route {route.name!r} is defined twice")
            table[route.name] = route
        for route in every:
            if not route.sinks:
                problems.append(f"route {route.name!r} has no sinks")
            if route.priority not in PRIORITIES:
                problems.append(
                    f"route {route.name!r} has priority {route.priority!r}; "
                    f"use one of {', '.join(PRIORITIES)}"
                )
            if route.escalation is not None:
                for tier in route.escalation.tiers:
                    if tier.route not in table:
                        problems.append(
                            f"route {route.name!r} escalates to unknown route {tier.route!r}"
                        )
                    elif tier.route == route.name:
                        problems.append(f"route {route.name!r} escalates to itself")
        if problems:
            raise ConfigurationError("; ".join(problems), problems=tuple(problems))
        object.__setattr__(self, "_by_name", table)
        object.__setattr__(self, "_counts", {"": 0})

    @property
    def destinations(self) -> frozenset[str]:
        """Every sink key any route targets."""
        return frozenset(s for r in self._by_name.values() for s in r.sinks)

    @property
    def names(self) -> tuple[str, ...]:
        """Every route name, in order, the default last."""
        return tuple(self._by_name)

    def route(self, name: str, /) -> Route:
        """
        Return the route called *name*.

        Raises:
            KeyError: There is no such route.
        """
        return self._by_name[name]

    def targets(self, route: str, /) -> tuple[str, ...]:
        """The sink keys of *route*."""
        return self._by_name[route].sinks

    def validate(self, sinks: Collection[str], /) -> None:
        """
        Check every route against the configured sink keys *sinks*.

        Raises:
            ConfigurationError: Some route targets a sink that is not configured; the
                error's ``problems`` lists every one of them.
        """
        problems = [
            f"route {route.name!r} targets unknown sink {sink!r}"
            for route in self._by_name.values()
            for sink in route.sinks
            if sink not in sinks
        ]
        if problems:
            known = ", ".join(sorted(sinks)) or "none"
            raise ConfigurationError(
                f"{'; '.join(problems)} (configured sinks: {known})", problems=tuple(problems)
            )

    @property
    def counts(self) -> Mapping[str, int]:
        """How many items took each route."""
        return {k: v for k, v in self._counts.items() if k}

    @property
    def unrouted(self) -> int:
        """How many items took no route."""
        return self._counts[""]

    def reset_counts(self) -> None:
        """Set :attr:`counts` and :attr:`unrouted` back to zero."""
        self._counts.clear()
        self._counts[""] = 0

    def __call__(self, item: Item, /) -> tuple[str, ...]:
        """Return the names of the routes *item* takes."""
        names = self.decide(item)
        counts = self._counts
        if not names:
            counts[""] += 1
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        return names

    def decide(self, item: Item, /) -> tuple[str, ...]:
        """Return the names of the routes *item* takes, without counting it."""
        if isinstance(item, Alert) and item.route is not None and item.route in self._by_name:
            return (item.route,)
        hits: list[str] = []
        for route in self.routes:
            if route.accepts(item):
                if not self.fan_out:
                    return (route.name,)
                hits.append(route.name)
        if hits:
            return tuple(hits)
        if self.default is not None and (isinstance(item, Post) or self.default.alerts):
            return (self.default.name,)
        return ()
