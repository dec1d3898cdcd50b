"""Redis Streams sink and source against the machine's Redis."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from _sinks_support import crash_and_resume, deliveries, make_post, require

from socialplug.exceptions import DeliveryError, FetchError
from socialplug.model import Post
from socialplug.sinks.redis import RedisStreamSink
from socialplug.sources.redis import RedisStreamSource


pytestmark = [pytest.mark.anyio, pytest.mark.service]

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(name="stream")
def _stream(unique):
    require("redis")
    import redis

    yield unique
    client = redis.Redis.from_url(URL)
    client.delete(unique)
    client.close()


async def drain(source: RedisStreamSource, *, commit: bool = True) -> list[Post]:
    got: list[Post] = []
    async for page in source.pages(None, follow=False):
        got.extend(page.posts)
        if commit:
            await source.commit(page.cursor)
    return got


async def test_round_trip_is_lossless_and_acknowledged(stream):
    """Posts go out with XADD and come back identical; committed pages leave nothing pending."""
    import redis.asyncio

    sink = RedisStreamSink(stream, url=URL)
    posts = [make_post(i) for i in range(25)]
    await sink.deliver(deliveries(posts))
    await sink.aclose()
    source = RedisStreamSource(stream, group="g", consumer="c1", url=URL, batch_size=10)

    got = await drain(source)
    await source.aclose()

    assert posts == got
    assert [dict(p.raw) for p in posts] == [dict(p.raw) for p in got]
    client = redis.asyncio.Redis.from_url(URL)
    pending = await client.xpending(stream, "g")
    entry = (await client.xrange(stream, count=1))[0][1]
    await client.aclose()
    assert pending["pending"] == 0
    assert entry[b"socialplug-key"].decode() == posts[0].key
    assert entry[b"socialplug-route"] == b"ops"


async def test_uncommitted_entries_come_back_to_the_same_consumer(stream):
    """Entries read but not acknowledged are read again by the same consumer after a restart."""
    sink = RedisStreamSink(stream, url=URL)
    await sink.deliver(deliveries([make_post(i) for i in range(6)]))
    first = RedisStreamSource(stream, group="g", consumer="c1", url=URL, batch_size=4)
    pages = first.pages(None, follow=False)
    page1 = await anext(pages)
    await first.commit(page1.cursor)
    page2 = await anext(pages)  # handled, never committed: the process "dies"
    await pages.aclose()
    await first.aclose()

    again = RedisStreamSource(stream, group="g", consumer="c1", url=URL, batch_size=4)
    got = await drain(again)
    await again.aclose()
    await sink.aclose()

    assert [p.key for p in page2.posts] == [p.key for p in got]
    assert len(page1.posts) == 4


async def test_a_dead_consumers_entries_are_claimed(stream):
    """XAUTOCLAIM hands entries pending at a dead consumer to another after claim_idle."""
    sink = RedisStreamSink(stream, url=URL)
    posts = [make_post(i) for i in range(3)]
    await sink.deliver(deliveries(posts))
    dead = RedisStreamSource(stream, group="g", consumer="dead", url=URL)
    pages = dead.pages(None, follow=False)
    await anext(pages)
    await pages.aclose()
    await dead.aclose()

    alive = RedisStreamSource(stream, group="g", consumer="alive", url=URL, claim_idle=0)
    got = await drain(alive)
    await alive.aclose()
    await sink.aclose()

    assert posts == got


async def test_bad_entries_become_malformed_and_are_acknowledged(stream):
    """A foreign entry is reported as malformed, acknowledged with its page, never fatal."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(URL)
    await client.xadd(stream, {"item": b"{not json"})
    await client.xadd(stream, {"item": json.dumps({"type": "post", "id": 1})})
    await RedisStreamSink(stream, client=client).deliver(deliveries([make_post(1)]))
    source = RedisStreamSource(stream, group="g", url=URL)

    pages = [p async for p in source.pages(None, follow=False)]
    for p in pages:
        await source.commit(p.cursor)
    pending = await client.xpending(stream, "g")
    await source.aclose()
    await client.aclose()

    assert [make_post(1)] == [p for page in pages for p in page.posts]
    assert sum(len(page.malformed) for page in pages) == 2
    assert "entry" in pages[0].malformed[0].reason
    assert pending["pending"] == 0


