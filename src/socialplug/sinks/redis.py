"""
Redis Streams sink (the ``redis`` extra): ``XADD`` each delivery, trimmed with ``MAXLEN``.

Its matching source is :class:`socialplug.sources.redis.RedisStreamSource`.
"""

from __future__ import annotations

from .._bus._redis import RedisStreamSink


__all__ = ["RedisStreamSink"]
