"""
NATS JetStream: :class:`NatsJetStreamSink` publishes with ``Nats-Msg-Id`` (server-side dedupe);
:class:`NatsJetStreamSource` reads through a durable pull consumer with explicit acks, sent
only once the pipeline handled a page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio
import attrs

from ..exceptions import ConfigurationError, DeliveryError, FetchError, MissingExtraError
from ..model import Delivery, Malformed, Page, Post
from ..pipeline import SinkPolicy
from ._codec import ITEM_KEY, ROUTE, decode, encode, load_cursor, make_page


if TYPE_CHECKING:
    import nats.aio.client
    import nats.aio.msg


__all__ = ["NatsJetStreamSink", "NatsJetStreamSource"]

_DEFAULT_SERVERS: Final = "nats://127.0.0.1:4222"


def _nats() -> Any:
    try:
        import nats  # noqa: PLC0415  (optional extra, imported on first use)
        import nats.js.api  # noqa: PLC0415
        import nats.js.errors  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("nats-py", extra="nats") from exc
    return nats


def _retryable(exc: Exception) -> bool:
    n = _nats()
    if isinstance(exc, n.js.errors.APIError):
        # 503: no JetStream leader or the stream is catching up; 408/429: slow down.
        return exc.code in (408, 429, 503) or exc.code is None or exc.code >= 500
    if isinstance(exc, n.js.errors.NoStreamResponseError):
        return True  # during a leader election too; a missing stream is caught up front
    return isinstance(exc, n.errors.Error | TimeoutError | OSError)


@attrs.define(eq=False)
class _Connection:
    """A lazily opened NATS connection, or an injected one that is never closed here."""

    servers: str | Sequence[str] = attrs.field(repr=False)
    injected: nats.aio.client.Client | None = attrs.field(repr=False)
    _owned: nats.aio.client.Client | None = attrs.field(default=None, init=False, repr=False)

    async def get(self) -> nats.aio.client.Client:
        if self.injected is not None:
            return self.injected
        if self._owned is None or self._owned.is_closed:
            servers = [self.servers] if isinstance(self.servers, str) else list(self.servers)
            self._owned = await _nats().connect(
                servers=servers,
                connect_timeout=5,
                allow_reconnect=True,
                max_reconnect_attempts=3,
                reconnect_time_wait=0.5,
            )
        return self._owned

    async def close(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None and not owned.is_closed:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await owned.close()


def _stream_sequence(msg: nats.aio.msg.Msg) -> int:
    """
    The stream sequence of a JetStream message, read from its ack subject:
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` or, with a
    domain, ``$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>...`` (12
    tokens). Cheaper than ``msg.metadata``, which is used for anything else.
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[5].isdigit():
        return int(tokens[5])
    if len(tokens) == 12 and tokens[0] == "$JS" and tokens[7].isdigit():
        return int(tokens[7])
    return int(msg.metadata.sequence.stream)


def _what(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@attrs.define(eq=False)
class NatsJetStreamSink:
    """
    Publish each delivery to a JetStream subject and wait for the stream's acknowledgements.

    Messages carry ``Nats-Msg-Id`` = the delivery's idempotency key (in place of the
    ``socialplug-delivery-key`` header other brokers get), so the stream drops a
    replay arriving within its duplicate window (two minutes by default; raise the stream's
    ``duplicate_window`` to cover longer outages): the sink is :attr:`idempotent`. The
    ``socialplug-key`` and ``socialplug-route`` headers carry the item key and route. A batch
    is published pipelined (``publish_async``) and acknowledged as a whole.

    Args:
        subject: The subject to publish to.
        servers: NATS URL(s); never logged (they may hold credentials).
        client: A connected ``nats.aio.client.Client`` to use instead (the caller owns it).
        stream: When given, the expected stream (a message landing elsewhere is refused).
        create_stream: Create *stream*, capturing *subject*, if it does not exist.
        timeout: Seconds to wait for a batch's acknowledgements.

    .. versionadded:: 0.1.0
    """

    subject: str
    servers: str | Sequence[str] = attrs.field(default=_DEFAULT_SERVERS, repr=False)
    client: nats.aio.client.Client | None = attrs.field(default=None, repr=False)
    stream: str | None = None
    create_stream: bool = False
    timeout: float = 10.0
    _conn: _Connection = attrs.field(init=False, repr=False)
    _ready: bool = attrs.field(default=False, init=False, repr=False)

    idempotent: ClassVar[bool] = True
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=500, batch_wait=0.05)

    def __attrs_post_init__(self) -> None:
        if not self.subject:
            msg = "NatsJetStreamSink needs a subject"
            raise ConfigurationError(msg)
        if self.create_stream and not self.stream:
            msg = "create_stream=True needs a stream name"
            raise ConfigurationError(msg)
        self._conn = _Connection(servers=self.servers, injected=self.client)

    async def _ensure_stream(self, js: Any) -> None:
        n = _nats()
        if self._ready or not self.create_stream:
            return
        try:
            await js.stream_info(self.stream)
        except n.js.errors.NotFoundError:
            config = n.js.api.StreamConfig(name=self.stream, subjects=[self.subject])
            try:
                await js.add_stream(config)
            except n.js.errors.BadRequestError:
                await js.stream_info(self.stream)  # created concurrently by someone else
        self._ready = True

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Publish *batch* and return once JetStream stored (or deduplicated) every message.

        Raises:
            DeliveryError: Retryable on connection loss, timeouts and JetStream 5xx/408/429;
                permanent for other API errors (e.g. a message landing in the wrong stream).
        """
        if not batch:
            return
        n = _nats()
        futures: list[Any] = []
        try:
            nc = await self._conn.get()
            js = nc.jetstream()
            await self._ensure_stream(js)
            with anyio.fail_after(self.timeout):
                for d in batch:
                    headers = {"Nats-Msg-Id": d.key, ITEM_KEY: d.item.key, ROUTE: d.route}
                    futures.append(
                        await js.publish_async(
                            self.subject, encode(d), stream=self.stream, headers=headers
                        )
                    )
                for future in futures:
                    await future
        except (n.errors.Error, TimeoutError, OSError) as exc:
            for future in futures:
                future.cancel()
            if isinstance(exc, n.errors.ConnectionClosedError | n.errors.NoServersError):
                await self._conn.close()
            raise DeliveryError(
                f"NATS subject {self.subject!r}: {_what(exc)}", retryable=_retryable(exc)
            ) from exc

    async def aclose(self) -> None:
        """Close the connection the sink opened (not an injected client)."""
        self._ready = False
        await self._conn.close()


@attrs.define(eq=False)
class NatsJetStreamSource:
    """
    Read posts from a JetStream stream through a durable pull consumer (explicit acks).

    A message is acknowledged only when the runtime calls :meth:`commit` with its page's
    cursor (the JSON list of the page's stream sequences), i.e. once every post of the page
    was handled. A message not acknowledged within *ack_wait* seconds (a crashed or stuck
    worker) is delivered again, to this or another worker of the same *durable* consumer.
    Several processes share the work by using the same *durable* name.

    Args:
        stream: The stream to read.
        subject: The subject filter of the consumer (``"posts.>"``); ``None`` for all.
        durable: The durable consumer's name (created if missing, shared by workers).
        servers, client: As for :class:`NatsJetStreamSink`.
        batch_size: Messages per page.
        ack_wait: Seconds JetStream waits for an ack before redelivering; must exceed the
            time a page takes through the pipeline.
        max_wait: Seconds one fetch waits for messages in follow mode.
        idle: Without follow, stop after a fetch waited this long and got nothing.

    .. versionadded:: 0.1.0
    """

    stream: str
    subject: str | None = None
    durable: str = "socialplug"
    servers: str | Sequence[str] = attrs.field(default=_DEFAULT_SERVERS, repr=False)
    client: nats.aio.client.Client | None = attrs.field(default=None, repr=False)
    batch_size: int = 500
    ack_wait: float = 60.0
    max_wait: float = 2.0
    idle: float = 1.0
    _conn: _Connection = attrs.field(init=False, repr=False)
    _unacked: dict[int, nats.aio.msg.Msg] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.stream or not self.durable:
            msg = "NatsJetStreamSource needs a stream and a durable consumer name"
            raise ConfigurationError(msg)
        self._conn = _Connection(servers=self.servers, injected=self.client)

    @property
    def name(self) -> str:
        """``nats:<stream>:<durable>``."""
        return f"nats:{self.stream}:{self.durable}"

    def _error(self, exc: Exception, what: str) -> FetchError:
        n = _nats()
        retryable = _retryable(exc) and not isinstance(exc, n.js.errors.NotFoundError)
        return FetchError(
            f"NATS stream {self.stream!r}, {what}: {_what(exc)}",
            source=self.name,
            retryable=retryable,
        )

    def _page(self, msgs: list[nats.aio.msg.Msg]) -> Page | None:
        items: list[Post | Malformed] = []
        seqs: list[int] = []
        for msg in msgs:
            seq = _stream_sequence(msg)
            fresh = seq not in self._unacked
            self._unacked[seq] = msg  # a redelivery's reply subject acks it as well
            if fresh:
                seqs.append(seq)
                items.append(decode(msg.data, source=self.name, where=f"message {seq}"))
        return make_page(items, seqs) if seqs else None

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of messages from the durable consumer.

        *cursor* is not needed (the consumer remembers the position).

        Raises:
            FetchError: NATS failed; retryable on connection loss and timeouts, permanent when
                the stream does not exist.
        """
        n = _nats()
        what = "creating the consumer"
        sub = None
        try:
            nc = await self._conn.get()
            js = nc.jetstream()
            config = n.js.api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=n.js.api.AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                filter_subject=self.subject,
            )
            subject = self.subject or ""
            if not subject:
                info = await js.stream_info(self.stream)
                subject = info.config.subjects[0] if info.config.subjects else ">"
            sub = await js.pull_subscribe(
                subject, durable=self.durable, stream=self.stream, config=config
            )
            what = "fetching messages"
            while True:
                try:
                    msgs = await sub.fetch(
                        self.batch_size, timeout=self.max_wait if follow else self.idle
                    )
                except TimeoutError:  # nats.errors.TimeoutError too: nothing arrived in time
                    if not follow:
                        return
                    continue
                page = self._page(msgs)
                if page is not None:
                    yield page
        except (n.errors.Error, TimeoutError, OSError) as exc:
            if isinstance(exc, n.errors.ConnectionClosedError | n.errors.NoServersError):
                await self._conn.close()
            raise self._error(exc, what) from exc
        finally:
            if sub is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await sub.unsubscribe()

    async def commit(self, cursor: str, /) -> None:
        """
        Acknowledge the messages named by a page *cursor* (and flush the acks).

        Raises:
            FetchError: The acks could not be sent; the messages are redelivered after
                *ack_wait*.
        """
        n = _nats()
        msgs = [m for s in load_cursor(cursor) if (m := self._unacked.pop(s, None)) is not None]
        if not msgs:
            return
        try:
            for msg in msgs:
                await msg.ack()
            await (await self._conn.get()).flush(timeout=5)
        except (n.errors.Error, TimeoutError, OSError) as exc:
            raise self._error(exc, "acknowledging messages") from exc

    async def aclose(self) -> None:
        """Close the connection the source opened; unacknowledged messages are redelivered."""
        self._unacked.clear()
        await self._conn.close()
