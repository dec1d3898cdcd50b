from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialplug import Author, Post
from socialplug.exceptions import ConfigurationError
from socialplug.filters import Query


BRAND = '("eurostar" OR #eurostar) AND (delay OR stuck) NOT job'


@pytest.mark.parametrize(
    ("platform", "query", "queries", "untranslated"),
    [
        ("reddit", BRAND, ("eurostar AND (delay OR stuck)",), ("NOT job (negation)",)),
        ("x", BRAND, ("(eurostar OR #eurostar) (delay OR stuck)",), ("NOT job (negation)",)),
        (
            "bluesky",
            BRAND,
            ("eurostar delay", "eurostar stuck", "#eurostar delay", "#eurostar stuck"),
            ("NOT job (negation)",),
        ),
        ("x", '"le shuttle" author:bob lang:fr', ('"le shuttle" from:bob lang:fr',), ()),
        ("bluesky", "site:eurostar.com @eurostar", ("domain:eurostar.com @eurostar",), ()),
        (
            "reddit",
            'title:"rail strike" site:bbc.co.uk',
            ('title:"rail strike" AND site:bbc.co.uk',),
            (),
        ),
        ("x", "refund* eurostar", ("eurostar",), ("refund* (not supported by x search)",)),
        (
            "x",
            "refund* OR eurostar",
            (),
            (
                "refund* (not supported by x search)",
                "refund* OR eurostar (an alternative cannot be searched)",
                "the whole query (nothing the platform search can narrow on)",
            ),
        ),
        (
            "reddit",
            "train NEAR/3 stuck",
            ("train AND stuck",),
            ("train NEAR/3 stuck (proximity)",),
        ),
        (
            "x",
            "platform:mastodon eurostar",
            ("eurostar",),
            ("platform:mastodon (not supported by x search)",),
        ),
    ],
)
def test_translations(
    platform: str, query: str, queries: tuple[str, ...], untranslated: tuple[str, ...]
) -> None:
    push = Query(query).to_platform(platform)
    assert push.platform == platform
    assert push.queries == queries
    assert push.untranslated == untranslated
    assert push.exact is (not untranslated)


def test_mastodon_hashtags_to_follow() -> None:
    push = Query("(#eurostar OR #lesshuttle) delay").to_platform("mastodon")
    assert push.params == {"hashtags": ["eurostar", "lesshuttle"]}
    assert push.queries == ()
    assert not push.exact
    whole = Query("#eurostar OR eurostar").to_platform("mastodon")
    assert whole.params == {}
    assert any("public timeline" in u or "whole query" in u for u in whole.untranslated)


def test_bluesky_limits_the_number_of_searches() -> None:
    q = Query("(a OR b OR c OR d) (e OR f OR g OR h) (i OR j)")
    push = q.to_platform("bluesky")
    assert 0 < len(push.queries) <= 10
    assert any("too many alternatives" in u for u in push.untranslated)


def test_unknown_platform() -> None:
    with pytest.raises(ConfigurationError, match="known: bluesky"):
        Query("a").to_platform("myspace")


def test_pushdown_is_a_relaxation() -> None:
    """Parts the platform cannot express are dropped (widening the search), never kept."""
    q = Query('(eurostar OR "le shuttle") (delay* OR stuck) -job lang:en author:bob')
    assert q.to_platform("bluesky").queries == (
        "eurostar lang:en from:bob",
        '"le shuttle" lang:en from:bob',
    )
    x = q.to_platform("x")
    assert x.queries == ('(eurostar OR "le shuttle") lang:en from:bob',)
    assert x.untranslated == (
        "delay* (not supported by x search)",
        "delay* OR stuck (an alternative cannot be searched)",
        "NOT job (negation)",
    )
    post = Post(
        platform="x",
        id="1",
        text="Le Shuttle delayed again",
        lang="en",
        author=Author(handle="bob"),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert q(post)  # found by the second Bluesky search, re-checked locally