async def test_wrong_key_type_is_permanent_and_down_server_retryable(stream, unused_tcp_port):
    """WRONGTYPE is not retried; a refused connection is, and secrets stay out of errors."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(URL)
    await client.set(stream, "a string")
    with pytest.raises(DeliveryError) as wrong:
        await RedisStreamSink(stream, client=client).deliver(deliveries([make_post(1)]))
    await client.aclose()
    down = RedisStreamSink(stream, url=f"redis://:s3cretpw@127.0.0.1:{unused_tcp_port}/0")
    with pytest.raises(DeliveryError) as refused:
        await down.deliver(deliveries([make_post(1)]))
    await down.aclose()
    source = RedisStreamSource(stream, url=f"redis://:s3cretpw@127.0.0.1:{unused_tcp_port}/0")
    with pytest.raises(FetchError) as fetch:
        await anext(source.pages(None, follow=False))
    await source.aclose()

    assert not wrong.value.retryable
    assert refused.value.retryable
    assert fetch.value.retryable
    assert all("s3cretpw" not in s for s in (str(refused.value), repr(down), repr(source)))


@pytest.mark.slow
def test_consumer_killed_mid_page_loses_nothing(stream, tmp_path):
    """
    Produce through the sink, consume in another process, kill it between handling a page
    and acknowledging it; a restarted consumer (same name) processes every message.
    """
    import anyio

    posts = [make_post(i) for i in range(300)]

    async def produce() -> None:
        sink = RedisStreamSink(stream, url=URL)
        for i in range(0, len(posts), 50):
            await sink.deliver(deliveries(posts[i : i + 50]))
        await sink.aclose()

    anyio.run(produce)
    config = {"stream": stream, "group": "g", "consumer": "w1", "url": URL, "batch_size": 40}
    recorded = crash_and_resume("redis", config, config, [p.key for p in posts], tmp_path)

    repeats = [k for k, n in Counter(recorded).items() if n > 1]
    assert len(repeats) == 40


def test_dead_worker_is_taken_over_by_another(stream, tmp_path):
    """A second worker with another name claims what the killed one left pending."""
    import anyio

    posts = [make_post(i) for i in range(120)]

    async def produce() -> None:
        sink = RedisStreamSink(stream, url=URL)
        await sink.deliver(deliveries(posts))
        await sink.aclose()

    anyio.run(produce)
    base = {"stream": stream, "group": "g", "url": URL, "batch_size": 30, "block": 0.2}
    recorded = crash_and_resume(
        "redis",
        {**base, "consumer": "dead"},
        {**base, "consumer": "heir", "claim_idle": 0.5},
        [p.key for p in posts],
        tmp_path,
    )

    assert sum(1 for n in Counter(recorded).values() if n > 1) == 30


async def test_restart_after_an_error_keeps_in_flight_entries_unacknowledged(stream):
    """
    Restarted with the last read (not yet committed) cursor, as the runtime does after a
    source error, the source leaves in-flight entries pending; a stored cursor from an
    earlier process is acknowledged.
    """
    import redis.asyncio

    sink = RedisStreamSink(stream, url=URL)
    await sink.deliver(deliveries([make_post(i) for i in range(4)]))
    await sink.aclose()
    source = RedisStreamSource(stream, group="g", url=URL, batch_size=2)
    pages = source.pages(None, follow=False)
    first = await anext(pages)
    await pages.aclose()
    again = source.pages(first.cursor, follow=False)  # restart after an error
    second = await anext(again)
    await again.aclose()
    client = redis.asyncio.Redis.from_url(URL)
    pending_in_flight = (await client.xpending(stream, "g"))["pending"]
    await source.aclose()  # the process ends; first was handled and its cursor stored
    fresh = RedisStreamSource(stream, group="g", url=URL, batch_size=2)
    rest = [p async for p in fresh.pages(first.cursor, follow=False)]
    await fresh.aclose()
    await client.aclose()

    assert pending_in_flight == 4
    assert [p.key for p in second.posts] == [make_post(2).key, make_post(3).key]
    assert [p.key for page in rest for p in page.posts] == [make_post(2).key, make_post(3).key]


async def test_a_client_decoding_responses_works_too(stream):
    """An injected client with decode_responses=True yields the same posts."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(URL, decode_responses=True, socket_timeout=10)
    posts = [make_post(i) for i in range(3)]
    await RedisStreamSink(stream, client=client).deliver(deliveries(posts))
    source = RedisStreamSource(stream, group="g", client=client)

    got = await drain(source)
    await source.aclose()
    pending = await client.xpending(stream, "g")
    await client.aclose()

    assert got == posts
    assert pending["pending"] == 0
