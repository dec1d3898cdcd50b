"""
Reddit: subreddit ``new`` and ``comments`` listings, search, and a user's submissions or
comments.

:func:`to_post` maps one listing child (``{"kind": "t1" | "t3", "data": {...}}``) exactly as
the API returns it; :class:`RedditSource` polls a listing from a fullname cursor. With
``client_id``/``client_secret`` it authenticates against ``oauth.reddit.com`` (application-only
flow, or the script flow when ``username``/``password`` are given too); without credentials it
reads the public ``.json`` endpoints of ``www.reddit.com``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal

import anyio
import attrs
import httpx

from .. import _http
from .._html import html_to_text
from .._pacing import budget_for
from ..exceptions import AuthenticationError, ConfigurationError, FetchError
from ..model import Author, Engagement, Malformed, Media, Page, Post
from ._poll import dump_cursor, from_epoch, get_json, load_cursor


__all__ = ["RedditSource", "to_post"]

_WEB = "https://www.reddit.com"
_GONE = frozenset({"[deleted]", "[removed]"})


def _author(data: Mapping[str, Any]) -> Author:
    name = data.get("author") or ""
    if name in _GONE:
        return Author()
    return Author(
        id=data.get("author_fullname") or "",
        handle=name,
        url=f"{_WEB}/user/{name}" if name else None,
    )


def _permalink(data: Mapping[str, Any]) -> str | None:
    link = data.get("permalink")
    if isinstance(link, str) and link:
        return link if link.startswith("http") else _WEB + link
    return None


def _submission(data: Mapping[str, Any], *, source: str) -> Post:
    name = data["name"]
    selftext = data.get("selftext") or ""
    gone = selftext in _GONE or bool(data.get("removed_by_category"))
    html = data.get("selftext_html") or None
    parsed = html_to_text(html) if html and not gone else None
    links: list[str] = []
    url = data.get("url") or ""
    permalink = _permalink(data)
    is_self = bool(data.get("is_self"))
    if url and not is_self and url != permalink and not data.get("crosspost_parent"):
        links.append(url)
    if parsed is not None:
        links.extend(link for link in parsed.links if link not in links)
    media: list[Media] = []
    if data.get("post_hint") == "image" and url:
        media.append(Media(url=url, kind="image"))
    video = ((data.get("secure_media") or data.get("media") or {}) or {}).get("reddit_video")
    if data.get("is_video") and isinstance(video, Mapping) and video.get("fallback_url"):
        media.append(Media(url=video["fallback_url"], kind="video"))
    parents = data.get("crosspost_parent_list") or ()
    repost_of = (
        _submission(parents[0], source=source)
        if parents and isinstance(parents[0], Mapping)
        else None
    )
    title = data.get("title") or ""
    if gone:
        text = ""
    elif parsed is not None:
        text = parsed.text
    else:
        text = selftext or title
    spoiler = bool(data.get("spoiler"))
    return Post(
        platform="reddit",
        id=name,
        text=text,
        html=None if gone else html,
        title=title or None,
        created_at=from_epoch(data["created_utc"]),
        author=_author(data),
        url=permalink,
        engagement=Engagement(
            score=data.get("score"),
            replies=data.get("num_comments"),
            reposts=data.get("num_crossposts"),
        ),
        links=links,
        media=media,
        repost_of=repost_of,
        sensitive=bool(data.get("over_18")) or spoiler,
        spoiler="spoiler" if spoiler else None,
        event="delete" if gone else "create",
        source=source,
        raw=data,
    )


def _comment(data: Mapping[str, Any], *, source: str) -> Post:
    name = data["name"]
    body = data.get("body") or ""
    gone = body in _GONE
    html = data.get("body_html") or None
    parsed = html_to_text(html) if html and not gone else None
    link_id = data.get("link_id")
    url = _permalink(data)
    if url is None and link_id and data.get("subreddit"):
        url = f"{_WEB}/r/{data['subreddit']}/comments/{link_id[3:]}/_/{data['id']}/"
    return Post(
        platform="reddit",
        id=name,
        text="" if gone else (parsed.text if parsed is not None else body),
        html=None if gone else html,
        created_at=from_epoch(data["created_utc"]),
        author=_author(data),
        url=url,
        reply_to=data.get("parent_id"),
        thread=link_id,
        engagement=Engagement(score=data.get("score")),
        links=parsed.links if parsed is not None else (),
        sensitive=bool(data.get("over_18")),
        event="delete" if gone else "create",
        source=source,
        raw=data,
    )


def to_post(child: Mapping[str, Any], /, *, source: str = "") -> Post:
    """
    Map one Reddit listing child to a :class:`~socialplug.model.Post`.

    Submissions (``t3``) and comments (``t1``) are accepted; see ``docs/sources/reddit.md``
    for the field mapping. Removed and ``[deleted]`` items become posts with
    ``event="delete"`` and empty text; crossposts carry the original in ``repost_of``.

    Raises:
        ValueError: *child* is not a ``t1``/``t3`` thing (a ``more`` stub, an account...).
        KeyError, TypeError: A required field (``name``, ``created_utc``) is missing or odd.
    """
    kind = child.get("kind")
    data = child.get("data")
    if not isinstance(data, Mapping):
        msg = f"listing child has no data object (kind {kind!r})"
        raise TypeError(msg)
    if kind == "t3":
        return _submission(data, source=source)
    if kind == "t1":
        return _comment(data, source=source)
    msg = f"not a submission or comment: kind {kind!r}"
    raise ValueError(msg)


Listing = Literal["new", "comments"]
UserListing = Literal["submitted", "comments"]


@attrs.define(eq=False, kw_only=True)
class RedditSource:
    """
    Poll one Reddit listing, oldest new item first, resuming from a cursor.

    The cursor is the creation time of the newest item read and the fullnames read at that
    second. Each poll reads the listing from the top and pages back with ``after=<fullname>``
    until it meets an item already read, so a deleted item never stalls the source (as a
    ``before=<fullname>`` cursor would).

    Give exactly one target: *subreddit* (with *listing* ``"new"`` or ``"comments"``),
    *search* (Lucene syntax, ``sort=new``; restricted to *subreddit* when that is given
    too), or *user* (with *user_listing* ``"submitted"`` or ``"comments"``).

    Args:
        client_id: OAuth2 application id; with *client_secret* the source uses
            ``oauth.reddit.com`` (application-only flow).
        client_secret: The application secret. Never logged.
        username: With *password*, the script flow for that account.
        password: The account's password. Never logged.
        user_agent: Reddit asks every client for a descriptive User-Agent.
        client: Send requests with this client. *You* own it; if omitted the source
            creates one on first use and closes it in :meth:`aclose`.
        limit: Items per request (Reddit's maximum is 100); also how many of the newest items
            the first run (no cursor) reads.
        max_pages: Pages read back per poll at most (``after`` paging) to reach the cursor.
        poll_interval: Seconds between polls with ``follow=True``.
        base_url: API root; defaults to ``https://oauth.reddit.com`` with credentials and
            ``https://www.reddit.com`` without.
        token_url: Where OAuth2 tokens are requested.

    .. versionadded:: 0.1.0
    """

    subreddit: str | None = None
    listing: Listing = "new"
    search: str | None = None
    user: str | None = None
    user_listing: UserListing = "submitted"
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    user_agent: str = _http.USER_AGENT
    client: httpx.AsyncClient | None = None
    limit: int = 100
    max_pages: int = 10
    poll_interval: float = 60.0
    retry: _http.RetryPolicy = attrs.field(factory=_http.RetryPolicy)
    base_url: str | None = None
    token_url: str = "https://www.reddit.com/api/v1/access_token"  # noqa: S105
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    name: str = attrs.field()
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)
    _token: str | None = attrs.field(default=None, init=False, repr=False)
    _token_expires: float = attrs.field(default=0.0, init=False, repr=False)

    @name.default
    def _default_name(self) -> str:
        if self.search is not None:
            where = f"r/{self.subreddit}" if self.subreddit else "all"
            return f"reddit:search:{where}:{self.search}"
        if self.user is not None:
            return f"reddit:u/{self.user}/{self.user_listing}"
        return f"reddit:r/{self.subreddit}/{self.listing}"

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        targets = (
            (self.subreddit is not None and self.search is None)
            + (self.search is not None)
            + (self.user is not None)
        )
        if targets != 1:
            problems.append("give exactly one of subreddit=, search= or user=")
        if (self.client_id is None) != (self.client_secret is None):
            problems.append("client_id= and client_secret= go together")
        if (self.username is None) != (self.password is None):
            problems.append("username= and password= go together")
        if self.username is not None and self.client_id is None:
            problems.append("the script flow (username=) needs client_id= and client_secret=")
        if not 1 <= self.limit <= 100:
            problems.append("limit= must be between 1 and 100")
        if problems:
            raise ConfigurationError(
                f"RedditSource: {'; '.join(problems)}", problems=tuple(problems)
            )

    @property
    def _authenticated(self) -> bool:
        return self.client_id is not None

    @property
    def _root(self) -> str:
        if self.base_url is not None:
            return self.base_url.rstrip("/")
        return "https://oauth.reddit.com" if self._authenticated else _WEB

    def _path(self) -> str:
        if self.search is not None:
            path = f"/r/{self.subreddit}/search" if self.subreddit else "/search"
        elif self.user is not None:
            path = f"/user/{self.user}/{self.user_listing}"
        else:
            path = f"/r/{self.subreddit}/{self.listing}"
        return path if self._authenticated else path + ".json"

    def _params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {"limit": self.limit, "raw_json": 1}
        if self.search is not None:
            params.update(q=self.search, sort="new", syntax="lucene")
            if self.subreddit:
                params["restrict_sr"] = 1
        elif self.user is not None:
            params["sort"] = "new"
        return params

    def _get_client(self) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        if self._owned is None:
            self._owned = _http.new_client(headers={"User-Agent": self.user_agent})
        return self._owned

    async def _fetch_token(self) -> str:
        assert self.client_id is not None
        assert self.client_secret is not None
        form = (
            {"grant_type": "password", "username": self.username, "password": self.password}
            if self.username is not None
            else {"grant_type": "client_credentials"}
        )
        server = httpx.URL(self.token_url).host
        try:
            response = await self._get_client().post(
                self.token_url,
                data=form,
                auth=(self.client_id, self.client_secret),
                headers={"User-Agent": self.user_agent},
            )
        except httpx.TransportError as exc:
            raise _http.transport_fetch_error(exc, source=self.name, server=server) from exc
        if response.status_code != 200:
            raise _http.fetch_error(response, source=self.name, server=server)
        try:
            body = response.json()
            token = body["access_token"]
            expires = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthenticationError(
                f"{self.name}: {server} gave no access token", source=self.name
            ) from exc
        if not isinstance(token, str):
            raise AuthenticationError(
                f"{self.name}: {server} gave no access token", source=self.name
            )
        self._token = token
        self._token_expires = time.monotonic() + expires - 60.0
        return token

    async def _auth_headers(self, *, fresh: bool = False) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent}
        if not self._authenticated:
            return headers
        token = self._token
        if fresh or token is None or time.monotonic() >= self._token_expires:
            token = await self._fetch_token()
        headers["Authorization"] = f"bearer {token}"
        return headers

    async def _refresh(self) -> Mapping[str, str]:
        return await self._auth_headers(fresh=True)

    async def _listing(self, after: str | None) -> Mapping[str, Any]:
        params = self._params()
        if after is not None:
            params["after"] = after
        url = self._root + self._path()
        server = httpx.URL(url).host
        body, _ = await get_json(
            self._get_client(),
            url,
            params=params,
            headers=await self._auth_headers(),
            source=self.name,
            server=server,
            retry=self.retry,
            budget=budget_for(server, self.client_id),
            sleep=self.sleep,
            on_unauthorized=self._refresh if self._authenticated else None,
        )
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("children"), list):
            raise FetchError(
                f"{self.name}: {server} answered with something that is not a listing",
                source=self.name,
                retryable=False,
            )
        return data

    def _malformed(self, child: object, exc: Exception) -> Malformed:
        return Malformed(
            reason=f"{type(exc).__name__}: {exc}",
            payload=json.dumps(child, ensure_ascii=False, default=str),
            source=self.name,
        )

    async def _poll(self, cursor: str | None) -> AsyncIterator[Page]:
        # Listings are newest first. Read from the top and page back with `after` until an
        # item already read (or older than the cursor) shows up, then emit oldest first. Unlike
        # `before=<fullname>`, this keeps working when the cursor's item is deleted.
        state = load_cursor(cursor, source=self.name)
        since: float | None = state.get("t")
        known = set(state.get("ids", ()))
        fresh: list[tuple[float, str, Any]] = []
        malformed: list[Malformed] = []
        after: str | None = None
        for _ in range(self.max_pages):
            data = await self._listing(after)
            reached = False
            for child in data["children"]:
                if isinstance(child, Mapping) and child.get("kind") == "more":
                    continue  # a "load more comments" stub, not an item
                try:
                    item = child["data"]
                    created, name = float(item["created_utc"]), str(item["name"])
                except (KeyError, TypeError, ValueError) as exc:
                    malformed.append(self._malformed(child, exc))
                    continue
                if since is not None and (created < since or name in known):
                    reached = True
                    continue
                fresh.append((created, name, child))
            after = data.get("after")
            if reached or since is None or not after:
                break  # the first run (no cursor) reads the newest page only
        if not fresh and not malformed:
            return
        fresh.sort(key=lambda entry: (entry[0], entry[1]))
        posts: list[Post] = []
        for _, _, child in fresh:
            try:
                posts.append(to_post(child, source=self.name))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                malformed.append(self._malformed(child, exc))
        newest = fresh[-1][0] if fresh else since
        ids = {name for created, name, _ in fresh if created == newest}
        if newest == since:
            ids |= known
        yield Page(
            posts=posts,
            malformed=malformed,
            cursor=dump_cursor({"t": newest, "ids": sorted(ids)}) if newest is not None else None,
        )

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of posts newer than *cursor*, oldest first.

        Raises:
            FetchError: Reddit failed in a way retries did not fix.
            AuthenticationError: Reddit refused the credentials.
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
        self._token = None
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.aclose()
