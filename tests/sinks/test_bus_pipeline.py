"""
Crash safety through the real runtime, for every bus: produce through the sink, run a pipeline
worker process (bus source -> recording sink, SQLite state store), SIGKILL it mid-run, run a
new worker, and check that every message was delivered, that what the dead worker had handled
but not acknowledged was redelivered and deduped, and that nothing is left unacknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from _sinks_support import deliveries, make_post, pipeline_crash, require

from socialplug.model import Post


pytestmark = pytest.mark.service

N = 400


async def produce(sink: Any, posts: list[Post]) -> None:
    for i in range(0, len(posts), 100):
        await sink.deliver(deliveries(posts[i : i + 100]))
    await sink.aclose()


async def drain(source: Any) -> list[Post]:
    got: list[Post] = []
    async for page in source.pages(None, follow=False):
        got.extend(page.posts)
        await source.commit(page.cursor)
    await source.aclose()
    return got


def check(
    broker: str,
    config: dict[str, Any],
    posts: list[Post],
    tmp_path: Any,
    leftover: Callable[[], Any],
) -> None:
    recorded, report = pipeline_crash(
        broker, config, [p.key for p in posts], tmp_path, kill_after=100
    )

    repeated = len(recorded) - len(posts)  # delivered, killed before the key was marked seen
    assert repeated <= 20, "more than the batch in flight was delivered twice"
    assert report["duplicates"] + repeated > 0, "nothing was redelivered after the kill"
    assert anyio.run(leftover) in (0, [])


def test_redis(unique, tmp_path):
    """Redis Streams: the restarted consumer re-reads its pending entries; all get XACKed."""
    require("redis")
    import redis.asyncio

    from socialplug.sinks.redis import RedisStreamSink

    url = "redis://127.0.0.1:6379/0"
    posts = [make_post(i) for i in range(N)]
    anyio.run(produce, RedisStreamSink(unique, url=url), posts)
    config = {"stream": unique, "group": "g", "consumer": "w", "url": url, "batch_size": 50}

    async def pending() -> int:
        client = redis.asyncio.Redis.from_url(url)
        info = await client.xpending(unique, "g")
        await client.delete(unique)
        await client.aclose()
        return int(info["pending"])

    check("redis", config, posts, tmp_path, pending)


def test_nats(unique, tmp_path):
    """NATS JetStream: unacked messages come back after ack_wait; all end acknowledged."""
    require("nats")
    import nats

    from socialplug.sinks.nats import NatsJetStreamSink

    url = "nats://127.0.0.1:4222"
    posts = [make_post(i) for i in range(N)]
    sink = NatsJetStreamSink(f"{unique}.p", servers=url, stream=unique, create_stream=True)
    anyio.run(produce, sink, posts)
    config = {"stream": unique, "durable": "w", "servers": url, "batch_size": 50}
    config |= {"ack_wait": 1.0, "max_wait": 0.3}

    async def pending() -> int:
        nc = await nats.connect(url)
        info = await nc.jetstream().consumer_info(unique, "w")
        await nc.jetstream().delete_stream(unique)
        await nc.close()
        return int(info.num_ack_pending + info.num_pending)

    check("nats", config, posts, tmp_path, pending)


def test_rabbitmq(unique, tmp_path):
    """RabbitMQ: the broker requeues the dead consumer's unacked messages; the queue ends empty."""
    require("rabbitmq")
    from socialplug.sinks.rabbitmq import RabbitMQSink
    from socialplug.sources.rabbitmq import RabbitMQSource

    url = "amqp://guest:guest@127.0.0.1:5672/"
    posts = [make_post(i) for i in range(N)]
    anyio.run(produce, RabbitMQSink(unique, url=url), posts)
    config = {"queue": unique, "url": url, "batch_size": 50, "batch_timeout": 0.05}

    async def left() -> list[Post]:
        import aio_pika

        got = await drain(RabbitMQSource(unique, url=url))
        connection = await aio_pika.connect(url)
        await (await connection.channel()).queue_delete(unique)
        await connection.close()
        return got

    check("amqp", config, posts, tmp_path, left)


def test_kafka(broker, unique, tmp_path):
    """Kafka: uncommitted offsets are read again by the next group member; none remain."""
    from socialplug.sinks.kafka import KafkaSink
    from socialplug.sources.kafka import KafkaSource

    options = {"session_timeout_ms": 1500, "heartbeat_interval_ms": 300}
    options["rebalance_timeout_ms"] = 1500
    posts = [make_post(i) for i in range(N)]
    anyio.run(
        produce, KafkaSink(unique, bootstrap_servers=broker, enable_idempotence=False), posts
    )
    config = {"topic": unique, "group_id": "w", "bootstrap_servers": broker, "batch_size": 50}
    config |= {"max_wait": 0.2, "options": options}

    async def left() -> list[Post]:
        return await drain(KafkaSource(**config, idle=0.5))

    check("kafka", config, posts, tmp_path, left)


def test_mqtt(unique, tmp_path):
    """MQTT QoS 1: the persistent session resends what was never acknowledged."""
    require("mqtt")
    from socialplug.sinks.mqtt import MQTTSink
    from socialplug.sources.mqtt import MQTTSource

    topic = f"socialplug/test/{unique}"
    anyio.run(drain, MQTTSource(topic, unique, idle=0.1))  # the session exists before publishing
    posts = [make_post(i) for i in range(N)]
    anyio.run(produce, MQTTSink(topic), posts)
    config = {"topic": topic, "client_id": unique, "batch_size": 20, "batch_timeout": 0.05}

    async def left() -> list[Post]:
        return await drain(MQTTSource(topic, unique, idle=0.5))

    check("mqtt", config, posts, tmp_path, left)
