"""
Event-bus plumbing shared by the broker sinks and sources (Redis Streams, NATS JetStream,
RabbitMQ, Kafka, MQTT).

Each broker lives in one private module here holding both its sink and its source, since they
share connection handling, error translation and the message format; the public modules
(``socialplug.sinks.redis``, ``socialplug.sources.redis``, ...) re-export them. :mod:`._codec`
defines the message format every broker uses.
"""
