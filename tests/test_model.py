"""
The data model: validation, keys, immutability and the lossless JSON round trip.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialplug import Alert, Author, DeadLetter, Engagement, Media, Post
from socialplug.model import delivery_key, item_from_dict, item_to_dict


T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def full_post() -> Post:
    original = Post(platform="mastodon", id="9", text="original", created_at=T0)
    return Post(
        platform="mastodon",
        id="110",
        key="mastodon:https://example.social/users/a/statuses/110",
        text="Stuck in the tunnel again 🚆 #rail",
        created_at=T0,
        author=Author(
            id="1", handle="a@example.social", name="Ä", url="https://x", followers=3, bot=True
        ),
        url="https://example.social/@a/110",
        html="<p>Stuck</p>",
        title=None,
        lang="en",
        reply_to="100",
        thread="99",
        repost_of=original,
        quote_of=original,
        engagement=Engagement(likes=1, reposts=2, replies=3, quotes=None, score=7),
        tags=["rail"],
        mentions=["b@example.social"],
        links=["https://example.org"],
        media=[Media(url="https://m/1.png", kind="image", alt="a train")],
        sensitive=True,
        spoiler="rant",
        event="update",
        source="masto",
        raw={"id": "110", "nested": {"list": [1, 2.5, None, "ü"]}},
        annotations={"sentiment": -0.8, "matched": ["tunnel"], "routes": ["ops"]},
    )


class TestPost:
    def test_naive_datetime_is_a_clear_error(self):
        """A naive timestamp is refused with a message that says how to fix it."""
        with pytest.raises(ValueError, match="timezone-aware"):
            Post(platform="x", id="1", created_at=datetime(2026, 1, 1))

    def test_aware_times_are_converted_to_utc(self):
        """Any offset is accepted and stored as UTC."""
        cet = timezone(timedelta(hours=1))
        post = Post(platform="x", id="1", created_at=datetime(2026, 1, 1, 13, tzinfo=cet))

        assert post.created_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
        assert post.created_at.tzinfo is UTC

    def test_key_defaults_to_platform_and_id(self):
        """Without an explicit key, the key is platform:id; an explicit key wins."""
        assert Post(platform="reddit", id="t3_abc", created_at=T0).key == "reddit:t3_abc"
        assert Post(platform="m", id="1", key="k", created_at=T0).key == "k"

    def test_frozen_and_raw_excluded_from_equality(self):
        """Posts are immutable; raw does not take part in equality or repr."""
        a = Post(platform="x", id="1", created_at=T0, raw={"a": 1})
        b = Post(platform="x", id="1", created_at=T0, raw={"b": 2})

        assert a == b
        assert "raw" not in repr(a)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            a.text = "changed"  # type: ignore[misc]

    def test_annotations_are_immutable_and_annotate_copies(self):
        """annotate() returns a new post; the old one and its mapping are unchanged."""
        post = Post(platform="x", id="1", created_at=T0, annotations={"a": 1})
        richer = post.annotate(b=2)

        assert dict(post.annotations) == {"a": 1}
        assert dict(richer.annotations) == {"a": 1, "b": 2}
        with pytest.raises(TypeError):
            post.annotations["c"] = 3  # type: ignore[index]

    def test_fast_constructor_builds_what_attrs_builds(self):
        """Post's constructor fills the same fields, with the same defaults and converters."""
        attrs_init = Post.__init__.__globals__["_attrs_init"]
        post = full_post()
        fields = {f.name: getattr(post, f.name) for f in attrs.fields(Post)}
        cases = [
            fields,
            {"platform": "x", "id": "1", "created_at": T0},
            {
                "platform": "x",
                "id": "1",
                "created_at": T0.astimezone(timezone(timedelta(hours=2))),
            },
            {"platform": "x", "id": "1", "created_at": T0, "tags": ["a"], "raw": {"r": 1}},
        ]
        for kwargs in cases:
            fast = Post(**kwargs)
            slow = object.__new__(Post)
            attrs_init(slow, **kwargs)
            assert type(fast) is Post
            for field in attrs.fields(Post):
                assert getattr(fast, field.name) == getattr(slow, field.name), field.name
        assert Post(platform="x", id="1", created_at=T0).key == "x:1"

    def test_fast_constructor_keeps_errors_and_immutability(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            Post(platform="x", id="1", created_at=datetime(2026, 1, 1))
        with pytest.raises(TypeError):
            Post(platform="x", created_at=T0)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            Post(platform="x", id="1", created_at=T0, colour="red")  # type: ignore[call-arg]
        post = Post(platform="x", id="1", created_at=T0)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            post.id = "2"  # type: ignore[misc]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            del post.id  # type: ignore[misc]
        assert copy.copy(post) == post
        assert attrs.evolve(post, id="2").key == "x:1"  # evolve keeps the key it was given

    def test_subclasses_keep_their_class(self):
        class Tagged(Post):
            __slots__ = ()

        post = Tagged(platform="x", id="1", created_at=T0)
        assert type(post) is Tagged
        assert post.key == "x:1"
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            post.id = "2"  # type: ignore[misc]

    def test_annotate_copies_every_field(self):
        """The fast copy keeps every field, raw and nested posts as attrs.evolve would."""
        post = full_post()
        richer = post.annotate(extra=[1, 2])

        expected = attrs.evolve(post, annotations={**post.annotations, "extra": [1, 2]})
        assert richer == expected
        for field in attrs.fields(Post):
            assert getattr(richer, field.name) == getattr(expected, field.name), field.name
        assert richer.raw is post.raw
        assert type(richer) is Post
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            richer.text = "changed"  # type: ignore[misc]

    def test_json_round_trip_is_lossless(self):
        """Every field survives to_json/from_json, including raw, annotations and nested posts."""
        post = full_post()
        back = Post.from_json(post.to_json())

        assert post == back
        assert post.raw == back.raw
        assert dict(post.annotations) == dict(back.annotations)
        assert post.to_dict() == back.to_dict()
        assert back.repost_of is not None
        assert back.repost_of.text == "original"

    def test_posts_are_hashable(self):
        """Posts can live in sets (annotations do not take part in the hash)."""
        assert len({full_post(), full_post()}) == 1


@given(
    text=st.text(),
    tags=st.lists(st.text(min_size=1), max_size=4),
    ts=st.datetimes(timezones=st.just(UTC)),
    raw=st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.booleans(), st.none())),
)
def test_round_trip_property(text, tags, ts, raw):
    """Random texts, tags, times and raw payloads round-trip exactly."""
    post = Post(platform="p", id="1", text=text, tags=tags, created_at=ts, raw=raw)
    back = Post.from_json(post.to_json())

    assert post == back
    assert post.raw == back.raw


