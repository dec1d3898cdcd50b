"""
Kafka sink (the ``kafka`` extra): an idempotent producer, records keyed by the item key.

Its matching source is :class:`socialplug.sources.kafka.KafkaSource`.
"""

from __future__ import annotations

from .._bus._kafka import KafkaSink


__all__ = ["KafkaSink"]
