"""
RabbitMQ source (the ``amqp`` extra): manual acks, sent after the pipeline handled a page;
the broker requeues what a dead consumer never acknowledged.

Its matching sink is :class:`socialplug.sinks.rabbitmq.RabbitMQSink`.
"""

from __future__ import annotations

from .._bus._amqp import RabbitMQSource


__all__ = ["RabbitMQSource"]
