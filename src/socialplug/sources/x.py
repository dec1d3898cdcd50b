"""
X (Twitter) API v2: recent search with a bearer token.

:func:`to_post` maps one tweet object together with the response's ``includes`` (authors,
media, referenced tweets); :class:`XSource` polls ``/2/tweets/search/recent`` with
``since_id`` and ``next_token``.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import attrs
import httpx

from .. import _http
from .._pacing import budget_for
from ..exceptions import ConfigurationError, FetchError
from ..model import Author, Engagement, Malformed, Media, Page, Post
from ._poll import dump_cursor, get_json, load_cursor


__all__ = ["XSource", "snowflake_time", "to_post"]

_WEB = "https://x.com"
_EPOCH_MS = 1288834974657
_MEDIA_KIND = {"photo": "image", "video": "video", "animated_gif": "gifv"}

TWEET_FIELDS = (
    "attachments,author_id,conversation_id,created_at,entities,in_reply_to_user_id,lang,"
    "note_tweet,possibly_sensitive,public_metrics,referenced_tweets"
)
USER_FIELDS = "name,username,url,public_metrics,verified"
MEDIA_FIELDS = "alt_text,preview_image_url,type,url,variants"
EXPANSIONS = "author_id,attachments.media_keys,referenced_tweets.id,referenced_tweets.id.author_id"


def snowflake_time(tweet_id: str | int, /) -> datetime:
    """Return when a tweet with this (snowflake) id was created."""
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + _EPOCH_MS) / 1000, tz=UTC)


def _index(includes: Mapping[str, Any], kind: str, key: str) -> dict[str, Mapping[str, Any]]:
    return {
        str(item[key]): item
        for item in includes.get(kind) or ()
        if isinstance(item, Mapping) and key in item
    }


def _text(tweet: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Return the full text with t.co links expanded, and the expanded links."""
    note = tweet.get("note_tweet")
    if isinstance(note, Mapping) and note.get("text"):
        text, entities = str(note["text"]), note.get("entities") or {}
    else:
        text, entities = str(tweet.get("text") or ""), tweet.get("entities") or {}
    links: list[str] = []
    for entity in entities.get("urls") or ():
        short, expanded = entity.get("url"), entity.get("expanded_url") or entity.get("url")
        if not expanded:
            continue
        media_link = "/photo/" in expanded or "/video/" in expanded
        if short:
            text = text.replace(short, "" if media_link else expanded)
        if not media_link and expanded not in links:
            links.append(expanded)
    return html.unescape(text).strip(), links


def _tweet(
    tweet: Mapping[str, Any],
    *,
    users: Mapping[str, Mapping[str, Any]],
    media: Mapping[str, Mapping[str, Any]],
    tweets: Mapping[str, Mapping[str, Any]],
    source: str,
    depth: int,
) -> Post:
    tweet_id = str(tweet["id"])
    user = users.get(str(tweet.get("author_id")))
    author = Author(id=str(tweet.get("author_id") or ""))
    if user is not None:
        metrics = user.get("public_metrics") or {}
        author = Author(
            id=str(user.get("id") or tweet.get("author_id") or ""),
            handle=user.get("username") or "",
            name=user.get("name") or "",
            url=f"{_WEB}/{user['username']}" if user.get("username") else None,
            followers=metrics.get("followers_count"),
        )
    created = tweet.get("created_at")
    created_at = (
        datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        if created
        else snowflake_time(tweet_id)
    )
    text, links = _text(tweet)
    attachments: list[Media] = []
    for key in (tweet.get("attachments") or {}).get("media_keys") or ():
        item = media.get(str(key))
        if item is None:
            continue
        url = item.get("url") or item.get("preview_image_url")
        if item.get("type") in ("video", "animated_gif"):
            variants = [
                v for v in item.get("variants") or () if v.get("content_type") == "video/mp4"
            ]
            if variants:
                url = max(variants, key=lambda v: v.get("bit_rate", 0))["url"]
        if url:
            attachments.append(
                Media(url=url, kind=_MEDIA_KIND.get(item.get("type", ""), "image"),
                      alt=item.get("alt_text"))
            )  # fmt: skip
    reply_to = repost_of = quote_of = None
    for ref in tweet.get("referenced_tweets") or ():
        ref_id = str(ref.get("id"))
        if ref.get("type") == "replied_to":
            reply_to = ref_id
            continue
        original = tweets.get(ref_id)
        if original is not None and depth < 2:
            linked = _tweet(
                original, users=users, media=media, tweets=tweets, source=source, depth=depth + 1
            )
        else:
            linked = Post(
                platform="x",
                id=ref_id,
                created_at=snowflake_time(ref_id),
                url=f"{_WEB}/i/web/status/{ref_id}",
                source=source,
            )
        if ref.get("type") == "retweeted":
            repost_of = linked
        elif ref.get("type") == "quoted":
            quote_of = linked
    entities = tweet.get("entities") or {}
    conversation = tweet.get("conversation_id")
    metrics = tweet.get("public_metrics") or {}
    return Post(
        platform="x",
        id=tweet_id,
        text=text,
        created_at=created_at,
        author=author,
        url=f"{_WEB}/{author.handle}/status/{tweet_id}"
        if author.handle
        else f"{_WEB}/i/web/status/{tweet_id}",
        lang=tweet.get("lang") if tweet.get("lang") not in (None, "und", "qme", "zxx") else None,
        reply_to=reply_to,
        thread=str(conversation) if conversation and str(conversation) != tweet_id else None,
        repost_of=repost_of,
        quote_of=quote_of,
        engagement=Engagement(
            likes=metrics.get("like_count"),
            reposts=metrics.get("retweet_count"),
            replies=metrics.get("reply_count"),
            quotes=metrics.get("quote_count"),
        ),
        tags=[h["tag"] for h in entities.get("hashtags") or () if h.get("tag")],
        mentions=[m["username"] for m in entities.get("mentions") or () if m.get("username")],
        links=links,
        media=attachments,
        sensitive=bool(tweet.get("possibly_sensitive")),
        source=source,
        raw=tweet,
    )


