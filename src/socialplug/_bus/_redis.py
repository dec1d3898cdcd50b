"""
Redis Streams: :class:`RedisStreamSink` appends with ``XADD``; :class:`RedisStreamSource` reads
through a consumer group (``XREADGROUP``), acknowledges with ``XACK`` once the pipeline handled
a page, and takes over what a dead consumer left pending with ``XAUTOCLAIM``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..exceptions import ConfigurationError, DeliveryError, FetchError, MissingExtraError
from ..model import Delivery, Malformed, Page, Post
from ..pipeline import SinkPolicy
from ._codec import DELIVERY_KEY, ITEM_KEY, ROUTE, decode, encode, load_cursor, make_page


if TYPE_CHECKING:
    import redis.asyncio


__all__ = ["RedisStreamSink", "RedisStreamSource"]

_DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"
# Replies that mean "the server cannot take it right now" rather than "this is wrong".
_TRANSIENT: Final = ("OOM", "LOADING", "BUSY", "TRYAGAIN", "READONLY", "MASTERDOWN", "CLUSTERDOWN")


def _redis() -> Any:
    try:
        import redis.asyncio  # noqa: PLC0415  (optional extra, imported on first use)
    except ImportError as exc:
        raise MissingExtraError("redis", extra="redis") from exc
    return redis


def _retryable(exc: Exception) -> bool:
    r = _redis()
    if isinstance(exc, r.ConnectionError | r.TimeoutError):
        return True
    return isinstance(exc, r.ResponseError) and str(exc).startswith(_TRANSIENT)


@attrs.define(eq=False)
class _Client:
    """A lazily opened client, or an injected one that is never closed here."""

    url: str = attrs.field(repr=False)
    injected: redis.asyncio.Redis | None = attrs.field(repr=False)
    socket_timeout: float = 5.0
    _owned: redis.asyncio.Redis | None = attrs.field(default=None, init=False, repr=False)

    def get(self) -> redis.asyncio.Redis:
        if self.injected is not None:
            return self.injected
        if self._owned is None:
            self._owned = _redis().asyncio.Redis.from_url(
                self.url, socket_timeout=self.socket_timeout
            )
        return self._owned

    async def close(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.aclose()


@attrs.define(eq=False)
class RedisStreamSink:
    """
    Append each delivery to a Redis stream with ``XADD``, one pipelined round trip per batch.

    An entry's fields are ``item`` (the post as JSON), ``socialplug-key`` (the item key),
    ``socialplug-delivery-key`` and ``socialplug-route``. Redis assigns entry ids and has no
    dedupe, so the sink is not :attr:`idempotent`: the runtime's seen-keys keep replays out.

    Args:
        stream: The stream key.
        url: ``redis://[user:password@]host:port/db``; never logged.
        client: A ``redis.asyncio.Redis`` to use instead (the caller owns it).
        maxlen: Trim the stream to about this many entries on every append (``XADD MAXLEN
            ~``); ``None`` keeps everything. Entries trimmed before a consumer group read them
            are lost to it.

    .. versionadded:: 0.1.0
    """

    stream: str
    url: str = attrs.field(default=_DEFAULT_URL, repr=False)
    client: redis.asyncio.Redis | None = attrs.field(default=None, repr=False)
    maxlen: int | None = 1_000_000
    _conn: _Client = attrs.field(init=False, repr=False)

    idempotent: ClassVar[bool] = False
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=500, batch_wait=0.05)

    def __attrs_post_init__(self) -> None:
        if not self.stream:
            msg = "RedisStreamSink needs a stream name"
            raise ConfigurationError(msg)
        self._conn = _Client(url=self.url, injected=self.client)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Append *batch* in one pipeline.

        Raises:
            DeliveryError: Retryable on connection loss, timeouts and a server that is
                loading, out of memory or read-only; permanent otherwise (e.g. the key holds
                another type).
        """
        if not batch:
            return
        r = _redis()
        try:
            pipe = self._conn.get().pipeline(transaction=False)
            for d in batch:
                fields = {
                    "item": encode(d),
                    ITEM_KEY: d.item.key,
                    DELIVERY_KEY: d.key,
                    ROUTE: d.route,
                }
                pipe.xadd(
                    self.stream,
                    fields,  # type: ignore[arg-type]
                    maxlen=self.maxlen,
                    approximate=True,
                )
            results = await pipe.execute(raise_on_error=True)
        except r.RedisError as exc:
            if isinstance(exc, r.ConnectionError):
                await self._conn.close()
            raise DeliveryError(
                f"Redis stream {self.stream!r}: {type(exc).__name__}: {exc}",
                retryable=_retryable(exc),
            ) from exc
        if len(results) != len(batch):  # pragma: no cover - a server bug, not a code path
            msg = f"Redis stream {self.stream!r}: {len(results)} replies for {len(batch)}"
            raise DeliveryError(msg, retryable=True)

    async def aclose(self) -> None:
        """Close the connection pool the sink opened (not an injected client)."""
        await self._conn.close()


