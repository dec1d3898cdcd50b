"""
RabbitMQ (AMQP 0-9-1, aio-pika): :class:`RabbitMQSink` publishes persistent messages with
publisher confirms; :class:`RabbitMQSource` consumes with manual acks, sent only once the
pipeline handled a page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio
import attrs

from ..exceptions import ConfigurationError, DeliveryError, FetchError, MissingExtraError
from ..model import Delivery, Malformed, Page, Post
from ..pipeline import SinkPolicy
from ._codec import decode, encode, headers_of, load_cursor, make_page


if TYPE_CHECKING:
    import aio_pika.abc


__all__ = ["RabbitMQSink", "RabbitMQSource"]

_DEFAULT_URL: Final = "amqp://guest:guest@127.0.0.1:5672/"


def _pika() -> Any:
    try:
        import aio_pika  # noqa: PLC0415  (optional extra, imported on first use)
    except ImportError as exc:
        raise MissingExtraError("aio-pika", extra="amqp") from exc
    return aio_pika


def _errors() -> tuple[type[BaseException], ...]:
    _pika()
    import aiormq.exceptions  # noqa: PLC0415

    return (aiormq.exceptions.AMQPError, OSError, TimeoutError, RuntimeError)


def _retryable(exc: BaseException) -> bool:
    _pika()
    import aiormq.exceptions as amqp  # noqa: PLC0415
    import pamqp.commands  # noqa: PLC0415

    if not isinstance(exc, _errors()):
        return False  # not a broker or network failure: trying again will not help

    if isinstance(exc, amqp.DeliveryError):
        # Returned (mandatory, nothing bound to the routing key) is a wiring problem; a broker
        # nack is the broker failing to take it now.
        return not isinstance(getattr(exc, "frame", None), pamqp.commands.Basic.Return)
    permanent = (
        amqp.ChannelNotFoundEntity,
        amqp.ChannelPreconditionFailed,
        amqp.ChannelAccessRefused,
        amqp.ProbableAuthenticationError,
        amqp.AuthenticationError,
    )
    return not isinstance(exc, permanent)


def _what(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.define(eq=False)
class _Channel:
    """A lazily opened connection + channel, or an injected connection (never closed here)."""

    url: str = attrs.field(repr=False)
    injected: aio_pika.abc.AbstractConnection | None = attrs.field(repr=False)
    prefetch: int = 0
    _connection: aio_pika.abc.AbstractConnection | None = attrs.field(default=None, repr=False)
    _channel: aio_pika.abc.AbstractChannel | None = attrs.field(default=None, repr=False)

    async def get(self) -> aio_pika.abc.AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        connection = self.injected
        if connection is None:
            if self._connection is None or self._connection.is_closed:
                self._connection = await _pika().connect(self.url, timeout=10)
            connection = self._connection
        self._channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if self.prefetch:
            await self._channel.set_qos(prefetch_count=self.prefetch)
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        connection, self._connection = self._connection, None
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            if channel is not None and not channel.is_closed:
                await channel.close()
            if connection is not None and not connection.is_closed:
                await connection.close()


@attrs.define(eq=False)
class RabbitMQSink:
    """
    Publish each delivery as a persistent message and wait for the broker's confirms.

    A message's ``message_id`` is the delivery's idempotency key and its headers carry
    ``socialplug-key`` and ``socialplug-route``; the body is the post as JSON. Published
    ``mandatory``: a message no queue takes is refused (permanently) rather than dropped.
    RabbitMQ does not dedupe, so the sink is not :attr:`idempotent`.

    Args:
        routing_key: The routing key; with the default exchange, the queue name.
        exchange: The exchange name (``""``: the default exchange).
        url: ``amqp://user:password@host:port/vhost``; never logged.
        connection: An aio-pika connection to use instead (the caller owns it).
        declare_queue: Declare a durable queue named *routing_key* before the first publish
            (for the default exchange).
        timeout: Seconds to wait for a batch's confirms.

    .. versionadded:: 0.1.0
    """

    routing_key: str
    exchange: str = ""
    url: str = attrs.field(default=_DEFAULT_URL, repr=False)
    connection: aio_pika.abc.AbstractConnection | None = attrs.field(default=None, repr=False)
    declare_queue: bool = True
    timeout: float = 10.0
    _chan: _Channel = attrs.field(init=False, repr=False)
    _ready: bool = attrs.field(default=False, init=False, repr=False)

    idempotent: ClassVar[bool] = False
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=200, batch_wait=0.05)

    def __attrs_post_init__(self) -> None:
        if not self.routing_key and not self.exchange:
            msg = "RabbitMQSink needs a routing key (the queue name) or an exchange"
            raise ConfigurationError(msg)
        self._chan = _Channel(url=self.url, injected=self.connection)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Publish *batch* concurrently and return once the broker confirmed every message.

        Raises:
            DeliveryError: Retryable on connection loss, timeouts and broker nacks; permanent
                for a missing exchange, refused access or an unroutable message.
        """
        if not batch:
            return
        pika = _pika()
        failed: list[BaseException] = []
        try:
            channel = await self._chan.get()
            if not self._ready:
                if self.declare_queue and not self.exchange:
                    await channel.declare_queue(self.routing_key, durable=True)
                self._ready = True
            exchange = (
                await channel.get_exchange(self.exchange, ensure=True)
                if self.exchange
                else channel.default_exchange
            )

            async def publish(d: Delivery) -> None:
                message = pika.Message(
                    encode(d),
                    message_id=d.key,
                    headers=headers_of(d),
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.PERSISTENT,
                )
                try:
                    await exchange.publish(message, self.routing_key, mandatory=True)
                except Exception as exc:
                    failed.append(exc)

            with anyio.fail_after(self.timeout):
                async with anyio.create_task_group() as tg:
                    for d in batch:
                        tg.start_soon(publish, d)
        except _errors() as exc:
            failed.append(exc)
        if failed:
            await self._reset()
            raise DeliveryError(
                f"RabbitMQ {self.exchange or 'default exchange'} / {self.routing_key!r}: "
                f"{_what(failed[0])}"
                + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
                retryable=all(_retryable(e) for e in failed),
            ) from failed[0]

    async def _reset(self) -> None:
        self._ready = False
        await self._chan.close()

    async def aclose(self) -> None:
        """Close the channel and the connection the sink opened (not an injected one)."""
        await self._reset()


