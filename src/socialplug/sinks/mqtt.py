"""
MQTT sink (the ``mqtt`` extra): QoS 1 publishes acknowledged by the broker.

Its matching source is :class:`socialplug.sources.mqtt.MQTTSource`; the source module's
documentation explains what QoS 1 can and cannot guarantee.
"""

from __future__ import annotations

from .._bus._mqtt import MQTTSink


__all__ = ["MQTTSink"]