def _item(fields: dict[Any, Any]) -> Any:
    item = fields.get(b"item")
    return fields.get("item") if item is None else item  # a client decoding responses


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@attrs.define(eq=False)
class RedisStreamSource:
    """
    Read posts from a Redis stream through a consumer group.

    On start, the source re-reads what this *consumer* had read but not acknowledged before
    (its pending entries: a restart after a crash resumes exactly there), then takes entries
    that other consumers of the group left pending for at least *claim_idle* seconds
    (``XAUTOCLAIM``: a consumer that died for good), then reads new entries. In follow mode it
    repeats the claim every *claim_idle* seconds. An entry is acknowledged (``XACK``) only
    when the runtime calls :meth:`commit` with its page's cursor, i.e. once every post of the
    page was delivered, filtered out or dead-lettered.

    Several processes share the work by using the same *group* and different *consumer*
    names; a consumer name must be stable across restarts of the same worker.

    Args:
        stream: The stream key.
        group: The consumer group, created (with the stream) if missing.
        consumer: This consumer's name within the group.
        url, client: As for :class:`RedisStreamSink`.
        start: Where a new group starts: ``"0"`` (the whole stream) or ``"$"`` (new entries).
        batch_size: Entries per page.
        block: Seconds a read waits for new entries in follow mode. An injected *client*
            needs a ``socket_timeout`` longer than this.
        claim_idle: Seconds an entry must be pending elsewhere before it is claimed.

    .. versionadded:: 0.1.0
    """

    stream: str
    group: str = "socialplug"
    consumer: str = "socialplug"
    url: str = attrs.field(default=_DEFAULT_URL, repr=False)
    client: redis.asyncio.Redis | None = attrs.field(default=None, repr=False)
    start: str = "0"
    batch_size: int = 500
    block: float = 2.0
    claim_idle: float = 60.0
    _conn: _Client = attrs.field(init=False, repr=False)
    _inflight: set[str] = attrs.field(factory=set, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.stream or not self.group or not self.consumer:
            msg = "RedisStreamSource needs a stream, a group and a consumer name"
            raise ConfigurationError(msg)
        # A blocking read must not outlast the socket timeout.
        self._conn = _Client(url=self.url, injected=self.client, socket_timeout=self.block + 5)

    @property
    def name(self) -> str:
        """``redis:<stream>:<group>``."""
        return f"redis:{self.stream}:{self.group}"

    def _error(self, exc: Exception, what: str) -> FetchError:
        return FetchError(
            f"Redis stream {self.stream!r}, {what}: {type(exc).__name__}: {exc}",
            source=self.name,
            retryable=_retryable(exc),
        )

    async def _ensure_group(self, client: redis.asyncio.Redis) -> None:
        r = _redis()
        try:
            await client.xgroup_create(self.stream, self.group, id=self.start, mkstream=True)
        except r.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _page(self, entries: list[Any]) -> Page | None:
        items: list[Post | Malformed] = []
        ids: list[str] = []
        for entry_id, fields in entries:
            eid = _text(entry_id)
            if eid in self._inflight:
                continue
            ids.append(eid)
            self._inflight.add(eid)
            where = f"entry {eid}"
            if not fields:
                reason = f"{where}: trimmed from the stream before it was acknowledged"
                items.append(Malformed(reason=reason, payload="", source=self.name))
            else:
                items.append(decode(_item(fields), source=self.name, where=where))
        return make_page(items, ids) if ids else None

    async def _claim(self, client: redis.asyncio.Redis) -> AsyncIterator[Page]:
        start = "0-0"
        idle_ms = int(self.claim_idle * 1000)
        reply: Any
        while True:
            reply = await client.xautoclaim(
                self.stream, self.group, self.consumer, idle_ms, start, count=self.batch_size
            )
            start, entries = _text(reply[0]), reply[1]
            page = self._page(entries)
            if page is not None:
                yield page
            if start == "0-0":
                return

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of entries: this consumer's pending ones, claimed ones, then new ones.

        The group remembers the position; a *cursor* (the last page the runtime stored) is
        acknowledged first, in case the process died between storing it and :meth:`commit`.
        Each page's cursor is the JSON list of its entry ids, acknowledged by :meth:`commit`.

        Raises:
            FetchError: Redis failed; retryable on connection loss and timeouts.
        """
        r = _redis()
        client = self._conn.get()
        reply: Any
        what = "setting up the group"
        try:
            await self._ensure_group(client)
            if cursor:
                # The runtime stores a page's cursor before it calls commit(); if the process
                # died in between, acknowledge that handled page now. Entries this process
                # still has in flight (a restart after an error) are left to commit().
                what = "acknowledging the stored cursor"
                ids = [i for i in map(str, load_cursor(cursor)) if i not in self._inflight]
                if ids:
                    await client.xack(self.stream, self.group, *ids)
            what = "reading pending entries"
            last = "0"
            while True:
                reply = await client.xreadgroup(
                    self.group, self.consumer, {self.stream: last}, count=self.batch_size
                )
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                last = _text(entries[-1][0])
                page = self._page(entries)
                if page is not None:
                    yield page
            what = "claiming entries"
            async for page in self._claim(client):
                yield page
            claimed_at = time.monotonic()
            what = "reading new entries"
            while True:
                reply = await client.xreadgroup(
                    self.group,
                    self.consumer,
                    {self.stream: ">"},
                    count=self.batch_size,
                    block=int(self.block * 1000) if follow else None,
                )
                entries = reply[0][1] if reply else []
                page = self._page(entries)
                if page is not None:
                    yield page
                elif not follow:
                    return
                if follow and time.monotonic() - claimed_at >= self.claim_idle:
                    what = "claiming entries"
                    async for page in self._claim(client):
                        yield page
                    claimed_at = time.monotonic()
                    what = "reading new entries"
        except r.RedisError as exc:
            if isinstance(exc, r.ConnectionError):
                await self._conn.close()
            raise self._error(exc, what) from exc

    async def commit(self, cursor: str, /) -> None:
        """
        Acknowledge (``XACK``) the entries named by a page *cursor*.

        Raises:
            FetchError: Redis failed; the entries stay pending and are read again later.
        """
        ids = [str(i) for i in load_cursor(cursor)]
        if not ids:
            return
        r = _redis()
        try:
            await self._conn.get().xack(self.stream, self.group, *ids)
        except r.RedisError as exc:
            raise self._error(exc, "acknowledging entries") from exc
        self._inflight.difference_update(ids)

    async def aclose(self) -> None:
        """Close the connection pool the source opened; pending entries stay pending."""
        self._inflight.clear()
        await self._conn.close()