@attrs.define(eq=False)
class RabbitMQSource:
    """
    Read posts from a RabbitMQ queue with manual acknowledgements.

    A message is acknowledged only when the runtime calls :meth:`commit` with its page's
    cursor (the JSON list of the page's delivery tags), i.e. once every post of the page was
    handled. If the process dies first, the broker requeues every unacknowledged message
    when the connection drops, and another consumer (or the restarted one) gets it again
    (``redelivered`` set). Several processes share a queue as competing consumers.

    Args:
        queue: The queue (declared durable if missing).
        url, connection: As for :class:`RabbitMQSink`.
        batch_size: Messages per page.
        batch_timeout: In follow mode, seconds to wait for a page to fill before yielding
            what arrived.
        prefetch: Unacknowledged messages the broker may send ahead (QoS); at least
            *batch_size*, default four pages.

    .. versionadded:: 0.1.0
    """

    queue: str
    url: str = attrs.field(default=_DEFAULT_URL, repr=False)
    connection: aio_pika.abc.AbstractConnection | None = attrs.field(default=None, repr=False)
    batch_size: int = 200
    batch_timeout: float = 0.2
    prefetch: int | None = None
    _chan: _Channel = attrs.field(init=False, repr=False)
    _unacked: dict[int, aio_pika.abc.AbstractIncomingMessage] = attrs.field(
        factory=dict, init=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if not self.queue:
            msg = "RabbitMQSource needs a queue name"
            raise ConfigurationError(msg)
        prefetch = self.prefetch or self.batch_size * 4
        if prefetch < self.batch_size:
            msg = f"prefetch ({prefetch}) must be at least batch_size ({self.batch_size})"
            raise ConfigurationError(msg)
        self._chan = _Channel(url=self.url, injected=self.connection, prefetch=prefetch)

    @property
    def name(self) -> str:
        """``amqp:<queue>``."""
        return f"amqp:{self.queue}"

    def _page(self, msgs: list[aio_pika.abc.AbstractIncomingMessage]) -> Page | None:
        items: list[Post | Malformed] = []
        tags: list[int] = []
        for msg in msgs:
            tag = int(msg.delivery_tag or 0)
            self._unacked[tag] = msg
            tags.append(tag)
            where = f"message {msg.message_id or tag}"
            items.append(decode(msg.body, source=self.name, where=where))
        return make_page(items, tags) if tags else None

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of messages; without *follow*, stop when the queue is empty.

        *cursor* is not needed (the queue holds what is not acknowledged).

        Raises:
            FetchError: RabbitMQ failed; retryable on connection loss and timeouts.
        """
        what = "opening the queue"
        try:
            channel = await self._chan.get()
            queue = await channel.declare_queue(self.queue, durable=True)
            what = "reading messages"
            if not follow:
                while True:
                    msgs: list[aio_pika.abc.AbstractIncomingMessage] = []
                    while len(msgs) < self.batch_size:
                        msg = await queue.get(no_ack=False, fail=False)
                        if msg is None:
                            break
                        msgs.append(msg)
                    page = self._page(msgs)
                    if page is None:
                        return
                    yield page
            send, receive = anyio.create_memory_object_stream[
                "aio_pika.abc.AbstractIncomingMessage"
            ](self._chan.prefetch)

            async def on_message(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
                # Never blocks: the broker sends at most `prefetch` unacknowledged messages.
                try:
                    send.send_nowait(msg)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await msg.nack(requeue=True)  # arrived while the reader was leaving

            tag = await queue.consume(on_message, no_ack=False)
            try:
                async with receive:
                    while True:
                        msgs = [await receive.receive()]
                        with anyio.move_on_after(self.batch_timeout):
                            while len(msgs) < self.batch_size:
                                msgs.append(await receive.receive())
                        page = self._page(msgs)
                        if page is not None:
                            yield page
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await queue.cancel(tag)
                send.close()
        except _errors() as exc:
            self._unacked.clear()  # delivery tags die with the channel
            await self._chan.close()
            raise FetchError(
                f"RabbitMQ queue {self.queue!r}, {what}: {_what(exc)}",
                source=self.name,
                retryable=_retryable(exc),
            ) from exc

    async def commit(self, cursor: str, /) -> None:
        """
        Acknowledge the messages named by a page *cursor*.

        Raises:
            FetchError: The channel is gone; the broker has requeued those messages already.
        """
        msgs = [m for t in load_cursor(cursor) if (m := self._unacked.pop(t, None)) is not None]
        try:
            for msg in msgs:
                await msg.ack()
        except _errors() as exc:
            raise FetchError(
                f"RabbitMQ queue {self.queue!r}, acknowledging: {_what(exc)}",
                source=self.name,
                retryable=True,
            ) from exc

    async def aclose(self) -> None:
        """Close the channel (unacknowledged messages go back to the queue)."""
        self._unacked.clear()
        await self._chan.close()
