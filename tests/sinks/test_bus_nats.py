"""NATS JetStream sink and source against the machine's nats-server."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest
from _sinks_support import crash_and_resume, deliveries, make_post, require

from socialplug.exceptions import DeliveryError, FetchError
from socialplug.model import Post
from socialplug.sinks.nats import NatsJetStreamSink
from socialplug.sources.nats import NatsJetStreamSource


pytestmark = [pytest.mark.anyio, pytest.mark.service]

URL = "nats://127.0.0.1:4222"


@pytest.fixture(name="stream")
def _stream(unique):
    require("nats")
    yield unique
    import anyio
    import nats

    async def drop() -> None:
        nc = await nats.connect(URL)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(unique)
        await nc.close()

    anyio.run(drop)


def sink_for(stream: str) -> NatsJetStreamSink:
    return NatsJetStreamSink(f"{stream}.posts", servers=URL, stream=stream, create_stream=True)


async def drain(source: NatsJetStreamSource) -> list[Post]:
    got: list[Post] = []
    async for page in source.pages(None, follow=False):
        got.extend(page.posts)
        await source.commit(page.cursor)
    return got


async def test_round_trip_and_server_side_dedupe(stream):
    """Posts come back identical; a replayed batch is dropped by Nats-Msg-Id dedupe."""
    sink = sink_for(stream)
    posts = [make_post(i) for i in range(30)]
    await sink.deliver(deliveries(posts))
    await sink.deliver(deliveries(posts[:10]))  # replay: same idempotency keys
    await sink.aclose()
    source = NatsJetStreamSource(stream, subject=f"{stream}.posts", durable="d", servers=URL)

    got = await drain(source)
    again = await drain(source)
    await source.aclose()

    assert posts == got
    assert [dict(p.raw) for p in posts] == [dict(p.raw) for p in got]
    assert again == []
    assert NatsJetStreamSink.idempotent


async def test_unacknowledged_messages_are_redelivered(stream):
    """A page handled but never committed comes back after ack_wait."""
    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(i) for i in range(6)]))
    await sink.aclose()
    first = NatsJetStreamSource(stream, durable="d", servers=URL, batch_size=4, ack_wait=1)
    pages = first.pages(None, follow=False)
    page1 = await anext(pages)
    await first.commit(page1.cursor)
    page2 = await anext(pages)
    await pages.aclose()
    await first.aclose()

    second = NatsJetStreamSource(stream, durable="d", servers=URL, batch_size=4, idle=2)
    got = await drain(second)
    await second.aclose()

    assert [p.key for p in page2.posts] == [p.key for p in got]


async def test_foreign_payload_is_malformed_and_acknowledged(stream):
    """A message that is not a post becomes a Malformed and is acked with its page."""
    import nats

    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(1)]))
    nc = await nats.connect(URL)
    await nc.jetstream().publish(f"{stream}.posts", b"\xff not json")
    await sink.aclose()
    source = NatsJetStreamSource(stream, durable="d", servers=URL, client=nc)

    pages = [p async for p in source.pages(None, follow=False)]
    for page in pages:
        await source.commit(page.cursor)
    info = await nc.jetstream().consumer_info(stream, "d")
    await source.aclose()
    await nc.close()

    assert [make_post(1)] == [p for page in pages for p in page.posts]
    assert sum(len(page.malformed) for page in pages) == 1
    assert info.num_ack_pending == 0


async def test_errors_are_classified(stream, unused_tcp_port):
    """A missing stream is permanent for a source; a refused server is retryable."""
    missing = NatsJetStreamSource(f"{stream}_none", durable="d", servers=URL)
    with pytest.raises(FetchError) as nostream:
        await anext(missing.pages(None, follow=False))
    await missing.aclose()
    down = NatsJetStreamSink("x", servers=f"nats://u:pw5ecret@127.0.0.1:{unused_tcp_port}")
    with pytest.raises(DeliveryError) as refused:
        await down.deliver(deliveries([make_post(1)]))
    await down.aclose()

    assert not nostream.value.retryable
    assert refused.value.retryable
    assert "pw5ecret" not in str(refused.value) + repr(down)


async def test_a_commit_acknowledges_every_earlier_page(stream):
    """The runtime may commit only the last of several finished pages: all get acked."""
    import nats

    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(i) for i in range(9)]))
    await sink.aclose()
    nc = await nats.connect(URL)
    source = NatsJetStreamSource(stream, durable="d", client=nc, batch_size=3, idle=0.5)
    pages = [p async for p in source.pages(None, follow=False)]
    await source.commit(pages[-1].cursor)
    info = await nc.jetstream().consumer_info(stream, "d")
    again = await drain(source)
    await source.aclose()
    await nc.close()

    assert [len(p.posts) for p in pages] == [3, 3, 3]
    assert info.num_ack_pending == 0
    assert again == []


async def test_a_waiting_request_hands_on_what_arrives(stream):
    """In follow mode a page comes as soon as posts arrive, not after a full batch or max_wait."""
    import anyio

    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(0)]))  # creates the stream
    source = NatsJetStreamSource(stream, durable="d", servers=URL, batch_size=100, max_wait=10)
    pages = source.pages(None, follow=True)
    first = await anext(pages)
    await source.commit(first.cursor)

    async def publish_soon() -> None:
        await anyio.sleep(0.3)
        await sink.deliver(deliveries([make_post(1), make_post(2)]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(publish_soon)
        start = anyio.current_time()
        second = await anext(pages)
        waited = anyio.current_time() - start
    await source.commit(second.cursor)
    await pages.aclose()
    await source.aclose()
    await sink.aclose()

    assert [p.key for p in first.posts] == [make_post(0).key]
    assert [p.key for p in second.posts] == [make_post(1).key, make_post(2).key]
    assert waited < 5


async def test_closing_hands_back_the_page_read_ahead(stream):
    """The page asked for in advance is not held until ack_wait when the reader stops."""
    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(i) for i in range(10)]))
    await sink.aclose()
    first = NatsJetStreamSource(stream, durable="d", servers=URL, batch_size=5, ack_wait=30)
    pages = first.pages(None, follow=True)
    page = await anext(pages)
    await first.commit(page.cursor)
    await pages.aclose()
    await first.aclose()

    second = NatsJetStreamSource(stream, durable="d", servers=URL, batch_size=5, idle=2)
    rest = await drain(second)
    await second.aclose()

    assert [p.key for p in page.posts] == [make_post(i).key for i in range(5)]
    assert [p.key for p in rest] == [make_post(i).key for i in range(5, 10)]


async def test_the_consumer_is_created_for_reading_ahead(stream):
    """A new durable consumer acks explicitly and lets four pages (at least 1,000) wait."""
    import nats

    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(1)]))
    await sink.aclose()
    nc = await nats.connect(URL)
    made = {}
    for durable, options in {
        "small": {"batch_size": 10},
        "large": {"batch_size": 700},
        "given": {"max_ack_pending": 123},
    }.items():
        source = NatsJetStreamSource(stream, durable=durable, client=nc, idle=0.2, **options)
        await drain(source)
        info = await nc.jetstream().consumer_info(stream, durable)
        made[durable] = (info.config.max_ack_pending, str(info.config.ack_policy))
    await nc.close()

    assert made == {
        "small": (1000, "explicit"),
        "large": (2800, "explicit"),
        "given": (123, "explicit"),
    }


async def test_a_durable_consumer_that_does_not_fit_is_refused(stream):
    """AckAll, AckNone, push consumers and another filter give a clear permanent error."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

    nc = await nats.connect(URL)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(1)]))
    await sink.aclose()
    await js.add_consumer(stream, ConsumerConfig(durable_name="all", ack_policy=AckPolicy.ALL))
    await js.add_consumer(stream, ConsumerConfig(durable_name="none", ack_policy=AckPolicy.NONE))
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name="push", ack_policy=AckPolicy.EXPLICIT, deliver_subject="somewhere"
        ),
    )
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name="other", ack_policy=AckPolicy.EXPLICIT, filter_subject=f"{stream}.x"
        ),
    )
    errors = {}
    for durable in ("all", "none", "push", "other"):
        source = NatsJetStreamSource(
            stream, subject=f"{stream}.posts", durable=durable, client=nc, idle=0.2
        )
        with pytest.raises(FetchError) as caught:
            await drain(source)
        errors[durable] = caught.value
    info = await js.consumer_info(stream, "all")
    await nc.close()

    assert not any(e.retryable for e in errors.values())
    assert "policy 'all'" in str(errors["all"])
    assert "needs 'explicit'" in str(errors["none"])
    assert "push consumer" in str(errors["push"])
    assert f"{stream}.x" in str(errors["other"])
    assert info.num_ack_pending == info.delivered.consumer_seq == 0  # nothing was read


