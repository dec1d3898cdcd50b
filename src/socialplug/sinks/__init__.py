"""
Sinks: where posts and alerts are delivered.
"""

from __future__ import annotations

from ._callable import CallableSink as CallableSink
from ._console import ConsoleSink as ConsoleSink
from ._jsonl import JSONLSink as JSONLSink
from ._memory import MemorySink as MemorySink
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
