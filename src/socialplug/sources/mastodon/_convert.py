"""
Mastodon status (and notification) payloads to :class:`~socialplug.model.Post`, without I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from ..._html import html_to_text
from ...exceptions import DecodeError
from ...model import Author, Engagement, Media, Post


__all__ = ["notification_to_post", "status_key", "to_post"]

_MEDIA_KINDS = frozenset({"image", "video", "gifv", "audio"})
_QUOTE_SHOWN = frozenset({"accepted"})


def _host(url: str | None) -> str:
    if not url:
        return ""
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


def _author(account: Mapping[str, Any], server: str) -> Author:
    url = account.get("url")
    followers = account.get("followers_count")
    return Author(
        id=str(account["id"]),
        handle=_acct(str(account.get("acct") or account.get("username") or ""), url, server),
        name=account.get("display_name") or "",
        url=url,
        followers=followers if isinstance(followers, int) else None,
        bot=bool(account.get("bot")),
    )


def _count(status: Mapping[str, Any], field: str) -> int | None:
    value = status.get(field)
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
    if isinstance(card, Mapping) and card.get("url"):
        out.append(Media(url=card["url"], kind="link", alt=card.get("title") or None))
    return tuple(out)


def _quoted(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    quote = status.get("quote")
    if not isinstance(quote, Mapping):
        return None
    if "content" in quote and "account" in quote:  # servers that embed the status itself
        return quote
    inner = quote.get("quoted_status")
    if isinstance(inner, Mapping) and quote.get("state", "accepted") in _QUOTE_SHOWN:
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
    account = status["account"]
    uri = status.get("uri") or status.get("url")
    if not uri:
        raise KeyError("uri")
    reblog = status.get("reblog")
    repost_of = _convert(reblog, server, source, "create") if reblog else None
    quoted = _quoted(status)
    quote_of = _convert(quoted, server, source, "create") if quoted else None

    content = status.get("content") or ""
    parsed = html_to_text(content, drop_classes=("quote-inline",) if quoted else ())
    text = parsed.text
    tags: list[str] = []
    seen_tags: set[str] = set()
    links: list[str] = []
    for anchor in parsed.anchors:
        classes = anchor.classes
        if "hashtag" in classes:
            name = anchor.text.lstrip("#")
            if name and name.lower() not in seen_tags:
                seen_tags.add(name.lower())
                tags.append(name)
        elif "mention" in classes:
            continue
        elif anchor.href not in links:
            links.append(anchor.href)
    for tag in status.get("tags") or ():
        name = tag.get("name") or ""
        if name and name.lower() not in seen_tags:
            seen_tags.add(name.lower())
            tags.append(name)
    mentions = tuple(
        _acct(str(m.get("acct") or m.get("username") or ""), m.get("url"), server)
        for m in status.get("mentions") or ()
    )
    poll = status.get("poll")
    annotations: dict[str, Any] = {}
    if isinstance(poll, Mapping):
        text = "\n\n".join(filter(None, (text, "\n".join(_poll_lines(poll)))))
        annotations["poll"] = {
            "options": [o.get("title", "") for o in poll.get("options") or ()],
            "multiple": bool(poll.get("multiple")),
            "expires_at": poll.get("expires_at"),
        }
    visibility = status.get("visibility")
    if visibility:
        annotations["visibility"] = visibility
    if status.get("edited_at"):
        annotations["edited_at"] = status["edited_at"]

    return Post(
        platform="mastodon",
        id=str(status["id"]),
        key=status_key(uri)
        if event == "create"
        else f"{status_key(uri)}#{event}:{status.get('edited_at') or ''}",
        text=text,
        html=content or None,
        created_at=datetime.fromisoformat(status["created_at"]),
        author=_author(account, server),
        url=status.get("url") or uri,
        lang=status.get("language") or None,
        reply_to=_str_or_none(status.get("in_reply_to_id")),
        thread=None if status.get("in_reply_to_id") else str(status["id"]),
        repost_of=repost_of,
        quote_of=quote_of,
        engagement=Engagement(
            likes=_count(status, "favourites_count"),
            reposts=_count(status, "reblogs_count"),
            replies=_count(status, "replies_count"),
            quotes=_count(status, "quotes_count"),
        ),
        tags=tuple(tags),
        mentions=mentions,
        links=tuple(links),
        media=_media(status),
        sensitive=bool(status.get("sensitive")),
        spoiler=status.get("spoiler_text") or None,
        event=event,
        source=source,
        raw=status,
        annotations=annotations,
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


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
