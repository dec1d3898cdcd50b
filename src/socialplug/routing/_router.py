"""
Ordered routes: which sinks receive a post or an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert, Item, Post
from ..typing import Filter


__all__ = ["Route", "Router"]


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Route:
    """
    A named group of sinks and the condition for a post to take it.

    Attributes:
        name: The route's name (in reports, annotations and idempotency keys).
        sinks: The keys of the sinks in ``Pipeline.sinks`` that receive what takes the route.
        when: A filter (a ``Query``, a predicate or any ``Post -> bool``); ``None`` takes
            every post.
        alerts: Whether alerts without an explicit ``Alert.route`` take this route too.
    """

    name: str
    sinks: tuple[str, ...] = attrs.field(converter=_names)
    when: Filter | Callable[[Post], bool] | None = attrs.field(default=None, eq=False)
    alerts: bool = False

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

    Routes are validated against the configured sinks when the pipeline is built.
    """

    routes: tuple[Route, ...] = attrs.field(converter=_routes)
    default: Route | None = attrs.field(default=None, kw_only=True)
    fan_out: bool = attrs.field(default=False, kw_only=True)
    _by_name: dict[str, Route] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        table: dict[str, Route] = {}
        problems = []
        for route in (*self.routes, *((self.default,) if self.default else ())):
            if route.name in table:
                problems.append(f"route {route.name!r} is defined twice")
            table[route.name] = route
        if problems:
            raise ConfigurationError("; ".join(problems), problems=tuple(problems))
        object.__setattr__(self, "_by_name", table)

    @property
    def destinations(self) -> frozenset[str]:
        """Every sink key any route targets."""
        return frozenset(s for r in self._by_name.values() for s in r.sinks)

    def targets(self, route: str, /) -> tuple[str, ...]:
        """The sink keys of *route*."""
        return self._by_name[route].sinks

    def __call__(self, item: Item, /) -> tuple[str, ...]:
        """Return the names of the routes *item* takes."""
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
