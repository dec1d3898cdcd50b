"""Optional dependencies: never imported by ``import socialplug``, named when missing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _sinks_support import deliveries, make_post

from socialplug.exceptions import MissingExtraError


EXTRAS = [
    "orjson",
    "psycopg",
    "redis",
    "nats",
    "aio_pika",
    "aiokafka",
    "aiomqtt",
    "pandas",
    "pyarrow",
]


def test_importing_the_modules_imports_no_extra():
    """The sink and source modules load without touching their optional dependency."""
    code = (
        "import sys\n"
        "import socialplug, socialplug.sinks, socialplug.sources, socialplug.sinks.sql\n"
        "import socialplug.sinks.files\n"
        "import socialplug.sinks.dataframe, socialplug.sinks.redis, socialplug.sources.redis\n"
        "import socialplug.sinks.nats, socialplug.sources.nats, socialplug.sinks.rabbitmq\n"
        "import socialplug.sources.rabbitmq, socialplug.sinks.kafka, socialplug.sources.kafka\n"
        "import socialplug.sinks.mqtt, socialplug.sources.mqtt\n"
        f"print(sorted(m for m in {EXTRAS!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "extra", "make"),
    [
        pytest.param(
            "psycopg",
            "postgres",
            lambda: __import__("socialplug.sinks.sql", fromlist=["x"]).PostgresSink("x"),
            id="postgres",
        ),
        pytest.param(
            "redis",
            "redis",
            lambda: __import__("socialplug.sinks.redis", fromlist=["x"]).RedisStreamSink("s"),
            id="redis",
        ),
        pytest.param(
            "nats",
            "nats",
            lambda: __import__("socialplug.sinks.nats", fromlist=["x"]).NatsJetStreamSink("s"),
            id="nats",
        ),
        pytest.param(
            "aio_pika",
            "amqp",
            lambda: __import__("socialplug.sinks.rabbitmq", fromlist=["x"]).RabbitMQSink("q"),
            id="amqp",
        ),
        pytest.param(
            "aiokafka",
            "kafka",
            lambda: __import__("socialplug.sinks.kafka", fromlist=["x"]).KafkaSink("t"),
            id="kafka",
        ),
        pytest.param(
            "aiomqtt",
            "mqtt",
            lambda: __import__("socialplug.sinks.mqtt", fromlist=["x"]).MQTTSink("t"),
            id="mqtt",
        ),
    ],
)
@pytest.mark.anyio
async def test_missing_extra_is_named(monkeypatch, module, extra, make):
    """Delivering without the extra installed raises MissingExtraError naming the extra."""
    monkeypatch.setitem(sys.modules, module, None)
    sink = make()
    with pytest.raises(MissingExtraError) as info:
        await sink.deliver(deliveries([make_post(1)]))

    assert f"socialplug[{extra}]" in str(info.value)


def _dataframe(_tmp):
    from socialplug.sinks.dataframe import DataFrameSink

    return DataFrameSink()


def _parquet(tmp):
    from socialplug.sinks.files import ParquetSink

    return ParquetSink(tmp)


@pytest.mark.parametrize(
    ("module", "extra", "make"),
    [
        pytest.param("pandas", "pandas", _dataframe, id="pandas"),
        pytest.param("pyarrow", "parquet", _parquet, id="parquet"),
    ],
)
def test_missing_extra_at_construction(monkeypatch, tmp_path, module, extra, make):
    """Collectors that cannot work at all without their extra say so when built."""
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as info:
        make(tmp_path)

    assert f"socialplug[{extra}]" in str(info.value)
