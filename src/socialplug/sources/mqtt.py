"""
MQTT source (the ``mqtt`` extra): a persistent QoS 1 session whose ``PUBACK``\\ s are sent
only after the pipeline handled a page.

What QoS 1 guarantees: a message the broker accepted reaches every subscription that existed
when it arrived at least once, also across a consumer crash (the broker resends what was not
acknowledged when the session reconnects). What it does not: no dedupe (duplicates are
normal), nothing is kept for subscriptions that did not exist yet, the broker's queue for an
offline session is bounded (Mosquitto drops beyond ``max_queued_messages``) and lost on a broker
restart without persistence, and a broker acknowledgement says nothing about subscribers.
"""

from __future__ import annotations

from .._bus._mqtt import MQTTSource


__all__ = ["MQTTSource"]