async def test_a_deleted_consumer_is_a_permanent_error(stream):
    """JetStream ends a waiting pull request with 409 Consumer Deleted: not retryable."""
    import anyio
    import nats

    sink = sink_for(stream)
    await sink.deliver(deliveries([make_post(1)]))
    await sink.aclose()
    nc = await nats.connect(URL)
    source = NatsJetStreamSource(stream, durable="d", client=nc, max_wait=10)
    pages = source.pages(None, follow=True)
    await source.commit((await anext(pages)).cursor)

    async def delete_soon() -> None:
        await anyio.sleep(0.3)
        await nc.jetstream().delete_consumer(stream, "d")

    async with anyio.create_task_group() as tg:
        tg.start_soon(delete_soon)
        with pytest.raises(FetchError) as caught:
            await anext(pages)
    await pages.aclose()
    await nc.close()

    assert "409" in str(caught.value)
    assert not caught.value.retryable


@pytest.mark.slow
def test_consumer_killed_mid_page_loses_nothing(stream, tmp_path):
    """
    Produce through the sink, consume in another process, kill it between handling a page
    and acknowledging it; after ack_wait a restarted worker gets that page again.
    """
    import anyio

    posts = [make_post(i) for i in range(300)]

    async def produce() -> None:
        sink = sink_for(stream)
        for i in range(0, len(posts), 50):
            await sink.deliver(deliveries(posts[i : i + 50]))
        await sink.aclose()

    anyio.run(produce)
    config = {
        "stream": stream,
        "durable": "workers",
        "servers": URL,
        "batch_size": 40,
        "ack_wait": 1.0,
        "max_wait": 0.5,
    }
    recorded = crash_and_resume("nats", config, config, [p.key for p in posts], tmp_path)

    assert sum(1 for n in Counter(recorded).values() if n > 1) == 40


@pytest.mark.parametrize(
    ("reply", "seq"),
    [
        pytest.param("$JS.ACK.S.c.1.42.7.1795699267262703088.0", 42, id="v1"),
        pytest.param("$JS.ACK.hub.ACCHASH.S.c.2.43.8.1795699267262703088.5.tok", 43, id="domain"),
    ],
)
def test_stream_sequence_from_the_ack_subject(reply, seq):
    """The stream sequence is read from both ack subject layouts, as nats-py reads it."""
    from nats.aio.msg import Msg

    from socialplug._bus._nats import _stream_sequence

    msg = Msg(_client=None, subject="x", reply=reply)  # type: ignore[arg-type]

    assert _stream_sequence(msg) == seq == msg.metadata.sequence.stream