def to_post(
    tweet: Mapping[str, Any], /, *, includes: Mapping[str, Any] | None = None, source: str = ""
) -> Post:
    """
    Map one API v2 tweet object to a :class:`~socialplug.model.Post`.

    *includes* is the response's ``includes`` object: the author comes from
    ``includes.users``, media from ``includes.media`` and retweeted or quoted tweets from
    ``includes.tweets`` (when absent there, ``repost_of``/``quote_of`` are stub posts that
    link to the original). Without ``created_at`` the time is read from the snowflake id.

    Raises:
        KeyError, TypeError, ValueError: ``id`` is missing or not a tweet id.
    """
    inc = includes or {}
    return _tweet(
        tweet,
        users=_index(inc, "users", "id"),
        media=_index(inc, "media", "media_key"),
        tweets=_index(inc, "tweets", "id"),
        source=source,
        depth=0,
    )


@attrs.define(eq=False, kw_only=True)
class XSource:
    """
    Poll X's recent search (``/2/tweets/search/recent``), oldest new tweet first.

    Args:
        query: An X search query (``"acme -is:retweet lang:en"``).
        bearer_token: App bearer token. Never logged.
        max_results: Tweets per request (10 to 100).
        max_pages: Pages per poll at most (``next_token`` paging).
        client: Send requests with this client. *You* own it; if omitted the source
            creates one on first use and closes it in :meth:`aclose`.

    .. versionadded:: 0.1.0
    """

    query: str
    bearer_token: str = attrs.field(repr=False)
    max_results: int = 100
    max_pages: int = 10
    client: httpx.AsyncClient | None = None
    poll_interval: float = 60.0
    retry: _http.RetryPolicy = attrs.field(factory=_http.RetryPolicy)
    base_url: str = "https://api.x.com"
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    name: str = attrs.field()
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)

    @name.default
    def _default_name(self) -> str:
        return f"x:search:{self.query}"

    def __attrs_post_init__(self) -> None:
        if not 10 <= self.max_results <= 100:
            raise ConfigurationError("XSource: max_results= must be between 10 and 100")
        if not self.bearer_token:
            raise ConfigurationError("XSource: bearer_token= is required")

    def _get_client(self) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        if self._owned is None:
            self._owned = _http.new_client()
        return self._owned

    async def _search(self, since_id: str | None, token: str | None) -> Mapping[str, Any]:
        params: dict[str, str | int] = {
            "query": self.query,
            "max_results": self.max_results,
            "tweet.fields": TWEET_FIELDS,
            "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
            "expansions": EXPANSIONS,
        }
        if since_id is not None:
            params["since_id"] = since_id
        if token is not None:
            params["next_token"] = token
        url = self.base_url.rstrip("/") + "/2/tweets/search/recent"
        server = httpx.URL(url).host
        body, _ = await get_json(
            self._get_client(),
            url,
            params=params,
            headers={"Authorization": f"Bearer {self.bearer_token}"},
            source=self.name,
            server=server,
            retry=self.retry,
            budget=budget_for(server, self.bearer_token),
            sleep=self.sleep,
        )
        if not isinstance(body, Mapping):
            raise FetchError(
                f"{self.name}: {server} answered with something that is not an object",
                source=self.name,
                retryable=False,
            )
        return body

    async def _poll(self, cursor: str | None) -> AsyncIterator[Page]:
        since_id = load_cursor(cursor, source=self.name).get("since_id")
        collected: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
        token: str | None = None
        for _ in range(self.max_pages):
            body = await self._search(since_id, token)
            includes = body.get("includes") or {}
            collected.extend((tweet, includes) for tweet in body.get("data") or ())
            token = (body.get("meta") or {}).get("next_token")
            if token is None or since_id is None:
                break  # the first run reads the newest page only
        posts: list[Post] = []
        malformed: list[Malformed] = []
        newest = int(since_id) if since_id is not None else 0
        for tweet, includes in collected:
            try:
                post = to_post(tweet, includes=includes, source=self.name)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                malformed.append(
                    Malformed(
                        reason=f"{type(exc).__name__}: {exc}",
                        payload=json.dumps(tweet, ensure_ascii=False, default=str),
                        source=self.name,
                    )
                )
                continue
            posts.append(post)
            newest = max(newest, int(post.id))
        if not posts and not malformed:
            return
        posts.sort(key=lambda p: int(p.id))
        yield Page(
            posts=posts,
            malformed=malformed,
            cursor=dump_cursor({"since_id": str(newest)}) if newest else None,
        )

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield tweets newer than *cursor*, oldest first.

        Raises:
            FetchError: X failed in a way retries did not fix.
            AuthenticationError: X refused the bearer token.
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
