"""
The Bluesky XRPC source: searchPosts, getAuthorFeed, listNotifications and getFeed with
cursor paging, one sub-cursor (a time watermark and the URIs seen at it) per listing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import httpx

from ..._client import ClientOwner
from ..._http import RetryPolicy
from ..._pacing import Budget, budget_for
from ...exceptions import ConfigurationError, DecodeError, FetchError
from ...model import Malformed, Page, Post
from .._web import (
    BadBody,
    SeenKeys,
    dump_cursor,
    expect,
    load_cursor,
    request_json,
)
from ._convert import maybe_post
from ._feed import Feed
from ._session import Session


__all__ = ["BlueskySource"]

log = logging.getLogger("socialplug.sources.bluesky")


def _feeds(value: Feed | Iterable[Feed]) -> tuple[Feed, ...]:
    return (value,) if isinstance(value, Feed) else tuple(value)


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _stamp(item: Any) -> tuple[str, datetime] | None:
    """(identity, time) of a listed item, for watermarks; ``None`` if it has neither."""
    if not isinstance(item, Mapping):
        return None
    reason = item.get("reason")
    if isinstance(reason, Mapping) and isinstance(item.get("post"), Mapping):  # a repost
        when = _when(reason.get("indexedAt"))
        uri = (
            reason.get("uri")
            or f"{item['post'].get('uri')}#repost:{reason.get('by', {}).get('did')}"
        )
        return (str(uri), when) if when else None
    post = item.get("post")
    view: Mapping[str, Any] = post if isinstance(post, Mapping) else item
    when = _when(view.get("indexedAt"))
    uri = view.get("uri")
    return (uri, when) if isinstance(uri, str) and when else None


@attrs.define(eq=False)
class _Sub:
    feed: Feed
    key: str
    mark: datetime | None = None
    seen: list[str] = attrs.Factory(list)
    # Stretches of the listing still to read, below what was emitted: each the listing's
    # cursor to go on from and the time to stop at ({"c": cursor, "f": ISO time}).
    gaps: list[dict[str, str]] = attrs.Factory(list)

    def state(self) -> dict[str, Any] | None:
        if self.mark is None and not self.gaps:
            return None
        out: dict[str, Any] = {"seen": self.seen[-200:]}
        if self.mark is not None:
            out["t"] = self.mark.isoformat()
        if self.gaps:
            out["gaps"] = [dict(g) for g in self.gaps]
        return out


@attrs.define(eq=False, kw_only=True)
class BlueskySource(ClientOwner):
    """
    Read posts from Bluesky listings: search, author feeds, notifications, custom feeds.

    XRPC listings page from the newest item backwards. Each listing keeps a watermark (the
    newest ``indexedAt`` read) and the URIs read near it; a run pages back until it reaches
    the watermark (minus *skew*, for late indexing), then emits what is new oldest first, so
    the cursor after each page covers everything before it. A first run reads the newest page,
    or, with *since*, everything from that date on. Of a listing with more than *max_pages*
    new pages, the newest *max_pages* are emitted so first; the rest below them is a gap,
    which the cursor keeps until it is read, one page at a time (each oldest first, the pages
    newest first): a long pause or backfill loses nothing and holds at most *max_pages* pages
    in memory.

    Args:
        feeds: What to read (:class:`Feed`).
        service: The XRPC service: the public AppView (``https://public.api.bsky.app``,
            anonymous) or a PDS (which proxies ``app.bsky.*`` to its AppView).
        handle: Log in as this account (needed for notifications and some searches).
        app_password: Its app password (never logged or shown).
        since: Backfill from this date on a first run.
        poll_interval: Seconds between polls with ``follow=True``.
        page_size: Items per request (1..100).
        max_pages: Pages read back at a time per listing; bounds memory after a long pause.
        skew: Seconds of indexing delay tolerated below the watermark.
        client: Send requests with this client. *You* own it; if omitted, the source
            creates one on first use and closes it in :meth:`aclose`.
        retry: How to retry failed requests.
        sleep: Awaitable sleep, injectable for tests.
        pacing: Returns the shared request budget of a (host, credential).
        name: Stable name; defaults to one derived from the service and listings.
    """

    feeds: tuple[Feed, ...] = attrs.field(converter=_feeds)
    service: str = "https://public.api.bsky.app"
    handle: str | None = None
    app_password: str | None = attrs.field(default=None, repr=False)
    since: datetime | None = None
    poll_interval: float = 60.0
    page_size: int = 50
    max_pages: int = 20
    skew: float = 60.0
    client: httpx.AsyncClient | None = None
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(default=anyio.sleep, repr=False)
    pacing: Callable[[str, str | None], Budget] = attrs.field(default=budget_for, repr=False)
    name: str = attrs.field()
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)
    _session: Session | None = attrs.field(default=None, init=False, repr=False)
    _seen: SeenKeys = attrs.field(factory=SeenKeys, init=False, repr=False)

    @name.default
    def _default_name(self) -> str:
        host = httpx.URL(self.service).host
        return f"bluesky:{host}/" + ",".join(f.key for f in self.feeds)

    def __attrs_post_init__(self) -> None:
        self.service = self.service.rstrip("/")
        if not self.feeds:
            raise ConfigurationError(f"{self.name}: needs at least one feed")
        if (self.handle is None) != (self.app_password is None):
            raise ConfigurationError(f"{self.name}: give both handle and app_password, or none")
        if any(f.kind == "notifications" for f in self.feeds) and self.handle is None:
            raise ConfigurationError(f"{self.name}: notifications need handle and app_password")
        if not 1 <= self.page_size <= 100:
            raise ConfigurationError(f"{self.name}: page_size must be 1..100")
        if self.handle is not None and self.app_password is not None:
            self._session = Session(
                service=self.service,
                identifier=self.handle,
                password=self.app_password,
                source=self.name,
            )

    @property
    def _host(self) -> str:
        return httpx.URL(self.service).netloc.decode()

    def _budget(self) -> Budget:
        return self.pacing(self._host, self.handle)

    async def _xrpc(self, feed: Feed, params: list[tuple[str, str]]) -> dict[str, Any]:
        """GET one page of *feed*; refresh the session once if the token was refused."""
        stale: str | None = None
        for attempt in range(2):
            headers: dict[str, str] = {}
            if self._session is not None:
                headers = await self._session.headers(
                    self._get_client(),
                    budget=self._budget(),
                    retry=self.retry,
                    sleep=self.sleep,
                    stale=stale,
                )
            try:
                _, data = await request_json(
                    self._get_client(),
                    "GET",
                    f"{self.service}/xrpc/{feed.method}",
                    params=[*feed.query(), *params],
                    headers=headers,
                    source=self.name,
                    server=self._host,
                    budget=self._budget(),
                    retry=self.retry,
                    sleep=self.sleep,
                )
            except FetchError as exc:
                expired = exc.status_code in (400, 401) and self._session is not None
                if expired and attempt == 0:
                    stale = self._session.token_of(headers) if self._session else None
                    continue
                raise
            expect(isinstance(data, dict), f"{feed.method} answer is not an object", data)
            return data  # type: ignore[no-any-return]
        raise AssertionError("unreachable")

    def _subs(self, cursor: str | None) -> list[_Sub]:
        positions = load_cursor(cursor, source=self.name, strict=False)
        subs = []
        for feed in self.feeds:
            sub = _Sub(feed, feed.key)
            state = positions.get(sub.key)
            if isinstance(state, dict):
                sub.mark = _when(state.get("t"))
                sub.seen = [u for u in state.get("seen") or () if isinstance(u, str)]
                sub.gaps = [
                    {"c": g["c"], "f": g["f"]}
                    for g in state.get("gaps") or ()
                    if isinstance(g, dict)
                    and isinstance(g.get("c"), str)
                    and _when(g.get("f")) is not None
                ]
            subs.append(sub)
        return subs

    async def _collect(
        self,
        sub: _Sub,
        cursor: str | None,
        floor: datetime | None,
        seen: Collection[str],
        *,
        pages: int,
    ) -> tuple[list[Any], list[Malformed], str | None]:
        """
        Page back from *cursor* (``None``: the newest item) until an item older than
        *floor* (``None``: read the newest page only), at most *pages* pages. Return the
        items not in *seen*, newest first, and the cursor to go on from if *floor* was not
        reached (else ``None``): after *pages* pages, or the cursor of a page whose
        body was bad (to try again).
        """
        fresh: list[Any] = []
        malformed: list[Malformed] = []
        for _ in range(pages):
            params = [("limit", str(self.page_size))]
            if cursor:
                params.append(("cursor", cursor))
            try:
                data = await self._xrpc(sub.feed, params)
                items = data.get(sub.feed.field)
                expect(isinstance(items, list), f"no {sub.feed.field} list", data)
            except BadBody as exc:
                malformed.append(
                    Malformed(
                        reason=f"{self._host}: {exc.reason}", payload=exc.payload, source=self.name
                    )
                )
                return fresh, malformed, cursor
            assert isinstance(items, list)
            reached = False
            for item in items:
                stamp = _stamp(item)
                if stamp is None:
                    malformed.append(
                        Malformed(
                            reason=f"{self._host}: {sub.feed.method} item without uri or time",
                            payload=json.dumps(item, ensure_ascii=False),
                            source=self.name,
                        )
                    )
                    continue
                uri, when = stamp
                if floor is not None and when < floor:
                    reached = True
                    break
                if uri not in seen:
                    fresh.append(item)
            cursor = data.get("cursor") if isinstance(data.get("cursor"), str) else None
            if reached or not cursor or not items or floor is None:
                return fresh, malformed, None
        return fresh, malformed, cursor

    def _emit_pages(
        self,
        sub: _Sub,
        fresh: list[Any],
        position: Callable[[], str],
        *,
        gap: dict[str, str] | None = None,
        rest: str | None = None,
    ) -> Iterator[Page]:
        """
        Emit *fresh* (newest first) oldest first, in pages. For items read in *gap*, move
        the gap on to *rest* (or close it) with the last page, so that its cursor covers
        them; such a page is emitted even when there is nothing else in it.
        """
        fresh.reverse()
        starts = range(0, len(fresh), self.page_size)
        if gap is not None and not starts:
            starts = range(1)
        for start in starts:
            if gap is not None and start == starts[-1]:
                if rest is None:
                    sub.gaps.remove(gap)
                else:
                    gap["c"] = rest
            posts, malformed = self._emit(
                sub, fresh[start : start + self.page_size], below=gap is not None
            )
            yield Page(posts=tuple(posts), malformed=tuple(malformed), cursor=position())

    async def _fill_gaps(
        self, sub: _Sub, seen: Collection[str], position: Callable[[], str]
    ) -> AsyncIterator[Page]:
        """
        Read *sub*'s gaps, the newest first, one listing page at a time, each emitted with
        its gap moved on past it, so that a restart repeats at most the page in flight.
        """
        while sub.gaps:
            gap = sub.gaps[-1]
            fresh, bad, rest = await self._collect(sub, gap["c"], _when(gap["f"]), seen, pages=1)
            if bad:
                yield Page(malformed=tuple(bad), cursor=None)
            for page in self._emit_pages(sub, fresh, position, gap=gap, rest=rest):
                yield page
            if bad:
                return  # a bad body: try the rest of the gap on the next poll

    def _emit(
        self, sub: _Sub, items: list[Any], *, below: bool = False
    ) -> tuple[list[Post], list[Malformed]]:
        """Map *items*; unless they are *below* the watermark (a gap), advance it."""
        posts: list[Post] = []
        malformed: list[Malformed] = []
        for item in items:
            stamp = _stamp(item)
            assert stamp is not None
            uri, when = stamp
            if not below:
                if sub.mark is None or when > sub.mark:
                    sub.mark = when
                    sub.seen = [s for s in sub.seen if s != uri]
                sub.seen.append(uri)
            if sub.feed.reasons and item.get("reason") not in sub.feed.reasons:
                continue
            try:
                post = maybe_post(item, source=self.name)
            except DecodeError as exc:
                malformed.append(
                    Malformed(
                        reason=str(exc),
                        payload=json.dumps(item, ensure_ascii=False),
                        source=self.name,
                    )
                )
                continue
            if post is not None and self._seen.add(post.key):
                posts.append(post)
        floor = sub.mark - timedelta(seconds=self.skew) if sub.mark else None
        if floor is not None and len(sub.seen) > 200:
            sub.seen = sub.seen[-200:]
        return posts, malformed

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """Yield pages from *cursor* on; see the class documentation."""
        self._seen = SeenKeys()  # repeats are dropped within a run, never across runs
        subs = self._subs(cursor)

        def position() -> str:
            return dump_cursor({s.key: s.state() for s in subs if s.state() is not None})

        since = self.since.astimezone(UTC) if self.since else None
        while True:
            for sub in subs:
                floor = sub.mark - timedelta(seconds=self.skew) if sub.mark else since
                seen = set(sub.seen)
                fresh, bad, rest = await self._collect(
                    sub, None, floor, seen, pages=self.max_pages
                )
                if bad:
                    yield Page(malformed=tuple(bad), cursor=None)
                if rest is not None and floor is not None:
                    # More new pages than max_pages: emit these, and read the rest down to
                    # the floor as a gap below them (kept in the cursor until it is read).
                    log.info(
                        "%s: %s has more than %d new pages", self.name, sub.key, self.max_pages
                    )
                    sub.gaps.append({"c": rest, "f": floor.isoformat()})
                for page in self._emit_pages(sub, fresh, position):
                    yield page
                async for page in self._fill_gaps(sub, seen, position):
                    yield page
            if not follow:
                return
            await self.sleep(self.poll_interval)
