"""
Sinks: where posts and alerts are delivered.

Destination sinks live in their public modules (``socialplug.sinks.sql``, ...) and are
re-exported here. They load on first use, so ``import socialplug`` stays light until a sink is
actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._callable import CallableSink as CallableSink
from ._console import ConsoleSink as ConsoleSink
from ._jsonl import JSONLSink as JSONLSink
from ._memory import MemorySink as MemorySink


if TYPE_CHECKING:
    from .dataframe import DataFrameSink as DataFrameSink
    from .files import CSVSink as CSVSink
    from .files import JSONLinesSink as JSONLinesSink
    from .files import ParquetSink as ParquetSink
    from .kafka import KafkaSink as KafkaSink
    from .mqtt import MQTTSink as MQTTSink
    from .nats import NatsJetStreamSink as NatsJetStreamSink
    from .rabbitmq import RabbitMQSink as RabbitMQSink
    from .redis import RedisStreamSink as RedisStreamSink
    from .sql import PostgresSink as PostgresSink
    from .sql import SQLiteSink as SQLiteSink


_LAZY = {
    "CSVSink": "files",
    "DataFrameSink": "dataframe",
    "JSONLinesSink": "files",
    "KafkaSink": "kafka",
    "MQTTSink": "mqtt",
    "NatsJetStreamSink": "nats",
    "ParquetSink": "files",
    "PostgresSink": "sql",
    "RabbitMQSink": "rabbitmq",
    "RedisStreamSink": "redis",
    "SQLiteSink": "sql",
}

__all__ = [
    "CSVSink",
    "CallableSink",
    "ConsoleSink",
    "DataFrameSink",
    "JSONLSink",
    "JSONLinesSink",
    "KafkaSink",
    "MQTTSink",
    "MemorySink",
    "NatsJetStreamSink",
    "ParquetSink",
    "PostgresSink",
    "RabbitMQSink",
    "RedisStreamSink",
    "SQLiteSink",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
