"""
NATS JetStream source (the ``nats`` extra): a durable pull consumer with explicit acks, sent
after the pipeline handled a page.

Its matching sink is :class:`socialplug.sinks.nats.NatsJetStreamSink`.
"""

from __future__ import annotations

from .._bus._nats import NatsJetStreamSource


__all__ = ["NatsJetStreamSource"]
