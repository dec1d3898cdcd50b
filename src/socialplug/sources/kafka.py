"""
Kafka source (the ``kafka`` extra): a consumer group that commits offsets only after the
pipeline handled a page.

Its matching sink is :class:`socialplug.sinks.kafka.KafkaSink`.
"""

from __future__ import annotations

from .._bus._kafka import KafkaSource


__all__ = ["KafkaSource"]
