"""
Hacker News through the Algolia search API (``search_by_date``): stories and comments.

:func:`to_post` maps one Algolia hit; :class:`HackerNewsSource` polls with
``numericFilters=created_at_i>=...`` as the cursor.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio
import attrs
import httpx

from .. import _http
from .._html import html_to_text
from .._pacing import budget_for
from ..exceptions import ConfigurationError, FetchError
from ..model import Author, Engagement, Malformed, Page, Post
from ._poll import dump_cursor, from_epoch, get_json, load_cursor


__all__ = ["HackerNewsSource", "to_post"]

_SITE = "https://news.ycombinator.com"


def _created(hit: Mapping[str, Any]) -> datetime:
    if hit.get("created_at_i") is not None:
        return from_epoch(hit["created_at_i"])
    return datetime.fromisoformat(str(hit["created_at"]).replace("Z", "+00:00"))


def _id(value: object) -> str | None:
    return None if value is None else str(value)


def to_post(hit: Mapping[str, Any], /, *, source: str = "") -> Post:
    """
    Map one Algolia hit (a story, poll, job or comment) to a :class:`~socialplug.model.Post`.

    Comment HTML becomes plain text (``html`` keeps the markup); a comment's ``reply_to`` is
    its parent and ``thread`` its story. See ``docs/sources/hackernews.md``.

    Raises:
        KeyError, TypeError, ValueError: ``objectID`` or the creation time is missing or odd.
    """
    object_id = str(hit["objectID"])
    tags = hit.get("_tags") or ()
    author_name = hit.get("author") or ""
    author = (
        Author(id=author_name, handle=author_name, url=f"{_SITE}/user?id={author_name}")
        if author_name
        else Author()
    )
    common: dict[str, Any] = {
        "platform": "hackernews",
        "id": object_id,
        "created_at": _created(hit),
        "author": author,
        "url": f"{_SITE}/item?id={object_id}",
        "source": source,
        "raw": hit,
    }
    if "comment" in tags or hit.get("comment_text") is not None:
        markup = hit.get("comment_text") or ""
        parsed = html_to_text(markup)
        return Post(
            text=parsed.text,
            html=markup or None,
            links=parsed.links,
            reply_to=_id(hit.get("parent_id")),
            thread=_id(hit.get("story_id")),
            engagement=Engagement(score=hit.get("points")),
            **common,
        )
    markup = hit.get("story_text") or ""
    parsed = html_to_text(markup)
    title = hit.get("title") or ""
    links = [hit["url"]] if hit.get("url") else []
    links.extend(link for link in parsed.links if link not in links)
    return Post(
        text=parsed.text or title,
        html=markup or None,
        title=title or None,
        links=links,
        engagement=Engagement(score=hit.get("points"), replies=hit.get("num_comments")),
        **common,
    )


@attrs.define(eq=False, kw_only=True)
class HackerNewsSource:
    """
    Poll Algolia's ``search_by_date`` for new stories and/or comments, oldest first.

    The cursor is the creation time of the newest item read plus the ids read at that second,
    so items sharing a second are neither lost nor repeated.

    Args:
        query: Full-text query; empty reads everything.
        tags: Algolia tags, OR-ed (``story``, ``comment``, ``poll``, ``show_hn``, ...).
        since: Without a cursor, start here; by default the first run reads only the newest
            *hits_per_page* items.
        hits_per_page: Items per request (Algolia allows up to 1000).
        max_pages: Pages read per poll at most (Algolia serves 1000 hits per query at most).
        client: Send requests with this client. *You* own it; if omitted the source
            creates one on first use and closes it in :meth:`aclose`.

    .. versionadded:: 0.1.0
    """

    query: str = ""
    tags: Sequence[str] = ("story", "comment")
    since: datetime | None = None
    hits_per_page: int = 100
    max_pages: int = 10
    client: httpx.AsyncClient | None = None
    poll_interval: float = 60.0
    retry: _http.RetryPolicy = attrs.field(factory=_http.RetryPolicy)
    base_url: str = "https://hn.algolia.com/api/v1"
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    name: str = attrs.field()
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)

    @name.default
    def _default_name(self) -> str:
        return f"hackernews:{','.join(self.tags)}:{self.query}"

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.hits_per_page <= 1000:
            raise ConfigurationError("HackerNewsSource: hits_per_page= must be 1 to 1000")
        if self.since is not None and self.since.tzinfo is None:
            raise ConfigurationError("HackerNewsSource: since= must be timezone-aware")

    def _get_client(self) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        if self._owned is None:
            self._owned = _http.new_client()
        return self._owned

    async def _search(self, since: int | None, page: int) -> Mapping[str, Any]:
        params: dict[str, str | int] = {
            "query": self.query,
            "tags": "(" + ",".join(self.tags) + ")",
            "hitsPerPage": self.hits_per_page,
            "page": page,
        }
        if since is not None:
            params["numericFilters"] = f"created_at_i>={since}"
        url = self.base_url.rstrip("/") + "/search_by_date"
        server = httpx.URL(url).host
        body, _ = await get_json(
            self._get_client(),
            url,
            params=params,
            source=self.name,
            server=server,
            retry=self.retry,
            budget=budget_for(server),
            sleep=self.sleep,
        )
        if not isinstance(body, Mapping) or not isinstance(body.get("hits"), list):
            raise FetchError(
                f"{self.name}: {server} answered without a hits list",
                source=self.name,
                retryable=False,
            )
        return body

    async def _poll(self, cursor: str | None) -> AsyncIterator[Page]:
        state = load_cursor(cursor, source=self.name)
        since: int | None = state.get("t")
        if since is None and self.since is not None:
            since = int(self.since.timestamp())
        known = set(state.get("ids", ()))
        hits: list[Any] = []
        page = 0
        while page < self.max_pages:
            body = await self._search(since, page)
            hits.extend(body["hits"])
            page += 1
            if since is None or page >= int(body.get("nbPages", 0)) or not body["hits"]:
                break
        ordered: list[tuple[int, str, Any]] = []
        malformed: list[Malformed] = []
        for hit in hits:
            try:
                ordered.append((int(hit["created_at_i"]), str(hit["objectID"]), hit))
            except (KeyError, TypeError, ValueError) as exc:
                malformed.append(self._malformed(hit, exc))
        ordered.sort(key=lambda item: (item[0], item[1]))
        posts: list[Post] = []
        newest, at_newest = since, set(known)
        for when, object_id, hit in ordered:
            if since is not None and when == since and object_id in known:
                continue
            try:
                posts.append(to_post(hit, source=self.name))
            except (KeyError, TypeError, ValueError) as exc:
                malformed.append(self._malformed(hit, exc))
            if newest is None or when > newest:
                newest, at_newest = when, set()
            at_newest.add(object_id)
        if not posts and not malformed:
            return
        yield Page(
            posts=posts,
            malformed=malformed,
            cursor=dump_cursor({"t": newest, "ids": sorted(at_newest)})
            if newest is not None
            else None,
        )

    def _malformed(self, hit: object, exc: Exception) -> Malformed:
        return Malformed(
            reason=f"{type(exc).__name__}: {exc}",
            payload=json.dumps(hit, ensure_ascii=False, default=str),
            source=self.name,
        )

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield the items created since *cursor*, oldest first.

        Raises:
            FetchError: Algolia failed in a way retries did not fix.
        """
        while True:
            async for page in self._poll(cursor):
                cursor = page.cursor or cursor
                yield page
            if not follow:
                return
            await self.sleep(self.poll_interval)

    async def aclose(self) -> None:
        """Close the client this source created, if any; idempotent and not terminal."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.aclose()
