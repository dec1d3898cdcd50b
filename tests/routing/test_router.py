"""
Routes, teams, priorities, escalation policies; first match, fan-out, default, counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from socialplug.exceptions import ConfigurationError
from socialplug.model import Alert, Post
from socialplug.routing import Escalation, Route, Router, Tier


NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def post(text: str) -> Post:
    return Post(platform="mastodon", id=text, text=text, created_at=NOW)


def alert(route: str | None = None) -> Alert:
    return Alert(kind="spike", key="k", title="t", created_at=NOW, route=route)


def has(word: str):
    def test(p: Post) -> bool:
        return word in p.text

    return test


ROUTES = [
    Route(name="outage", sinks=["pager", "chat"], when=has("down"), team="operations"),
    Route(name="complaint", sinks=["chat"], when=has("late"), team="support", alerts=True),
]


class TestDecisions:
    def test_first_match_takes_only_the_first_route(self):
        """Without fan-out, a post matching two routes takes the first one."""
        router = Router(ROUTES)

        assert router(post("site down and train late")) == ("outage",)
        assert router(post("train late")) == ("complaint",)

    def test_fan_out_takes_every_matching_route_in_order(self):
        """With fan-out, a post takes every matching route, in route order."""
        router = Router(ROUTES, fan_out=True)

        assert router(post("site down and train late")) == ("outage", "complaint")

    def test_default_route_takes_what_matches_nothing(self):
        """The default route receives posts no route took; they are not unrouted."""
        router = Router(ROUTES, default=Route(name="archive", sinks=["db"]))

        assert router(post("nice weather")) == ("archive",)
        assert router.unrouted == 0

    def test_alerts_follow_their_route_or_routes_taking_alerts(self):
        """
        An alert with a route goes there; one without goes to routes with alerts=True; one
        naming an unknown route goes nowhere (and is counted unrouted).
        """
        router = Router(ROUTES, default=Route(name="archive", sinks=["db"]))

        assert router(alert("outage")) == ("outage",)
        assert router(alert()) == ("complaint",)
        assert router(alert("no-such-route")) == ()

    def test_counts_per_route_and_unrouted(self):
        """The router counts what took each route and what took none; reset zeroes them."""
        router = Router(ROUTES, fan_out=True)
        for text in ("down", "late", "down late", "sunny", "cloudy"):
            router(post(text))

        assert router.counts == {"outage": 2, "complaint": 2}
        assert router.unrouted == 2

        router.reset_counts()

        assert (dict(router.counts), router.unrouted) == ({}, 0)

    def test_decide_does_not_count(self):
        """decide() answers the same as calling the router, without counting."""
        router = Router(ROUTES)

        assert router.decide(post("down")) == ("outage",)
        assert (tuple(router.counts), router.unrouted) == ((), 0)

    def test_targets_destinations_and_route_lookup(self):
        """Sinks of a route, every sink of the router, and a route's team."""
        router = Router(ROUTES, default=Route(name="archive", sinks="db"))

        assert router.targets("outage") == ("pager", "chat")
        assert frozenset({"pager", "chat", "db"}) == router.destinations
        assert router.route("complaint").team == "support"
        assert router.names == ("outage", "complaint", "archive")


class TestValidation:
    def test_every_structural_problem_in_one_error(self):
        """Duplicate names, bad priorities, empty sinks and unknown tiers, all at once."""
        policy = Escalation(Tier(after=timedelta(minutes=5), route="nowhere"))
        with pytest.raises(ConfigurationError) as info:
            Router(
                [
                    Route(name="a", sinks=["x"], priority="P9"),
                    Route(name="a", sinks=["x"]),
                    Route(name="b", sinks=[], escalation=policy),
                    Route(
                        name="c",
                        sinks=["x"],
                        escalation=Escalation(Tier(after=timedelta(minutes=1), route="c")),
                    ),
                ]
            )

        problems = info.value.problems
        assert len(problems) == 5
        assert any("defined twice" in p for p in problems)
        assert any("'P9'" in p for p in problems)
        assert any("'b' has no sinks" in p for p in problems)
        assert any("unknown route 'nowhere'" in p for p in problems)
        assert any("'c' escalates to itself" in p for p in problems)

    def test_validate_lists_every_unknown_sink(self):
        """Checked against the configured sinks, every unknown one is named."""
        router = Router(ROUTES, default=Route(name="archive", sinks=["db"]))

        with pytest.raises(ConfigurationError) as info:
            router.validate({"chat"})

        assert {
            "route 'outage' targets unknown sink 'pager'",
            "route 'archive' targets unknown sink 'db'",
        } == set(info.value.problems)

        router.validate({"chat", "pager", "db"})

    def test_escalation_tiers_must_wait_increasing_positive_times(self):
        """Tiers are ordered by their wait, which is positive; a policy has one at least."""
        with pytest.raises(ConfigurationError, match="increasing"):
            Escalation(
                Tier(after=timedelta(minutes=30), route="a"),
                Tier(after=timedelta(minutes=10), route="b"),
            )
        with pytest.raises(ConfigurationError, match="positive"):
            Tier(after=timedelta(0), route="a")
        with pytest.raises(ConfigurationError, match="at least one tier"):
            Escalation()
