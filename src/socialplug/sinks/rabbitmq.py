"""
RabbitMQ sink (the ``amqp`` extra): persistent messages with publisher confirms.

Its matching source is :class:`socialplug.sources.rabbitmq.RabbitMQSource`.
"""

from __future__ import annotations

from .._bus._amqp import RabbitMQSink


__all__ = ["RabbitMQSink"]
