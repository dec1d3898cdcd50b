"""
Sources: where posts come from.

Platform sources live in their public modules (``socialplug.sources.reddit``, ...) and are
re-exported here. They load on first use, so ``import socialplug`` stays light (no HTTP
client, no optional dependency) until a platform is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource


if TYPE_CHECKING:
    from .bluesky import BlueskySource as BlueskySource
    from .bluesky import JetstreamSource as JetstreamSource
    from .feeds import FeedsSource as FeedsSource
    from .hackernews import HackerNewsSource as HackerNewsSource
    from .http import HTTPSource as HTTPSource
    from .kafka import KafkaSource as KafkaSource
    from .mastodon import MastodonSource as MastodonSource
    from .mqtt import MQTTSource as MQTTSource
    from .nats import NatsJetStreamSource as NatsJetStreamSource
    from .rabbitmq import RabbitMQSource as RabbitMQSource
    from .reddit import RedditSource as RedditSource
    from .redis import RedisStreamSource as RedisStreamSource
    from .webhook import WebhookSource as WebhookSource
    from .x import XSource as XSource


_LAZY = {
    "BlueskySource": "bluesky",
    "FeedsSource": "feeds",
    "HTTPSource": "http",
    "HackerNewsSource": "hackernews",
    "JetstreamSource": "bluesky",
    "KafkaSource": "kafka",
    "MQTTSource": "mqtt",
    "MastodonSource": "mastodon",
    "NatsJetStreamSource": "nats",
    "RabbitMQSource": "rabbitmq",
    "RedditSource": "reddit",
    "RedisStreamSource": "redis",
    "WebhookSource": "webhook",
    "XSource": "x",
}

__all__ = [
    "BlueskySource",
    "FeedsSource",
    "HTTPSource",
    "HackerNewsSource",
    "IterableSource",
    "JSONLSource",
    "JetstreamSource",
    "KafkaSource",
    "MQTTSource",
    "MastodonSource",
    "NatsJetStreamSource",
    "RabbitMQSource",
    "RedditSource",
    "RedisStreamSource",
    "WebhookSource",
    "XSource",
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
