from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from socialplug import Author, Engagement, Media
from socialplug.clock import ManualClock
from socialplug.exceptions import ConfigurationError
from socialplug.filters import (
    Query,
    authors,
    has_media,
    is_reply,
    is_repost,
    language,
    min_engagement,
    min_followers,
    platforms,
    time_window,
)
from socialplug.testing import make_post


@pytest.mark.parametrize(
    ("lang", "annotated", "expected"),
    [
        ("en", None, True),
        ("en-GB", None, True),
        ("EN_us", None, True),
        ("fr", None, True),
        ("de", None, False),
        (None, "en", True),
        (None, "de", False),
        (None, None, False),
    ],
)
def test_language(lang: str | None, annotated: str | None, expected: bool) -> None:
    post = make_post(lang=lang, annotations={"lang": annotated} if annotated else {})
    assert language("en", "fr")(post) is expected


def test_language_unknown_and_errors() -> None:
    assert language("en", unknown=True)(make_post(lang=None))
    with pytest.raises(ConfigurationError):
        language()


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        (Author(handle="alice"), True),
        (Author(handle="Alice@mastodon.social"), True),
        (Author(handle="@alice"), True),
        (Author(handle="bob"), False),
        (Author(handle="spammer"), False),
        (Author(id="did:plc:alice", handle="someone"), True),
    ],
)
def test_author_lists(author: Author, expected: bool) -> None:
    keep = authors(allow=["@alice", "did:plc:alice", "spammer"], deny=["spammer"])
    assert keep(make_post(author=author)) is expected


def test_author_deny_only_and_error() -> None:
    keep = authors(deny=["bot@botsin.space"])
    assert not keep(make_post(author=Author(handle="bot@botsin.space")))
    assert keep(make_post(author=Author(handle="bot@other.social")))
    with pytest.raises(ConfigurationError):
        authors()


def test_audience_and_engagement() -> None:
    assert min_followers(100)(make_post(author=Author(followers=100)))
    assert not min_followers(100)(make_post(author=Author(followers=99)))
    assert not min_followers(100)(make_post(author=Author()))
    assert min_followers(100, unknown=True)(make_post(author=Author()))
    busy = make_post(engagement=Engagement(likes=3, reposts=2, replies=1))
    assert min_engagement(6)(busy)
    assert not min_engagement(7)(busy)
    assert min_engagement(3, metric="likes")(busy)
    assert not min_engagement(1, metric="quotes")(busy)
    with pytest.raises(ConfigurationError):
        min_engagement(1, metric="views")


def test_time_window_with_injected_clock() -> None:
    clock = ManualClock(current=datetime(2026, 3, 1, 12, tzinfo=UTC))
    since = datetime(2026, 3, 1, tzinfo=UTC)
    until = datetime(2026, 3, 1, 11, tzinfo=UTC)
    window = time_window(since=since, until=until)
    assert window(make_post(created_at=since))
    assert not window(make_post(created_at=until))
    assert not window(make_post(created_at=since - timedelta(seconds=1)))
    fresh = time_window(max_age=3600, clock=clock)
    assert fresh(make_post(created_at=datetime(2026, 3, 1, 11, 30, tzinfo=UTC)))
    assert not fresh(make_post(created_at=datetime(2026, 3, 1, 10, 59, tzinfo=UTC)))
    clock.current -= timedelta(hours=1)
    assert fresh(make_post(created_at=datetime(2026, 3, 1, 10, 59, tzinfo=UTC)))
    with pytest.raises(ConfigurationError):
        time_window(since=datetime(2026, 3, 1))


def test_kind_and_platform_filters_compose() -> None:
    reply = make_post(platform="bluesky", reply_to="x")
    boost = make_post(platform="mastodon", repost_of=make_post())
    pic = make_post(platform="mastodon", media=[Media(url="https://a/b.png")])
    keep = platforms("mastodon") & ~is_reply & (has_media | is_repost)
    assert [keep(p) for p in (reply, boost, pic, make_post(platform="mastodon"))] == [
        False,
        True,
        True,
        False,
    ]
    assert "is_reply" in keep.label
    combined = Query("train") & language("en")
    assert combined(make_post(text="train", lang="en"))
    assert not combined(make_post(text="train", lang="de"))
