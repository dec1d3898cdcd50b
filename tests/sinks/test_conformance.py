"""The data and bus sinks (and the Redis source) pass socialplug.testing's conformance checks."""

from __future__ import annotations

import pytest
from _sinks_support import deliveries, make_post, require

from socialplug.testing import check_sink, check_source


pytestmark = pytest.mark.anyio


async def test_file_and_table_sinks(tmp_path):
    """SQLite, JSON Lines, CSV, Parquet and DataFrame sinks keep the Sink contract."""
    from socialplug.sinks.dataframe import DataFrameSink
    from socialplug.sinks.files import CSVSink, JSONLinesSink, ParquetSink
    from socialplug.sinks.sql import SQLiteSink

    for sink in (
        SQLiteSink(tmp_path / "c.db"),
        JSONLinesSink(tmp_path / "c.jsonl", max_bytes=500),
        CSVSink(tmp_path / "c.csv"),
        ParquetSink(tmp_path / "pq"),
        DataFrameSink(),
    ):
        await check_sink(sink)


@pytest.mark.service
async def test_bus_sinks(unique):
    """PostgreSQL, Redis, NATS, RabbitMQ and MQTT sinks keep the Sink contract."""
    import psycopg

    from socialplug.sinks.mqtt import MQTTSink
    from socialplug.sinks.nats import NatsJetStreamSink
    from socialplug.sinks.rabbitmq import RabbitMQSink
    from socialplug.sinks.redis import RedisStreamSink
    from socialplug.sinks.sql import PostgresSink

    for service in ("postgres", "redis", "nats", "rabbitmq", "mqtt"):
        require(service)
    pg = "postgresql://postgres@127.0.0.1:5432/test"
    for sink in (
        PostgresSink(pg, table=unique),
        RedisStreamSink(unique),
        NatsJetStreamSink(f"{unique}.x", stream=unique, create_stream=True),
        RabbitMQSink(unique),
        MQTTSink(f"socialplug/test/{unique}"),
    ):
        await check_sink(sink)

    import aio_pika
    import nats
    import redis.asyncio

    async with await psycopg.AsyncConnection.connect(pg, autocommit=True) as conn:
        await conn.execute(f'DROP TABLE "{unique}"')
    client = redis.asyncio.Redis()
    await client.delete(unique)
    await client.aclose()
    nc = await nats.connect()
    await nc.jetstream().delete_stream(unique)
    await nc.close()
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1/")
    await (await connection.channel()).queue_delete(unique)
    await connection.close()


@pytest.mark.service
async def test_redis_source(unique):
    """RedisStreamSource keeps the Source contract, resuming from a stored cursor."""
    require("redis")
    from socialplug.sinks.redis import RedisStreamSink
    from socialplug.sources.redis import RedisStreamSource

    sink = RedisStreamSink(unique)
    await sink.deliver(deliveries([make_post(i) for i in range(9)]))
    await sink.aclose()

    pages = await check_source(RedisStreamSource(unique, batch_size=3))

    assert 3 == len(pages)
    import redis.asyncio

    client = redis.asyncio.Redis()
    await client.delete(unique)
    await client.aclose()
