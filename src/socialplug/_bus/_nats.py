"""
NATS JetStream: :class:`NatsJetStreamSink` publishes with ``Nats-Msg-Id`` (server-side dedupe);
:class:`NatsJetStreamSource` reads through a durable pull consumer with explicit acks, sent
only once the pipeline handled a page, and asks for the next page while the pipeline handles
the current one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio
import attrs

from ..exceptions import ConfigurationError, DeliveryError, FetchError, MissingExtraError
from ..model import Delivery, Malformed, Page, Post
from ..pipeline import SinkPolicy
from ._codec import ITEM_KEY, ROUTE, decode, dump_cursor, encode, load_cursor, make_page


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


_NEXT: Final = "$JS.API.CONSUMER.MSG.NEXT"
_GRACE: Final = 2.0  # seconds past a pull request's expiry before it counts as lost
_SETTLE: Final = 0.5  # seconds a stopping source waits for the page it asked for in advance
#: Words of the 409 answers to a pull request that asking again does not cure.
_LASTING: Final = ("Deleted", "push based", "Exceeded MaxRequest", "Exceeds MaxBytes")


@attrs.define(eq=False)
class _Puller:
    """
    One pull request at a time on a private inbox. The request asks for up to *batch*
    messages with ``no_wait`` and an expiry: JetStream sends what is there at once, or waits
    up to the expiry for the first message, then ends the request with a status message
    (404/408). The messages land in :attr:`got` through the subscription's callback.
    """

    nc: nats.aio.client.Client = attrs.field(repr=False)
    subject: str
    inbox: str
    batch: int
    got: list[nats.aio.msg.Msg] = attrs.field(factory=list, repr=False)
    problem: str | None = None
    _asked: int = 0
    _done: anyio.Event = attrs.field(factory=anyio.Event, repr=False)

    async def on_message(self, msg: nats.aio.msg.Msg) -> None:
        headers = msg.headers
        if msg.data or not headers or "Status" not in headers:
            self.got.append(msg)
            self._asked -= 1
            if self._asked <= 0:
                self._done.set()
            return
        status = headers["Status"]
        if status == "100":  # an idle heartbeat
            return
        if status not in ("404", "408"):  # 409: leadership change, consumer deleted, ...
            self.problem = f"{status} {headers.get('Description', '')}".strip()
        self._asked = 0
        self._done.set()

    @property
    def lasting(self) -> bool:
        """Whether :attr:`problem` will not go away by asking again."""
        return any(p in (self.problem or "") for p in _LASTING)

    async def ask(self, wait: float) -> None:
        """Send the next pull request, waiting at most *wait* seconds for a first message."""
        self._asked = self.batch
        self._done = anyio.Event()
        expires = max(int(wait * 1e9) - 100_000, 1_000_000)
        request = b'{"batch":%d,"expires":%d,"no_wait":true}' % (self.batch, expires)
        await self.nc.publish(self.subject, request, reply=self.inbox)

    async def ended(self) -> None:
        """Wait for the request to end."""
        await self._done.wait()

    def answer_now(self) -> list[nats.aio.msg.Msg]:
        """Return what arrived so far, without waiting."""
        got, self.got = self.got, []
        return got

    async def answer(self, wait: float) -> list[nats.aio.msg.Msg]:
        """Wait for the request to end and return what it brought (and any stragglers)."""
        with anyio.move_on_after(wait + _GRACE):
            await self.ended()
        return self.answer_now()


@attrs.define(eq=False)
class NatsJetStreamSource:
    """
    Read posts from a JetStream stream through a durable pull consumer (explicit acks).

    A message is acknowledged only when the runtime calls :meth:`commit` with its page's
    cursor (the JSON list of the page's stream sequences), i.e. once every post of that page
    and of every earlier page was handled: the commit acknowledges those earlier pages too. A
    message not acknowledged within *ack_wait* seconds (a crashed or stuck worker) is
    delivered again, to this or another worker of the same *durable* consumer. Several
    processes share the work by using the same *durable* name.

    The next page is requested from JetStream before the current one is handed on, so the
    server sends it while the pipeline handles the current page.

    Args:
        stream: The stream to read.
        subject: The subject filter of the consumer (``"posts.>"``); ``None`` for all.
        durable: The durable consumer's name (created if missing, shared by workers). An
            existing consumer must be a pull consumer with explicit acks (else
            :class:`~socialplug.exceptions.FetchError`, not retryable).
        servers, client: As for :class:`NatsJetStreamSink`.
        batch_size: Messages per page (at most; a page holds what JetStream had ready).
        ack_wait: Seconds JetStream waits for an ack before redelivering; must exceed the
            time a page takes through the pipeline.
        max_wait: Seconds one pull request waits for messages in follow mode.
        idle: Without follow, stop after a pull request waited this long and got nothing.
        max_ack_pending: How many delivered messages may wait for their ack, set when the
            source creates the consumer; ``None`` for four pages (at least 1,000). Reading
            runs ahead of acknowledging by at most this much (for all workers together).

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
    max_ack_pending: int | None = None
    _conn: _Connection = attrs.field(init=False, repr=False)
    #: Stream sequence -> the ack subject of its latest delivery (a plain string, so the
    #: messages themselves are not kept alive for the garbage collector to scan).
    _unacked: dict[int, str] = attrs.field(factory=dict, init=False, repr=False)
    _inflight: deque[tuple[str, list[int]]] = attrs.field(factory=deque, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.stream or not self.durable:
            msg = "NatsJetStreamSource needs a stream and a durable consumer name"
            raise ConfigurationError(msg)
        if self.batch_size < 1:
            msg = f"NatsJetStreamSource batch_size must be at least 1, got {self.batch_size}"
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

    def _refuse(self, why: str) -> FetchError:
        return FetchError(
            f"NATS stream {self.stream!r}, durable consumer {self.durable!r}: {why}",
            source=self.name,
            retryable=False,
        )

    async def _consumer(self, js: Any) -> None:
        """Create the durable consumer if missing; check an existing one fits."""
        n = _nats()
        api = n.js.api
        try:
            info = await js.consumer_info(self.stream, self.durable)
        except n.js.errors.NotFoundError:
            pending = self.max_ack_pending or max(1000, 4 * self.batch_size)
            config = api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                filter_subject=self.subject,
                max_ack_pending=pending,
            )
            try:
                info = await js.add_consumer(self.stream, config)
            except n.js.errors.BadRequestError:  # created concurrently, differently
                info = await js.consumer_info(self.stream, self.durable)
        config = info.config
        if config.deliver_subject:
            raise self._refuse("is a push consumer; the source needs a pull consumer")
        if config.ack_policy != api.AckPolicy.EXPLICIT:
            policy = getattr(config.ack_policy, "value", config.ack_policy)
            raise self._refuse(
                f"acknowledges with policy {policy!r}; the source needs 'explicit' "
                "(delete the consumer or pick another durable name)"
            )
        if self.subject and config.filter_subject not in (None, self.subject):
            raise self._refuse(
                f"filters {config.filter_subject!r}, not {self.subject!r} "
                "(delete the consumer or pick another durable name)"
            )

    def _page(self, msgs: list[nats.aio.msg.Msg]) -> Page | None:
        items: list[Post | Malformed] = []
        seqs: list[int] = []
        unacked = self._unacked
        name = self.name
        for msg in msgs:
            seq = _stream_sequence(msg)
            fresh = seq not in unacked
            unacked[seq] = msg.reply  # a redelivery's reply subject acks it as well
            if fresh:
                seqs.append(seq)
                items.append(decode(msg.data, source=name, where=f"message {seq}"))
        if not seqs:
            return None
        cursor = dump_cursor(seqs)
        self._inflight.append((cursor, seqs))
        return make_page(items, seqs, cursor=cursor)

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of messages from the durable consumer.

        *cursor* is not needed (the consumer remembers the position).

        Raises:
            FetchError: NATS failed; retryable on connection loss and timeouts, permanent when
                the stream does not exist or the durable consumer does not fit (not a pull
                consumer with explicit acks, or another subject filter).
        """
        n = _nats()
        what = "creating the consumer"
        sub = None
        wait = self.max_wait if follow else self.idle
        try:
            nc = await self._conn.get()
            await self._consumer(nc.jetstream())
            what = "fetching messages"
            puller = _Puller(
                nc, f"{_NEXT}.{self.stream}.{self.durable}", nc.new_inbox(), self.batch_size
            )
            sub = await nc.subscribe(puller.inbox, cb=puller.on_message)
            await puller.ask(wait)
            while True:
                msgs = await puller.answer(wait)
                if puller.problem is not None:
                    raise FetchError(
                        f"NATS stream {self.stream!r}, durable consumer {self.durable!r}: "
                        f"pull request refused: {puller.problem}",
                        source=self.name,
                        retryable=not puller.lasting,
                    )
                if not msgs and not follow:
                    return
                await puller.ask(wait)  # JetStream sends it while this page is handled
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
                    await self._give_back(puller)
                    await sub.unsubscribe()

    async def _give_back(self, puller: _Puller) -> None:
        """
        Hand back what the last pull request brought and no page holds (``nak``: JetStream
        redelivers it at once, not after *ack_wait*). Best effort: what is still on its way
        comes back after *ack_wait*.
        """
        n = _nats()
        try:
            with anyio.move_on_after(_SETTLE):  # a request with messages ready ends at once
                await puller.ended()
            unseen = [m for m in puller.answer_now() if _stream_sequence(m) not in self._unacked]
            for msg in unseen:
                await msg.nak()
        except (n.errors.Error, TimeoutError, OSError):
            pass  # the connection is gone: JetStream redelivers after ack_wait anyway

    def _through(self, cursor: str) -> list[int]:
        """The sequences of the page named by *cursor* and of every page before it."""
        inflight = self._inflight
        if any(c == cursor for c, _ in inflight):
            seqs: list[int] = []
            while inflight:
                c, page = inflight.popleft()
                seqs.extend(page)
                if c == cursor:
                    return seqs
        return [s for s in load_cursor(cursor) if isinstance(s, int)]

    async def commit(self, cursor: str, /) -> None:
        """
        Acknowledge the messages of the page named by *cursor* and of every earlier page;
        return once JetStream has processed the acks.

        Raises:
            FetchError: The acks could not be sent; the messages are redelivered after
                *ack_wait*.
        """
        n = _nats()
        unacked = self._unacked
        replies = [r for s in self._through(cursor) if (r := unacked.pop(s, None)) is not None]
        if not replies:
            return
        try:
            nc = await self._conn.get()
            for reply in replies[:-1]:
                await nc.publish(reply)  # what Msg.ack() sends: an empty message
            # The last ack asks for an answer (Msg.ack_sync()): JetStream gives it once it
            # has processed that ack, and so every ack before it.
            await nc.request(replies[-1], b"", timeout=5)
        except (n.errors.Error, TimeoutError, OSError) as exc:
            raise self._error(exc, "acknowledging messages") from exc

    async def aclose(self) -> None:
        """Close the connection the source opened; unacknowledged messages are redelivered."""
        self._unacked.clear()
        self._inflight.clear()
        await self._conn.close()
