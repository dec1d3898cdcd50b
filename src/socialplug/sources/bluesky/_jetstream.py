"""
The Jetstream source: Bluesky's JSON event stream over a websocket, with a microsecond
cursor, a few seconds of rewind on every (re)connect and dedupe of what the rewind repeats.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import anyio
import attrs

from ... import _fastjson
from ...exceptions import ConfigurationError, DecodeError, FetchError, MissingExtraError
from ...model import Malformed, Page, Post
from .._web import Backoff
from ._convert import POST, maybe_post


__all__ = ["JetstreamSource"]

log = logging.getLogger("socialplug.sources.bluesky")


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _event_key(event: dict[str, Any]) -> str:
    commit = event.get("commit")
    if isinstance(commit, dict):
        return (
            "/".join(str(commit.get(k, "")) for k in ("collection", "rkey", "rev", "operation"))
            + f"@{event.get('did')}"
        )
    return f"{event.get('kind')}@{event.get('did')}@{event.get('time_us')}"


class _RecentKeys:
    """
    Keys of the events read in the last few seconds, to drop what a rewind repeats.

    A rewind replays the events from a few seconds before the newest one read, so a key is
    kept only while its event is that recent: memory follows the event rate times the
    rewind, not the length of the run. *limit* caps it for a burst.
    """

    def __init__(self, window_us: int, limit: int = 200_000) -> None:
        self._window = window_us
        self._limit = limit
        self._keys: OrderedDict[str, int] = OrderedDict()  # key: time_us, oldest first

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, time_us: int) -> bool:
        """Remember *key*, read at *time_us*; return whether it is new."""
        keys = self._keys
        if key in keys:
            return False
        keys[key] = time_us
        horizon = time_us - self._window
        while len(keys) > self._limit or next(iter(keys.values())) < horizon:
            keys.popitem(last=False)
        return True


@attrs.define(eq=False, kw_only=True)
class JetstreamSource:
    """
    Follow Bluesky through Jetstream (``/subscribe``), posts by default.

    The cursor is the ``time_us`` of the last event read. Every (re)connect asks Jetstream
    for events from *rewind* seconds before it and drops the ones already read (by commit
    identity within a run, and those at or before the committed cursor after a restart), so
    a disconnect or restart loses nothing and repeats nothing. With ``follow=False`` the
    source reads until it reaches the time it started at (or nothing arrives for
    *idle_timeout* seconds) and stops.
    Needs the ``bluesky`` extra (``websockets``).

    Args:
        url: The Jetstream ``/subscribe`` endpoint.
        collections: ``wantedCollections`` (posts; add ``app.bsky.feed.repost`` for reposts).
        dids: ``wantedDids``: only these accounts (up to 10,000).
        since: On a first run, start at this date; otherwise start live.
        rewind: Seconds replayed on every (re)connect.
        batch_size: Most events per page.
        batch_window: Seconds to wait for more events before yielding a page.
        idle_timeout: ``follow=False``: stop after this many quiet seconds.
        stream_timeout: ``follow=True``: reconnect after this many quiet seconds.
        reconnect_initial: First reconnect delay (doubles up to *reconnect_max*).
        reconnect_max: Longest reconnect delay.
        sleep: Awaitable sleep, injectable for tests.
        name: Stable name; defaults to one derived from the URL and filters.
    """

    url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    collections: tuple[str, ...] = attrs.field(default=(POST,), converter=_strings)
    dids: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    since: datetime | None = None
    rewind: float = 5.0
    batch_size: int = 500
    batch_window: float = 0.05
    idle_timeout: float = 2.0
    stream_timeout: float = 60.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = attrs.field(default=anyio.sleep, repr=False)
    name: str = attrs.field()

    @name.default
    def _default_name(self) -> str:
        extra = f"+{len(self.dids)}dids" if self.dids else ""
        host = self.url.split("//")[-1].split("/")[0]
        return f"jetstream:{host}/{','.join(self.collections)}{extra}"

    def __attrs_post_init__(self) -> None:
        if not self.collections:
            raise ConfigurationError(f"{self.name}: needs at least one collection")
        if self.batch_size < 1:
            raise ConfigurationError(f"{self.name}: batch_size must be positive")

    async def aclose(self) -> None:
        """Nothing to release between runs (each run opens its own connection)."""

    def _address(self, cursor: int | None) -> str:
        query: list[tuple[str, str]] = [("wantedCollections", c) for c in self.collections]
        query += [("wantedDids", d) for d in self.dids]
        if cursor is not None:
            query.append(("cursor", str(max(0, cursor - int(self.rewind * 1_000_000)))))
        return f"{self.url}?{urlencode(query)}"

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """Yield pages from *cursor* on; see the class documentation."""
        try:
            from websockets.asyncio.client import connect  # noqa: PLC0415
            from websockets.exceptions import WebSocketException  # noqa: PLC0415
        except ImportError as exc:
            raise MissingExtraError("websockets", extra="bluesky") from exc
        last: int | None = None
        handled: int | None = None  # events up to the committed cursor were handled already
        if cursor and cursor.strip().isdigit():
            last = handled = int(cursor)
        elif self.since is not None:
            last = int(self.since.timestamp() * 1_000_000) + int(self.rewind * 1_000_000)
        started = int(time.time() * 1_000_000)
        # The rewind, and a second more for events that arrive a little out of order.
        seen = _RecentKeys(int((self.rewind + 1.0) * 1_000_000))
        backoff = Backoff(self.reconnect_initial, self.reconnect_max)
        connected_once = False
        while True:
            try:
                async with connect(
                    self._address(last), max_size=2**22, open_timeout=15
                ) as websocket:
                    connected_once = True
                    quiet = self.stream_timeout if follow else self.idle_timeout
                    while True:
                        raw: list[str | bytes] = []
                        with anyio.move_on_after(quiet):
                            raw.append(await websocket.recv())
                        if not raw:
                            if not follow:
                                return
                            break  # quiet too long: reconnect
                        with anyio.move_on_after(self.batch_window):
                            while len(raw) < self.batch_size:
                                raw.append(await websocket.recv())
                        backoff.reset()
                        posts, malformed, newest = self._decode(raw, seen, handled)
                        if newest is not None and (last is None or newest > last):
                            last = newest
                        yield Page(
                            posts=tuple(posts),
                            malformed=tuple(malformed),
                            cursor=str(last) if last is not None else None,
                        )
                        if not follow and last is not None and last >= started:
                            return
            except (OSError, TimeoutError, WebSocketException) as exc:
                if not connected_once and not follow:
                    raise FetchError(
                        f"{self.name}: cannot reach Jetstream ({type(exc).__name__})",
                        source=self.name,
                        retryable=True,
                    ) from exc
                log.warning("%s: Jetstream connection lost (%s)", self.name, type(exc).__name__)
            await self.sleep(backoff.next_delay())

    def _decode(
        self, raw: list[str | bytes], seen: _RecentKeys, handled: int | None
    ) -> tuple[list[Post], list[Malformed], int | None]:
        posts: list[Post] = []
        malformed: list[Malformed] = []
        newest: int | None = None
        for message in raw:
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            try:
                event = _fastjson.loads(text)
                time_us = event["time_us"]
            except (ValueError, KeyError, TypeError) as exc:
                malformed.append(
                    Malformed(reason=f"Jetstream event: {exc!r}", payload=text, source=self.name)
                )
                continue
            if not isinstance(time_us, int):
                malformed.append(
                    Malformed(
                        reason="Jetstream event: time_us is not an integer",
                        payload=text,
                        source=self.name,
                    )
                )
                continue
            if newest is None or time_us > newest:
                newest = time_us
            if not seen.add(_event_key(event), time_us) or (
                handled is not None and time_us <= handled
            ):
                continue  # replayed by the rewind
            try:
                post = maybe_post(event, source=self.name)
            except DecodeError as exc:
                malformed.append(Malformed(reason=str(exc), payload=text, source=self.name))
                continue
            if post is not None:
                posts.append(post)
        return posts, malformed, newest
