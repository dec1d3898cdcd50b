"""
Sources: where posts come from.
"""

from __future__ import annotations

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource
from .bluesky import BlueskySource as BlueskySource
from .bluesky import JetstreamSource as JetstreamSource
from .kafka import KafkaSource as KafkaSource
from .mastodon import MastodonSource as MastodonSource
from .mqtt import MQTTSource as MQTTSource
from .nats import NatsJetStreamSource as NatsJetStreamSource
from .rabbitmq import RabbitMQSource as RabbitMQSource
from .redis import RedisStreamSource as RedisStreamSource


__all__ = [
    "BlueskySource",
    "IterableSource",
    "JSONLSource",
    "JetstreamSource",
    "KafkaSource",
    "MQTTSource",
    "MastodonSource",
    "NatsJetStreamSource",
    "RabbitMQSource",
    "RedisStreamSource",
]
