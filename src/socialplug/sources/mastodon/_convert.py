"""
Mastodon status (and notification) payloads to :class:`~socialplug.model.Post`, without I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from ..._html import html_parts
from ...exceptions import DecodeError
from ...model import Author, Engagement, Media, Post


__all__ = ["notification_to_post", "status_key", "to_post"]

_MEDIA_KINDS = frozenset({"image", "video", "gifv", "audio"})
_QUOTE_SHOWN = frozenset({"accepted"})
_QUOTE_INLINE = ("quote-inline",)


# The common shape of an account or server URL: scheme, then a host name with an optional
# port, then the path. Its host is what urlsplit(url).hostname gives; other URLs go there.
_PLAIN_URL = re.compile(r"https?://([A-Za-z0-9.-]+)(?::[0-9]*)?(?:[/?#]|\Z)")


def _host(url: str | None) -> str:
    if not url:
        return ""
    plain = _PLAIN_URL.match(url)
    if plain is not None:
        return plain.group(1).lower()
    return urlsplit(url).hostname or ""


def _server_host(server: str | None) -> str:
    if not server:
        return ""
    return _host(server) if "//" in server else server.strip("/").lower()


def _acct(acct: str, url: str | None, server: str) -> str:
    """``user@domain`` for every account; local accounts come as bare ``user``."""
    if "@" in acct or not acct:
        return acct
    domain = server or _host(url)
    return f"{acct}@{domain}" if domain else acct


def status_key(uri: str) -> str:
    """
    The :attr:`Post.key` of the status whose ActivityPub id is *uri*. An edit's key adds
    ``#update:<edited_at>`` and a deletion notice's ``#delete``, so the pipeline's seen-keys
    do not take them for repeats of the original.
    """
    return f"mastodon:{uri}"


def _is_mapping(value: object) -> bool:
    # JSON gives dicts: test for them before the slower abstract-class check.
    return type(value) is dict or isinstance(value, Mapping)


def _author(account: Mapping[str, Any], server: str) -> Author:
    get = account.get
    url = get("url")
    followers = get("followers_count")
    return Author(
        id=str(account["id"]),
        handle=_acct(str(get("acct") or get("username") or ""), url, server),
        name=get("display_name") or "",
        url=url,
        followers=followers if isinstance(followers, int) else None,
        bot=bool(get("bot")),
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _media(status: Mapping[str, Any]) -> tuple[Media, ...]:
    out: list[Media] = []
    for attachment in status.get("media_attachments") or ():
        url = attachment.get("url") or attachment.get("remote_url")
        if not url:
            continue
        kind = attachment.get("type") or "unknown"
        out.append(
            Media(
                url=url,
                kind=kind if kind in _MEDIA_KINDS else "unknown",
                alt=attachment.get("description") or None,
            )
        )
    card = status.get("card")
    if card and _is_mapping(card) and card.get("url"):
        out.append(Media(url=card["url"], kind="link", alt=card.get("title") or None))
    return tuple(out)


def _quoted(quote: object) -> Mapping[str, Any] | None:
    if not _is_mapping(quote):
        return None
    assert isinstance(quote, Mapping)
    if "content" in quote and "account" in quote:  # servers that embed the status itself
        return quote
    inner = quote.get("quoted_status")
    if inner and _is_mapping(inner) and quote.get("state", "accepted") in _QUOTE_SHOWN:
        assert isinstance(inner, Mapping)
        return inner
    return None


def _poll_lines(poll: Mapping[str, Any]) -> list[str]:
    return [f"- {option.get('title', '')}" for option in poll.get("options") or ()]


def _convert(
    status: Mapping[str, Any],
    server: str,
    source: str,
    event: Literal["create", "update", "delete"],
) -> Post:
    get = status.get
    account = status["account"]
    uri = get("uri") or get("url")
    if not uri:
        raise KeyError("uri")
    reblog = get("reblog")
    repost_of = _convert(reblog, server, source, "create") if reblog else None
    quote = get("quote")
    quoted = _quoted(quote) if quote else None
    quote_of = _convert(quoted, server, source, "create") if quoted else None

    content = get("content") or ""
    text, _, anchors = html_parts(content, _QUOTE_INLINE if quoted else ())
    tags: list[str] = []
    seen_tags: set[str] = set()
    links: list[str] = []
    for href, words, classes in anchors:
        if "hashtag" in classes:
            name = words.lstrip("#")
            if name and name.lower() not in seen_tags:
                seen_tags.add(name.lower())
                tags.append(name)
        elif "mention" in classes:
            continue
        elif href not in links:
            links.append(href)
    for tag in get("tags") or ():
        name = tag.get("name") or ""
        if name and name.lower() not in seen_tags:
            seen_tags.add(name.lower())
            tags.append(name)
    mentions = tuple(
        [
            _acct(str(m.get("acct") or m.get("username") or ""), m.get("url"), server)
            for m in get("mentions") or ()
        ]
    )
    annotations: dict[str, Any] = {}
    poll = get("poll")
    if poll is not None and _is_mapping(poll):
        text = "\n\n".join(filter(None, (text, "\n".join(_poll_lines(poll)))))
        annotations["poll"] = {
            "options": [o.get("title", "") for o in poll.get("options") or ()],
            "multiple": bool(poll.get("multiple")),
            "expires_at": poll.get("expires_at"),
        }
    visibility = get("visibility")
    if visibility:
        annotations["visibility"] = visibility
    edited_at = get("edited_at")
    if edited_at:
        annotations["edited_at"] = edited_at

    status_id = str(status["id"])
    in_reply_to = get("in_reply_to_id")
    likes = get("favourites_count")
    reposts = get("reblogs_count")
    replies = get("replies_count")
    quotes = get("quotes_count")
    key = f"mastodon:{uri}" if event == "create" else f"mastodon:{uri}#{event}:{edited_at or ''}"
    return Post(
        platform="mastodon",
        id=status_id,
        key=key,
        text=text,
        html=content or None,
        created_at=datetime.fromisoformat(status["created_at"]),
        author=_author(account, server),
        url=get("url") or uri,
        lang=get("language") or None,
        reply_to=None if in_reply_to is None else str(in_reply_to),
        thread=None if in_reply_to else status_id,
        repost_of=repost_of,
        quote_of=quote_of,
        engagement=Engagement(
            likes=likes if type(likes) is int else _count(likes),
            reposts=reposts if type(reposts) is int else _count(reposts),
            replies=replies if type(replies) is int else _count(replies),
            quotes=quotes if type(quotes) is int else _count(quotes),
        ),
        tags=tuple(tags),
        mentions=mentions,
        links=tuple(links),
        media=_media(status) if get("media_attachments") or get("card") else (),
        sensitive=bool(get("sensitive")),
        spoiler=get("spoiler_text") or None,
        event=event,
        source=source,
        raw=status,
        annotations=MappingProxyType(annotations),
    )


def to_post(
    status: Mapping[str, Any],
    /,
    *,
    server: str | None = None,
    source: str = "",
    event: Literal["create", "update", "delete"] = "create",
) -> Post:
    """
    Map one Mastodon status, exactly as the REST or streaming API returns it, to a post.

    Args:
        status: A status entity (``/api/v1/statuses/:id``, timelines, streaming ``update``).
        server: Host or base URL of the server the status was read from; qualifies local
            accounts (``acct`` ``"alice"`` becomes ``"alice@server"``). Defaults to the host
            of each account's profile URL.
        source: The name of the source, copied to :attr:`Post.source`.
        event: ``"update"`` for an edit (streaming ``status.update``).

    Raises:
        DecodeError: The payload is not a status (a field is missing or of the wrong type).
    """
    host = _server_host(server)
    try:
        return _convert(status, host, source, event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DecodeError(
            f"{source or 'mastodon'}: not a Mastodon status ({type(exc).__name__}: {exc})",
            source=source or "mastodon",
            payload=status,
        ) from exc


def notification_to_post(
    notification: Mapping[str, Any], /, *, server: str | None = None, source: str = ""
) -> Post | None:
    """
    Map a notification to the post it is about, with ``annotations["notification"]`` set
    to its type (``"mention"``, ``"reblog"``, ``"favourite"``, ``"status"``, ``"update"``,
    ...). Notifications without a status (``"follow"``) give ``None``.

    Raises:
        DecodeError: The payload is not a notification, or its status is malformed.
    """
    try:
        kind = str(notification["type"])
        status = notification.get("status")
    except (KeyError, TypeError, AttributeError) as exc:
        raise DecodeError(
            f"{source or 'mastodon'}: not a Mastodon notification ({type(exc).__name__})",
            source=source or "mastodon",
            payload=notification,
        ) from exc
    if not status:
        return None
    post = to_post(
        status, server=server, source=source, event="update" if kind == "update" else "create"
    )
    return post.annotate(notification=kind, notification_id=str(notification.get("id", "")))