class TestAlert:
    def test_round_trip_with_sample_posts(self):
        """Alerts, with their sample posts and data, round-trip through JSON."""
        alert = Alert(
            kind="spike",
            key="spike:eurostar:2026-03-01T12",
            title="Mentions of eurostar 12x baseline",
            created_at=T0,
            severity="P2",
            incident="inc-1",
            posts=[full_post()],
            data={"count": 120, "baseline": 10.5},
        )
        back = Alert.from_json(alert.to_json())

        assert alert == back
        assert item_from_dict(item_to_dict(alert)) == alert
        assert isinstance(item_from_dict(item_to_dict(full_post())), Post)


def test_delivery_key_is_stable_and_distinct():
    """The idempotency key depends on route, sink and item, and nothing else."""
    a = delivery_key("support", "slack", "m:1")

    assert a == delivery_key("support", "slack", "m:1")
    assert a != delivery_key("ops", "slack", "m:1")
    assert a != delivery_key("support", "email", "m:1")
    assert a != delivery_key("support", "slack", "m:2")


def test_dead_letter_rebuilds_its_item():
    """A delivery dead letter gives back the exact item; a malformed one refuses."""
    import json

    post = full_post()
    letter = DeadLetter(
        kind="delivery",
        origin="slack",
        reason="boom",
        payload=json.dumps(item_to_dict(post)),
        created_at=T0,
    )
    bad = attrs.evolve(letter, kind="malformed", payload="{not json")

    assert post == letter.item()
    with pytest.raises(ValueError, match="malformed"):
        bad.item()
