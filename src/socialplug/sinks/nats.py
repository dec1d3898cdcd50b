"""
NATS JetStream sink (the ``nats`` extra): publish with ``Nats-Msg-Id`` for server-side dedupe.

Its matching source is :class:`socialplug.sources.nats.NatsJetStreamSource`.
"""

from __future__ import annotations

from .._bus._nats import NatsJetStreamSink


__all__ = ["NatsJetStreamSink"]
