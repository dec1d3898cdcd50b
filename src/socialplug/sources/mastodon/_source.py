"""
The Mastodon source: REST timelines with ``Link``/``min_id`` paging, fan-out over servers and
timelines with one sub-cursor each, backfill to a date, and server-sent-event streams with
reconnect and REST catch-up.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import attrs
import httpx

from ... import _fastjson, _http
from ..._client import ClientOwner
from ..._http import RetryPolicy
from ..._pacing import Budget, budget_for
from ...exceptions import (
    AuthenticationError,
    ConfigurationError,
    DecodeError,
    FetchError,
    MissingExtraError,
    SocialplugError,
)
from ...model import Malformed, Page, Post
from .._web import (
    Backoff,
    BadBody,
    SeenKeys,
    dump_cursor,
    expect,
    load_cursor,
    parse_link_header,
    request_json,
)
from ._convert import notification_to_post, to_post
from ._timeline import Timeline


__all__ = ["MastodonSource"]

log = logging.getLogger("socialplug.sources.mastodon")

_STREAM_EVENTS = frozenset({"update", "status.update", "delete", "notification"})


def _servers(value: str | Iterable[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    out = []
    for item in items:
        base = item.rstrip("/")
        if "//" not in base:
            base = f"https://{base}"
        out.append(base)
    return tuple(out)


def _timelines(value: Timeline | Iterable[Timeline]) -> tuple[Timeline, ...]:
    return (value,) if isinstance(value, Timeline) else tuple(value)


def _newer(a: str, b: str | None) -> bool:
    """Whether Mastodon id *a* is newer than *b* (ids are decimal strings of any length)."""
    if b is None:
        return True
    return (len(a), a) > (len(b), b)


def _page_param(link_url: str | None, name: str) -> str | None:
    if not link_url:
        return None
    values = parse_qs(urlsplit(link_url).query).get(name)
    return values[0] if values else None


@attrs.define(eq=False)
class _Sub:
    """One (server, timeline) pair and its position."""

    base: str
    host: str
    timeline: Timeline
    key: str
    last: str | None = None


@attrs.define(eq=False)
class _Chunk:
    sub: str
    posts: list[Post]
    malformed: list[Malformed]
    last: str | None


@attrs.define(eq=False, kw_only=True)
class MastodonSource(ClientOwner):
    """
    Read statuses from Mastodon timelines on one or several servers.

    Every (server, timeline) pair keeps its own position (the newest id read); the source's
    cursor is a JSON object of these sub-cursors, so adding a server or a timeline later
    starts only that one afresh. A status seen through several servers is one post: its
    :attr:`~socialplug.model.Post.key` is its ActivityPub ``uri``, and repeats within a run
    are dropped.

    A first run (no cursor) reads the newest page of each timeline, or, with *since*, every
    status from that date on, oldest first. Later runs read what is newer than the cursor.
    With ``follow=True`` the source then streams (server-sent events) where the timeline has a
    stream and *streaming* is on, or polls every *poll_interval* seconds. After every
    (re)connect of a stream it first catches up over REST from the last id it saw, so a
    dropped connection loses nothing.

    Args:
        servers: Base URLs (or host names) of the servers.
        timelines: What to read on each server (:class:`Timeline`).
        token: Access token used on every server (never logged or shown).
        tokens: Per-host tokens, overriding *token*.
        since: Backfill from this date on a first run.
        streaming: Use the streaming API in follow mode.
        poll_interval: Seconds between polls when not streaming.
        page_size: Statuses per request (Mastodon allows up to 40).
        client: Send requests with this client. *You* own it; if omitted, the source
            creates one on first use and closes it in :meth:`aclose`.
        retry: How to retry failed requests.
        stream_timeout: Seconds without a byte (heartbeats included) before a stream is
            considered dead and reconnected.
        reconnect_initial: First reconnect delay in seconds (doubles up to *reconnect_max*).
        reconnect_max: Longest reconnect delay.
        sleep: Awaitable sleep, injectable for tests.
        pacing: Returns the shared request budget of a (host, token); the default shares
            one budget per host and token across every source of the process.
        name: Stable name; defaults to one derived from servers and timelines.
    """

    servers: tuple[str, ...] = attrs.field(converter=_servers)
    timelines: tuple[Timeline, ...] = attrs.field(converter=_timelines)
    token: str | None = attrs.field(default=None, repr=False)
    tokens: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    since: datetime | None = None
    streaming: bool = True
    poll_interval: float = 30.0
    page_size: int = 40
    client: httpx.AsyncClient | None = None
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    stream_timeout: float = 90.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = attrs.field(default=anyio.sleep, repr=False)
    pacing: Callable[[str, str | None], Budget] = attrs.field(default=budget_for, repr=False)
    name: str = attrs.field()
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)
    _seen: SeenKeys = attrs.field(factory=SeenKeys, init=False, repr=False)
    _uris: OrderedDict[tuple[str, str], str] = attrs.field(
        factory=OrderedDict, init=False, repr=False
    )

    @name.default
    def _default_name(self) -> str:
        hosts = ",".join(urlsplit(s).netloc for s in self.servers)
        return f"mastodon:{hosts}/" + ",".join(t.key for t in self.timelines)

    def __attrs_post_init__(self) -> None:
        if not self.servers or not self.timelines:
            raise ConfigurationError(f"{self.name}: needs at least one server and one timeline")
        if not 1 <= self.page_size <= 40:
            raise ConfigurationError(f"{self.name}: page_size must be 1..40")

    # -- plumbing -------------------------------------------------------------------------

    def _token(self, host: str) -> str | None:
        return self.tokens.get(host, self.token)

    def _headers(self, host: str) -> dict[str, str]:
        token = self._token(host)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _subs(self, cursor: str | None) -> list[_Sub]:
        positions = load_cursor(cursor, source=self.name, strict=False)
        subs = []
        for base in self.servers:
            host = urlsplit(base).netloc
            for timeline in self.timelines:
                key = f"{host}/{timeline.key}"
                last = positions.get(key)
                subs.append(
                    _Sub(base, host, timeline, key, last if isinstance(last, str) else None)
                )
        return subs

    async def _get(self, sub: _Sub, params: list[tuple[str, str]]) -> tuple[list[Any], str]:
        """One REST request; return the items (newest first) and the ``Link`` header."""
        response, data = await request_json(
            self._get_client(),
            "GET",
            sub.base + sub.timeline.path,
            params=[*sub.timeline.params(), *params],
            headers=self._headers(sub.host),
            source=self.name,
            server=sub.host,
            budget=self.pacing(sub.host, self._token(sub.host)),
            retry=self.retry,
            sleep=self.sleep,
        )
        if sub.timeline.kind == "search":
            expect(isinstance(data, dict), "search answer is not an object", data)
            data = data.get("statuses")
        expect(isinstance(data, list), "timeline answer is not a list", data)
        return data, response.headers.get("link", "")

    def _remember(self, host: str, sid: str, key: str) -> None:
        self._uris[host, sid] = key
        if len(self._uris) > 10_000:
            self._uris.popitem(last=False)

    def _decode(
        self, sub: _Sub, item: Any, event: str = "update"
    ) -> tuple[Post | None, Malformed | None, str | None]:
        """Map one item; return (post or None, malformed or None, item id or None)."""
        try:
            if sub.timeline.kind == "notifications" or event == "notification":
                post = notification_to_post(item, server=sub.host, source=self.name)
                item_id = str(item["id"])
            else:
                post = to_post(
                    item,
                    server=sub.host,
                    source=self.name,
                    event="update" if event == "status.update" else "create",
                )
                item_id = post.id
        except (DecodeError, KeyError, TypeError) as exc:
            payload = json.dumps(item, ensure_ascii=False) if not isinstance(item, str) else item
            return None, Malformed(reason=str(exc), payload=payload, source=self.name), None
        if post is not None:
            self._remember(sub.host, post.id, post.key.split("#", 1)[0])
            if post.event == "create" and not self._seen.add(post.key):
                post = None  # the same status through another server or timeline
        return post, None, item_id

    def _chunk(self, sub: _Sub, items: Iterable[Any]) -> _Chunk:
        """Map items given oldest first; advance the sub-cursor past them."""
        posts: list[Post] = []
        malformed: list[Malformed] = []
        for item in items:
            post, bad, item_id = self._decode(sub, item)
            if bad is not None:
                malformed.append(bad)
            if post is not None:
                posts.append(post)
            if item_id is not None and _newer(item_id, sub.last):
                sub.last = item_id
        return _Chunk(sub.key, posts, malformed, sub.last)

    def _bad(self, sub: _Sub, exc: BadBody) -> _Chunk:
        bad = Malformed(reason=f"{sub.host}: {exc.reason}", payload=exc.payload, source=self.name)
        return _Chunk(sub.key, [], [bad], sub.last)

    # -- REST -----------------------------------------------------------------------------

    async def _start_id(self, sub: _Sub, since: datetime) -> str:
        """Walk back from the newest status to the last one older than *since*."""
        params: list[tuple[str, str]] = [("limit", str(self.page_size))]
        while True:
            items, link = await self._get(sub, params)
            if not items:
                return "0"
            for item in items:  # newest first
                created = datetime.fromisoformat(item.get("created_at", "")).astimezone(UTC)
                if created < since:
                    return str(item["id"])
            oldest = str(items[-1]["id"])
            max_id = _page_param(_links(link).get("next"), "max_id") or oldest
            params = [("limit", str(self.page_size)), ("max_id", max_id)]

    async def _catch_up(self, sub: _Sub) -> AsyncIterator[_Chunk]:
        """Read everything newer than the sub's position, oldest first."""
        if sub.last is None:
            if self.since is None:
                try:
                    items, _ = await self._get(sub, [("limit", str(self.page_size))])
                except BadBody as exc:
                    yield self._bad(sub, exc)
                    return
                yield self._chunk(sub, reversed(items))
                if sub.last is None:
                    sub.last = "0"  # an empty timeline: read everything from now on
                return
            try:
                sub.last = await self._start_id(sub, self.since.astimezone(UTC))
            except BadBody as exc:
                yield self._bad(sub, exc)
                return
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                yield self._bad(sub, BadBody(f"cannot read dates while backfilling: {exc}", ""))
                return
        while True:
            assert sub.last is not None
            try:
                items, link = await self._get(
                    sub, [("limit", str(self.page_size)), ("min_id", sub.last)]
                )
            except BadBody as exc:
                yield self._bad(sub, exc)
                return
            if not items:
                return
            yield self._chunk(sub, reversed(items))
            prev = _page_param(_links(link).get("prev"), "min_id")
            if prev and _newer(prev, sub.last):
                sub.last = prev
            if len(items) < self.page_size:
                return

    # -- streaming ------------------------------------------------------------------------

    async def _stream(self, sub: _Sub, send: Callable[[_Chunk], Awaitable[None]]) -> None:
        """Stream *sub* forever: connect, catch up over REST, relay events; reconnect."""
        try:
            from httpx_sse import EventSource, SSEError  # noqa: PLC0415
        except ImportError as exc:
            raise MissingExtraError("httpx-sse", extra="mastodon") from exc
        spec = sub.timeline.stream()
        assert spec is not None
        path, stream_params = spec
        params: list[tuple[str, str | int | float | bool | None]] = list(stream_params)
        backoff = Backoff(self.reconnect_initial, self.reconnect_max)
        budget = self.pacing(sub.host, self._token(sub.host))
        timeout = httpx.Timeout(30.0, read=self.stream_timeout)
        while True:
            try:
                await budget.acquire()
                async with self._get_client().stream(
                    "GET",
                    sub.base + path,
                    params=params,
                    headers={**self._headers(sub.host), "Accept": "text/event-stream"},
                    timeout=timeout,
                ) as response:
                    budget.observe(response.headers, status=response.status_code)
                    if not response.is_success:
                        await response.aread()
                        raise _http.fetch_error(response, source=self.name, server=sub.host)
                    async for chunk in self._catch_up(sub):
                        await send(chunk)
                    backoff.reset()
                    async for sse in EventSource(response).aiter_sse():
                        event = self._event(sub, sse.event, sse.data)
                        if event is not None:
                            await send(event)
                log.info("%s: stream of %s ended; reconnecting", self.name, sub.key)
            except AuthenticationError:
                raise
            except FetchError as exc:
                if not exc.retryable:
                    raise
                log.warning("%s: stream of %s failed: %s", self.name, sub.key, exc)
            except (httpx.TransportError, SSEError) as exc:
                log.warning(
                    "%s: stream of %s dropped (%s)", self.name, sub.key, type(exc).__name__
                )
            await self.sleep(backoff.next_delay())

    def _event(self, sub: _Sub, event: str, data: str) -> _Chunk | None:
        kind = sub.timeline.kind
        if event not in _STREAM_EVENTS:
            return None
        if event == "delete":
            sid = data.strip()
            known = self._uris.get((sub.host, sid))
            if known is None:
                return None  # public streams announce every deletion; keep those we read
            key = f"{known}#delete"
            notice = Post(
                platform="mastodon",
                id=sid,
                key=key,
                created_at=datetime.now(UTC),
                event="delete",
                source=self.name,
                raw={"event": "delete", "id": sid, "server": sub.host},
            )
            return _Chunk(sub.key, [notice], [], sub.last)
        if (event == "notification") != (kind == "notifications"):
            return None  # the user stream carries both; each timeline takes its own
        try:
            item = _fastjson.loads(data)
        except ValueError as exc:
            bad = Malformed(
                reason=f"{sub.host}: {event} event is not JSON: {exc}",
                payload=data,
                source=self.name,
            )
            return _Chunk(sub.key, [], [bad], sub.last)
        post, problem, item_id = self._decode(sub, item, event)
        if item_id is not None and event != "status.update" and _newer(item_id, sub.last):
            sub.last = item_id
        return _Chunk(
            sub.key,
            [post] if post is not None else [],
            [problem] if problem is not None else [],
            sub.last,
        )

    async def _poll(self, sub: _Sub, send: Callable[[_Chunk], Awaitable[None]]) -> None:
        while True:
            async for chunk in self._catch_up(sub):
                await send(chunk)
            await self.sleep(self.poll_interval)

    # -- the Source protocol --------------------------------------------------------------

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """Yield pages from *cursor* on; see the class documentation."""
        self._seen = SeenKeys()  # repeats are dropped within a run, never across runs
        subs = self._subs(cursor)
        positions: dict[str, str] = {s.key: s.last for s in subs if s.last is not None}

        def page(chunks: list[_Chunk]) -> Page:
            posts: list[Post] = []
            malformed: list[Malformed] = []
            for chunk in chunks:
                posts += chunk.posts
                malformed += chunk.malformed
                if chunk.last is not None:
                    positions[chunk.sub] = chunk.last
            return Page(
                posts=tuple(posts),
                malformed=tuple(malformed),
                cursor=dump_cursor(positions),
            )

        if not follow or not self.streaming:
            while True:
                for sub in subs:
                    async for chunk in self._catch_up(sub):
                        yield page([chunk])
                    if sub.last is not None and positions.get(sub.key) != sub.last:
                        yield page([_Chunk(sub.key, [], [], sub.last)])  # e.g. still empty
                if not follow:
                    return
                await self.sleep(self.poll_interval)

        if any(sub.timeline.stream() is not None for sub in subs):
            try:
                import httpx_sse  # noqa: F401, PLC0415
            except ImportError as exc:
                raise MissingExtraError("httpx-sse", extra="mastodon") from exc
        send, receive = anyio.create_memory_object_stream[_Chunk](64)
        try:
            async with anyio.create_task_group() as tg:
                for sub in subs:
                    runner = self._stream if sub.timeline.stream() is not None else self._poll
                    tg.start_soon(_run, runner, sub, send.clone())
                send.close()
                async with receive:
                    async for first in receive:
                        chunks = [first]
                        while len(chunks) < 256:
                            try:
                                chunks.append(receive.receive_nowait())
                            except anyio.WouldBlock:
                                break
                        yield page(chunks)
        except BaseExceptionGroup as group:
            # A failing stream (refused credentials, say) surfaces as itself, not wrapped.
            error = _first_error(group)
            if error is None:
                raise
            raise error from group


def _links(header: str) -> dict[str, str]:
    return parse_link_header(header)


def _first_error(group: BaseExceptionGroup[BaseException]) -> SocialplugError | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first_error(exc)
            if found is not None:
                return found
        elif isinstance(exc, SocialplugError):
            return exc
    return None


async def _run(
    runner: Callable[[_Sub, Callable[[_Chunk], Awaitable[None]]], Awaitable[None]],
    sub: _Sub,
    send: anyio.abc.ObjectSendStream[_Chunk],
) -> None:
    async with send:
        await runner(sub, send.send)
