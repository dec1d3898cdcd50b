"""RabbitMQ sink and source against the machine's RabbitMQ."""

from __future__ import annotations

from collections import Counter

import pytest
from _sinks_support import crash_and_resume, deliveries, make_post, require

from socialplug.exceptions import DeliveryError, FetchError
from socialplug.model import Post
from socialplug.sinks.rabbitmq import RabbitMQSink
from socialplug.sources.rabbitmq import RabbitMQSource


pytestmark = [pytest.mark.anyio, pytest.mark.service]

URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture(name="queue")
def _queue(unique):
    require("rabbitmq")
    yield unique
    import aio_pika
    import anyio

    async def drop() -> None:
        connection = await aio_pika.connect(URL)
        channel = await connection.channel()
        await channel.queue_delete(unique)
        await connection.close()

    anyio.run(drop)


async def drain(source: RabbitMQSource) -> list[Post]:
    got: list[Post] = []
    async for page in source.pages(None, follow=False):
        got.extend(page.posts)
        await source.commit(page.cursor)
    return got


async def test_round_trip_with_ids_and_headers(queue):
    """Posts come back identical; message_id is the idempotency key; the queue ends empty."""
    import aio_pika

    sink = RabbitMQSink(queue, url=URL)
    posts = [make_post(i) for i in range(30)]
    batch = deliveries(posts)
    await sink.deliver(batch[:1])
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    peek = await (await channel.declare_queue(queue, durable=True)).get(no_ack=True)
    await sink.deliver(batch[1:])
    await sink.aclose()
    source = RabbitMQSource(queue, url=URL, batch_size=8)

    got = await drain(source)
    again = await drain(source)
    await source.aclose()
    await connection.close()

    assert posts[1:] == got
    assert again == []
    assert batch[0].key == peek.message_id
    assert posts[0].key == peek.headers["socialplug-key"]
    assert peek.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_unacknowledged_messages_are_requeued_on_close(queue):
    """Messages of a page never committed go back to the queue when the consumer closes."""
    sink = RabbitMQSink(queue, url=URL)
    await sink.deliver(deliveries([make_post(i) for i in range(6)]))
    await sink.aclose()
    first = RabbitMQSource(queue, url=URL, batch_size=4)
    pages = first.pages(None, follow=False)
    page1 = await anext(pages)
    await first.commit(page1.cursor)
    page2 = await anext(pages)
    await pages.aclose()
    await first.aclose()

    second = RabbitMQSource(queue, url=URL)
    got = await drain(second)
    await second.aclose()

    assert sorted(p.key for p in page2.posts) == sorted(p.key for p in got)


async def test_follow_mode_batches_and_acks(queue):
    """In follow mode pages fill up to batch_size or batch_timeout; commits drain the queue."""
    sink = RabbitMQSink(queue, url=URL)
    posts = [make_post(i) for i in range(10)]
    await sink.deliver(deliveries(posts))
    source = RabbitMQSource(queue, url=URL, batch_size=4, batch_timeout=0.1)
    got: list[Post] = []
    async for page in source.pages(None, follow=True):
        got.extend(page.posts)
        await source.commit(page.cursor)
        if len(got) >= 10:
            break
    await source.aclose()
    leftover = RabbitMQSource(queue, url=URL)
    rest = await drain(leftover)
    await leftover.aclose()
    await sink.aclose()

    assert posts == got
    assert rest == []


async def test_errors_are_classified(queue, unused_tcp_port):
    """Unroutable and missing-exchange publishes are permanent; a refused broker is not."""
    unroutable = RabbitMQSink(queue, exchange="amq.direct", url=URL)
    with pytest.raises(DeliveryError) as returned:
        await unroutable.deliver(deliveries([make_post(1)]))
    await unroutable.aclose()
    missing = RabbitMQSink(queue, exchange=f"{queue}_nope", url=URL)
    with pytest.raises(DeliveryError) as notfound:
        await missing.deliver(deliveries([make_post(1)]))
    await missing.aclose()
    down_url = f"amqp://guest:pw5ecret@127.0.0.1:{unused_tcp_port}/"
    down = RabbitMQSink(queue, url=down_url)
    with pytest.raises(DeliveryError) as refused:
        await down.deliver(deliveries([make_post(1)]))
    await down.aclose()
    source = RabbitMQSource(queue, url=down_url)
    with pytest.raises(FetchError) as fetch:
        await anext(source.pages(None, follow=False))

    assert not returned.value.retryable
    assert not notfound.value.retryable
    assert refused.value.retryable
    assert fetch.value.retryable
    assert "pw5ecret" not in str(refused.value) + repr(down) + str(fetch.value) + repr(source)


@pytest.mark.slow
def test_consumer_killed_mid_page_loses_nothing(queue, tmp_path):
    """
    Produce through the sink, consume in another process, kill it between handling a page
    and acknowledging it; the broker requeues that page for the restarted consumer.
    """
    import anyio

    posts = [make_post(i) for i in range(300)]

    async def produce() -> None:
        sink = RabbitMQSink(queue, url=URL)
        for i in range(0, len(posts), 50):
            await sink.deliver(deliveries(posts[i : i + 50]))
        await sink.aclose()

    anyio.run(produce)
    config = {"queue": queue, "url": URL, "batch_size": 40, "batch_timeout": 0.1}
    recorded = crash_and_resume("amqp", config, config, [p.key for p in posts], tmp_path)

    assert sum(1 for n in Counter(recorded).values() if n > 1) == 40
