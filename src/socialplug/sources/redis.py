"""
Redis Streams source (the ``redis`` extra): consumer groups with ``XREADGROUP``, ``XACK``
after the pipeline handled a page, and ``XAUTOCLAIM`` for entries a dead consumer left.

Its matching sink is :class:`socialplug.sinks.redis.RedisStreamSink`.
"""

from __future__ import annotations

from .._bus._redis import RedisStreamSource


__all__ = ["RedisStreamSource"]
