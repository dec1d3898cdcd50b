"""
Kafka (aiokafka): :class:`KafkaSink` produces with an idempotent producer, keyed by the item
key; :class:`KafkaSource` reads as a consumer group and commits offsets only once the pipeline
handled a page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import anyio
import attrs

from ..exceptions import ConfigurationError, DeliveryError, FetchError, MissingExtraError
from ..model import Delivery, Malformed, Page, Post
from ..pipeline import SinkPolicy
from ._codec import decode, encode, headers_of, make_page


__all__ = ["KafkaSink", "KafkaSource"]

_log = logging.getLogger("socialplug.kafka")


def _kafka() -> Any:
    try:
        # Optional extra, imported on first use; aiokafka ships no type hints.
        import aiokafka  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
        import aiokafka.errors  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("aiokafka", extra="kafka") from exc
    return aiokafka


def _retryable(exc: BaseException) -> bool:
    k = _kafka()
    if isinstance(exc, k.errors.KafkaTimeoutError | TimeoutError | OSError):
        return True
    return bool(getattr(exc, "retriable", False))


def _what(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.define(eq=False)
class KafkaSink:
    """
    Produce each delivery to a Kafka topic and wait until the brokers acknowledged the batch.

    The record key is the item key (so one post's updates stay in one partition, in order);
    the headers carry ``socialplug-key``, ``socialplug-delivery-key`` and
    ``socialplug-route``; the value is the post as JSON. The producer is idempotent
    (``enable_idempotence``, ``acks="all"``): a retry inside the producer never duplicates a
    record. A replay of the same delivery by the runtime is a new record, so the sink is not
    :attr:`idempotent`; consumers that need exactly-once dedupe on the delivery key header.

    Args:
        topic: The topic.
        bootstrap_servers: ``host:port`` of one or more brokers.
        enable_idempotence: Turn off only for brokers without ``InitProducerId`` support.
        options: More ``AIOKafkaProducer`` keyword arguments (SASL, TLS, compression);
            never logged.
        timeout: Seconds to wait for a batch's acknowledgements.

    .. versionadded:: 0.1.0
    """

    topic: str
    bootstrap_servers: str | Sequence[str] = "127.0.0.1:9092"
    enable_idempotence: bool = True
    options: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    timeout: float = 30.0
    _producer: Any = attrs.field(default=None, init=False, repr=False)

    idempotent: ClassVar[bool] = False
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=500, batch_wait=0.05)

    def __attrs_post_init__(self) -> None:
        if not self.topic:
            msg = "KafkaSink needs a topic"
            raise ConfigurationError(msg)

    async def _get(self) -> Any:
        if self._producer is None:
            producer = _kafka().AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                enable_idempotence=self.enable_idempotence,
                acks="all",
                **self.options,
            )
            try:
                await producer.start()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Produce *batch* and return once every record is acknowledged.

        Raises:
            DeliveryError: Retryable for errors Kafka marks retriable (no leader, broker
                unavailable, timeouts, connection loss); permanent for the others (record too
                large, authorization).
        """
        if not batch:
            return
        k = _kafka()
        futures: list[Any] = []
        try:
            producer = await self._get()
            with anyio.fail_after(self.timeout):
                for d in batch:
                    headers = [(n, v.encode()) for n, v in headers_of(d).items()]
                    futures.append(
                        await producer.send(
                            self.topic, value=encode(d), key=d.item.key.encode(), headers=headers
                        )
                    )
                for future in futures:
                    await future
        except (k.errors.KafkaError, TimeoutError, OSError) as exc:
            for future in futures:
                future.cancel()
            retryable = _retryable(exc)
            if retryable:
                await self.aclose()
            raise DeliveryError(
                f"Kafka topic {self.topic!r}: {_what(exc)}", retryable=retryable
            ) from exc

    async def aclose(self) -> None:
        """Flush and stop the producer; the next :meth:`deliver` starts a new one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await producer.stop()


@attrs.define(eq=False)
class KafkaSource:
    """
    Read posts from Kafka topics as a member of a consumer group.

    Offsets are committed only when the runtime calls :meth:`commit` with a page's cursor
    (``{"topic:partition": next_offset}``), i.e. once every post of the page was handled, so
    a crashed worker's uncommitted records are read again by whoever owns the partition next.
    Auto-commit is off. A commit refused because the group rebalanced meanwhile is logged and
    skipped: the new owner of the partition reads those records again (at-least-once).

    Args:
        topic: The topic, or several.
        group_id: The consumer group (workers sharing the work use the same one).
        bootstrap_servers: As for :class:`KafkaSink`.
        batch_size: Records per page at most.
        max_wait: Seconds one fetch waits for records.
        idle: Without follow, stop once the group has partitions and nothing arrived for this
            long.
        join_timeout: Without follow, give up waiting for partitions after this long.
        auto_offset_reset: Where a group without committed offsets starts
            (``"earliest"``/``"latest"``).
        options: More ``AIOKafkaConsumer`` keyword arguments; never logged.

    .. versionadded:: 0.1.0
    """

    topic: str | Sequence[str]
    group_id: str = "socialplug"
    bootstrap_servers: str | Sequence[str] = "127.0.0.1:9092"
    batch_size: int = 500
    max_wait: float = 1.0
    idle: float = 1.0
    join_timeout: float = 60.0
    auto_offset_reset: str = "earliest"
    options: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    _consumer: Any = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.topics or not self.group_id:
            msg = "KafkaSource needs a topic and a group id"
            raise ConfigurationError(msg)

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics read."""
        return (self.topic,) if isinstance(self.topic, str) else tuple(self.topic)

    @property
    def name(self) -> str:
        """``kafka:<topics>:<group>``."""
        return f"kafka:{','.join(self.topics)}:{self.group_id}"

    def _error(self, exc: BaseException, what: str) -> FetchError:
        return FetchError(
            f"Kafka {', '.join(self.topics)}, {what}: {_what(exc)}",
            source=self.name,
            retryable=_retryable(exc),
        )

    async def _get(self) -> Any:
        if self._consumer is None:
            consumer = _kafka().AIOKafkaConsumer(
                *self.topics,
                group_id=self.group_id,
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                auto_offset_reset=self.auto_offset_reset,
                **self.options,
            )
            try:
                await consumer.start()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    def _page(self, records: Mapping[Any, list[Any]]) -> Page | None:
        items: list[Post | Malformed] = []
        offsets: dict[str, int] = {}
        for tp, batch in records.items():
            for record in batch:
                where = f"record {tp.topic}:{tp.partition}@{record.offset}"
                items.append(decode(record.value, source=self.name, where=where))
            if batch:
                offsets[f"{tp.topic}:{tp.partition}"] = batch[-1].offset + 1
        if not offsets:
            return None
        return make_page(items, (), cursor=json.dumps(offsets, separators=(",", ":")))

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of records; *cursor* is not needed (the group's offsets are the position).

        Raises:
            FetchError: Kafka failed; retryable for errors Kafka marks retriable.
        """
        k = _kafka()
        what = "joining the group"
        try:
            consumer = await self._get()
            started = time.monotonic()
            last: float | None = None  # when records last arrived, or partitions were assigned
            while True:
                records = await consumer.getmany(
                    timeout_ms=int(self.max_wait * 1000), max_records=self.batch_size
                )
                what = "fetching records"
                page = self._page(records)
                now = time.monotonic()
                if last is None and (page is not None or consumer.assignment()):
                    last = now  # the idle time counts from the assignment on
                if page is not None:
                    last = now
                    yield page
                elif not follow:
                    if last is not None and now - last >= self.idle:
                        return
                    if last is None and now - started >= self.join_timeout:
                        raise k.errors.KafkaTimeoutError("no partitions assigned in time")
        except k.errors.KafkaError as exc:
            raise self._error(exc, what) from exc

    async def commit(self, cursor: str, /) -> None:
        """
        Commit the offsets named by a page *cursor*.

        Raises:
            FetchError: Kafka failed for another reason than a rebalance.
        """
        k = _kafka()
        try:
            offsets = {
                k.TopicPartition(key.rsplit(":", 1)[0], int(key.rsplit(":", 1)[1])): int(off)
                for key, off in json.loads(cursor).items()
            }
        except (ValueError, AttributeError, IndexError):
            return  # not one of our cursors: nothing to commit
        consumer = self._consumer
        if consumer is None or not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (k.errors.CommitFailedError, k.errors.IllegalStateError) as exc:
            _log.warning(
                "Kafka %s: offsets not committed after a rebalance (%s); the partition's new "
                "owner reads those records again",
                self.name,
                type(exc).__name__,
            )
        except k.errors.KafkaError as exc:
            raise self._error(exc, "committing offsets") from exc

    async def aclose(self) -> None:
        """Leave the group and close the consumer; uncommitted records are read again."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await consumer.stop()
