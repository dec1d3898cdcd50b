from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from socialplug.clock import ManualClock
from socialplug.exceptions import ConfigurationError
from socialplug.filters import Dedupe
from socialplug.filters._dedupe import minhash, similarity
from socialplug.state import MemoryStateStore, SQLiteStateStore
from socialplug.testing import make_post


LONG = "The Eurostar from London to Paris has been stuck outside Lille for two hours now"


def test_exact_key_and_canonical_url() -> None:
    d = Dedupe(text=False)
    first = make_post(id="1", url="https://social.example/@a/1?utm_source=x")
    assert d(first)
    assert not d(make_post(id="1", url="https://other.example/x"))  # same key
    assert not d(make_post(id="2", url="https://SOCIAL.example/@a/1#frag"))  # same URL
    assert d(make_post(id="3", url="https://social.example/@a/3"))


def test_normalized_text_catches_cross_posts_and_reposts() -> None:
    d = Dedupe(exact=False)
    assert d(make_post(text="Eurostar is  STUCK again"))
    assert not d(make_post(text="eurostar is stuck again"))
    assert not d(make_post(text="", repost_of=make_post(text="Eurostar is stuck again")))
    assert d(make_post(text="Eurostar is stuck again!"))
    assert d(make_post(text=""))  # no text: nothing to compare
    assert d(make_post(text=""))


def test_near_duplicates_with_minhash() -> None:
    assert similarity(minhash(LONG), minhash(LONG)) == 1.0
    edited = LONG.replace("two hours", "two hours!!") + " #eurostar"
    assert similarity(minhash(LONG), minhash(edited)) >= 0.7
    other = "Lovely sunny afternoon in the park with the kids and a picnic by the lake"
    assert similarity(minhash(LONG), minhash(other)) < 0.2
    d = Dedupe(exact=False, text=False, near=0.7)
    assert d(make_post(text=LONG))
    assert not d(make_post(text=edited))
    assert d(make_post(text=other))
    assert d(make_post(text="too short"))
    assert d(make_post(text="too short"))  # short texts are not near-deduplicated


def test_ttl_and_window_bound() -> None:
    clock = ManualClock()
    d = Dedupe(ttl=60, clock=clock)
    assert d(make_post(id="1", text="a"))
    clock.current += timedelta(seconds=59)
    assert not d(make_post(id="1", text="a"))
    clock.current += timedelta(seconds=61)
    assert d(make_post(id="1", text="a"))
    small = Dedupe(max_entries=4, text=False)
    for i in range(10):
        assert small(make_post(id=str(i), url=None))
    assert small(make_post(id="0", url=None))  # forgotten: the window holds 4 keys
    assert not small(make_post(id="9", url=None))


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        Dedupe(exact=False, text=False)
    with pytest.raises(ConfigurationError):
        Dedupe(near=1.5)


@pytest.mark.anyio
async def test_state_store_holds_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    posts = [
        make_post(id="1", text=LONG),
        make_post(id="2", text="something else entirely, long enough to count here"),
    ]
    store = SQLiteStateStore(path)
    first = Dedupe(near=0.7)
    await first.bind(store)
    assert await first.filter(posts) == posts
    await store.aclose()

    # a new process: a fresh Dedupe over the same database
    store = SQLiteStateStore(path)
    second = Dedupe(near=0.7)
    await second.bind(store)
    replay = [
        make_post(id="1", text="changed text"),  # same key
        make_post(id="9", text=LONG.upper()),  # same normalized text
        make_post(id="10", text=LONG + " indeed"),  # near-duplicate (loaded signatures)
        make_post(id="11", text="a genuinely new post about the weather in Lisbon today"),
    ]
    kept = await second.filter(replay)
    assert [p.id for p in kept] == ["11"]
    await store.aclose()


@pytest.mark.anyio
async def test_sync_filter_then_flush_persists() -> None:
    store = MemoryStateStore()
    d = Dedupe(name="a")
    await d.bind(store)
    post = make_post(id="1", text="hello there")
    assert d(post)
    keys = d.keys(post)
    assert len(keys) == 3  # key, URL, text
    assert await store.seen(keys) == set()
    await d.flush()
    assert await store.seen(keys) == set(keys)
    assert all(k.startswith("dedupe:a:") for k in keys)
    # two processes sharing one store: the second learns from the store
    other = Dedupe(name="a")
    await other.bind(store)
    assert await other.filter([make_post(id="1", text="x")]) == []


@pytest.mark.anyio
async def test_unbound_async_filter_works_in_memory() -> None:
    d = Dedupe()
    a, b = make_post(id="1", text="x"), make_post(id="1", text="y")
    assert await d.filter([a, b]) == [a]


@pytest.mark.anyio
async def test_nothing_persists_before_flush() -> None:
    store = MemoryStateStore()
    d = Dedupe(name="late")
    await d.bind(store)
    post = make_post(id="1", text="hello", url=None)
    assert await d.filter([post], flush=False) == [post]
    # a crash now: a new process sees nothing and lets the post through again
    other = Dedupe(name="late")
    await other.bind(store)
    assert await other.filter([post], flush=False) == [post]
    await d.flush()
    third = Dedupe(name="late")
    await third.bind(store)
    assert await third.filter([post]) == []
