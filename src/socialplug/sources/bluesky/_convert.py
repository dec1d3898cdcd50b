"""
Bluesky views, notifications and Jetstream commit events to :class:`~socialplug.model.Post`,
without I/O.

Facet offsets are UTF-8 byte offsets into the record's text: they are applied to the encoded
text, never to Python string indices (emoji and non-Latin text before a facet are where the
two differ).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import attrs

from ...exceptions import DecodeError
from ...model import Author, Engagement, Media, Post


__all__ = ["at_uri_to_url", "post_key", "to_post"]

POST = "app.bsky.feed.post"
_SENSITIVE_LABELS = frozenset({"porn", "sexual", "nudity", "graphic-media", "gore", "nsfl"})
_CDN = "https://cdn.bsky.app/img/feed_fullsize/plain"
_VIDEO = "https://video.bsky.app/watch"
_HANDLE = re.compile(r"@([\w.-]*\w)")


class _NotAPost(Exception):  # noqa: N818 - internal: a valid item that is not a post
    """The item is valid but is not a post (a like, a follow, an account event)."""


def post_key(uri: str) -> str:
    """
    The :attr:`Post.key` of the post whose at:// URI is *uri*. An edit's key adds
    ``#update:<rev>`` and a deletion notice's ``#delete``, so the pipeline's seen-keys do not
    take them for repeats of the original.
    """
    return f"bluesky:{uri}"


def _split(uri: str) -> tuple[str, str, str]:
    """(authority, collection, rkey) of an at:// URI."""
    if not uri.startswith("at://"):
        raise ValueError(f"not an at:// URI: {uri!r}")
    parts = uri[5:].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not an at:// record URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def at_uri_to_url(uri: str) -> str | None:
    """
    The bsky.app page of an at:// URI: ``at://did/app.bsky.feed.post/rkey`` becomes
    ``https://bsky.app/profile/did/post/rkey``. ``None`` for records without a page.
    """
    try:
        authority, collection, rkey = _split(uri)
    except ValueError:
        return None
    if collection == POST:
        return f"https://bsky.app/profile/{authority}/post/{rkey}"
    if collection == "app.bsky.feed.generator":
        return f"https://bsky.app/profile/{authority}/feed/{rkey}"
    if collection == "app.bsky.graph.list":
        return f"https://bsky.app/profile/{authority}/lists/{rkey}"
    return None


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected a datetime string, got {type(value).__name__}")
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _created(record: Mapping[str, Any], *fallbacks: object) -> datetime:
    """The record's ``createdAt`` (client-chosen, sometimes odd), else the first fallback."""
    for value in (record.get("createdAt"), *fallbacks):
        try:
            return _time(value)
        except (TypeError, ValueError):
            continue
    raise ValueError("no readable createdAt or indexedAt")


def _author(profile: Mapping[str, Any]) -> Author:
    did = str(profile["did"])
    handle = profile.get("handle") or ""
    followers = profile.get("followersCount")
    labels = profile.get("labels") or ()
    return Author(
        id=did,
        handle="" if handle == "handle.invalid" else handle,
        name=profile.get("displayName") or "",
        url=f"https://bsky.app/profile/{handle if handle and handle != 'handle.invalid' else did}",
        followers=followers if isinstance(followers, int) else None,
        bot=any(isinstance(lab, Mapping) and lab.get("val") == "bot" for lab in labels),
    )


def _bare_author(did: str) -> Author:
    return Author(id=did, url=f"https://bsky.app/profile/{did}")


def _facets(
    text: str, facets: Sequence[Any] | None
) -> tuple[str, list[str], list[str], list[str]]:
    """Apply facets: (text with links expanded, tags, mentions, links)."""
    if not facets:
        return text, [], [], []
    data = text.encode("utf-8")
    size = len(data)
    tags: list[str] = []
    mentions: list[str] = []
    links: list[str] = []
    expand: list[tuple[int, int, bytes]] = []
    for facet in facets:
        if not isinstance(facet, Mapping):
            continue
        index = facet.get("index") or {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        valid = isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size
        for feature in facet.get("features") or ():
            if not isinstance(feature, Mapping):
                continue
            kind = feature.get("$type", "")
            if kind.endswith("#link") and isinstance(feature.get("uri"), str):
                uri = feature["uri"]
                if uri not in links:
                    links.append(uri)
                if valid:
                    assert isinstance(start, int)
                    assert isinstance(end, int)
                    shown = data[start:end]
                    if shown.decode("utf-8", "replace") != uri:
                        expand.append((start, end, uri.encode()))
            elif kind.endswith("#tag") and isinstance(feature.get("tag"), str):
                tag = feature["tag"].lstrip("#")
                if tag and tag not in tags:
                    tags.append(tag)
            elif kind.endswith("#mention"):
                handle = ""
                if valid:
                    assert isinstance(start, int)
                    assert isinstance(end, int)
                    found = _HANDLE.search(data[start:end].decode("utf-8", "replace"))
                    handle = found.group(1) if found else ""
                handle = handle or str(feature.get("did", ""))
                if handle and handle not in mentions:
                    mentions.append(handle)
    if expand:
        expand.sort()
        out: list[bytes] = []
        pos = 0
        for start, end, replacement in expand:
            if start < pos:
                continue  # overlapping facets: keep the first
            out += [data[pos:start], replacement]
            pos = end
        out.append(data[pos:])
        text = b"".join(out).decode("utf-8", "replace")
    return text, tags, mentions, links


def _image_url(did: str, image: Mapping[str, Any]) -> str | None:
    if isinstance(image.get("fullsize"), str):
        return str(image["fullsize"])
    blob = image.get("image") or {}
    ref = (blob.get("ref") or {}).get("$link") if isinstance(blob, Mapping) else None
    return f"{_CDN}/{did}/{ref}@jpeg" if ref else None


def _embed(
    embed: Any, did: str, source: str, media: list[Media], links: list[str]
) -> tuple[Post | None, str | None]:
    """Collect media and links of an embed (view or record); return (quoted post, quoted URI)."""
    if not isinstance(embed, Mapping):
        return None, None
    kind = str(embed.get("$type", "")).removesuffix("#view")
    if kind == "app.bsky.embed.images":
        for image in embed.get("images") or ():
            url = _image_url(did, image)
            if url:
                media.append(Media(url=url, kind="image", alt=image.get("alt") or None))
    elif kind == "app.bsky.embed.video":
        url = embed.get("playlist")
        if not url:
            ref = ((embed.get("video") or {}).get("ref") or {}).get("$link")
            url = f"{_VIDEO}/{did}/{ref}/playlist.m3u8" if ref else None
        if url:
            media.append(Media(url=url, kind="video", alt=embed.get("alt") or None))
    elif kind == "app.bsky.embed.external":
        external = embed.get("external") or {}
        uri = external.get("uri")
        if uri:
            media.append(Media(url=uri, kind="link", alt=external.get("title") or None))
            if uri not in links:
                links.append(uri)
    elif kind == "app.bsky.embed.record":
        record = embed.get("record") or {}
        uri = record.get("uri")
        if record.get("$type") == "app.bsky.embed.record#viewRecord" or (
            "value" in record and "author" in record
        ):
            return _convert(record, source, "create"), uri
        return None, uri if isinstance(uri, str) else None
    elif kind == "app.bsky.embed.recordWithMedia":
        _embed(embed.get("media"), did, source, media, links)
        inner = embed.get("record")
        if isinstance(inner, Mapping) and "$type" not in inner:
            inner = {"$type": "app.bsky.embed.record", **inner}
        return _embed(inner, did, source, media, links)
    elif kind:
        raise ValueError(f"unknown embed type {kind!r}")
    return None, None


def _labels(*groups: Any) -> list[str]:
    out: list[str] = []
    for group in groups:
        # self labels come as {"values": [{"val": ...}]}
        entries = group.get("values") if isinstance(group, Mapping) else group
        for label in entries or ():
            value = label.get("val") if isinstance(label, Mapping) else None
            if isinstance(value, str) and not label.get("neg") and value not in out:
                out.append(value)
    return out


def _build(
    *,
    uri: str,
    record: Mapping[str, Any],
    author: Author,
    view: Mapping[str, Any] | None,
    source: str,
    event: Literal["create", "update", "delete"],
    raw: Mapping[str, Any],
    fallback_time: object = None,
) -> Post:
    did, collection, _rkey = _split(uri)
    if record.get("$type", POST) != POST or collection != POST:
        raise _NotAPost(f"{collection} record")
    text = record.get("text")
    if not isinstance(text, str):
        raise TypeError("record text is not a string")
    text, tags, mentions, links = _facets(text, record.get("facets"))
    text = text.strip()
    for tag in record.get("tags") or ():
        if isinstance(tag, str) and tag not in tags:
            tags.append(tag)
    media: list[Media] = []
    embed = (view or {}).get("embed") or ((view or {}).get("embeds") or [None])[0]
    quote_of, quote_uri = _embed(embed or record.get("embed"), did, source, media, links)
    if quote_uri and quote_of is None:
        quoted_url = at_uri_to_url(quote_uri)
        if quoted_url and quoted_url not in links:
            links.append(quoted_url)
    reply = record.get("reply") or {}
    langs = [lang for lang in record.get("langs") or () if isinstance(lang, str)]
    labels = _labels((view or {}).get("labels"), record.get("labels"))
    annotations: dict[str, Any] = {}
    if labels:
        annotations["labels"] = labels
    if len(langs) > 1:
        annotations["langs"] = langs
    if quote_uri and quote_of is None:
        annotations["quote_uri"] = quote_uri
    view = view or {}
    return Post(
        platform="bluesky",
        id=uri,
        key=post_key(uri),
        text=text,
        created_at=_created(record, view.get("indexedAt"), fallback_time),
        author=author,
        url=at_uri_to_url(uri),
        lang=langs[0] if langs else None,
        reply_to=(reply.get("parent") or {}).get("uri"),
        thread=(reply.get("root") or {}).get("uri") or uri,
        quote_of=quote_of,
        engagement=Engagement(
            likes=view.get("likeCount"),
            reposts=view.get("repostCount"),
            replies=view.get("replyCount"),
            quotes=view.get("quoteCount"),
        ),
        tags=tuple(tags),
        mentions=tuple(mentions),
        links=tuple(links),
        media=tuple(media),
        sensitive=bool(_SENSITIVE_LABELS.intersection(labels)),
        spoiler=", ".join(v for v in labels if v in _SENSITIVE_LABELS) or None,
        event=event,
        source=source,
        raw=raw,
        annotations=annotations,
    )


def _jetstream(event: Mapping[str, Any], source: str) -> Post:
    if event.get("kind") != "commit":
        raise _NotAPost(f"{event.get('kind')} event")
    did = str(event["did"])
    commit = event["commit"]
    operation = commit["operation"]
    collection = commit["collection"]
    uri = f"at://{did}/{collection}/{commit['rkey']}"
    time_us = event.get("time_us")
    when = datetime.fromtimestamp(time_us / 1_000_000, UTC) if isinstance(time_us, int) else None
    if collection == "app.bsky.feed.repost" and operation == "create":
        subject = (commit.get("record") or {}).get("subject") or {}
        subject_url = at_uri_to_url(str(subject.get("uri", "")))
        return Post(
            platform="bluesky",
            id=uri,
            key=post_key(uri),
            created_at=_created(commit["record"], when),
            author=_bare_author(did),
            links=(subject_url,) if subject_url else (),
            source=source,
            raw=event,
            annotations={"repost_of": subject.get("uri")},
        )
    if collection != POST:
        raise _NotAPost(f"{collection} commit")
    if operation == "delete":
        if when is None:
            raise ValueError("delete event without time_us")
        return Post(
            platform="bluesky",
            id=uri,
            key=f"{post_key(uri)}#delete",
            created_at=when,
            author=_bare_author(did),
            url=at_uri_to_url(uri),
            event="delete",
            source=source,
            raw=event,
        )
    post = _build(
        uri=uri,
        record=commit["record"],
        author=_bare_author(did),
        view=None,
        source=source,
        event="update" if operation == "update" else "create",
        raw=event,
        fallback_time=when.isoformat() if when else None,
    )
    if operation == "update":
        return attrs.evolve(post, key=f"{post.key}#update:{commit.get('rev', '')}")
    return post


def _convert(item: Mapping[str, Any], source: str, event: Literal["create", "update"]) -> Post:
    if "post" in item and isinstance(item["post"], Mapping):  # feedViewPost
        post = _convert(item["post"], source, event)
        reason = item.get("reason")
        if isinstance(reason, Mapping) and str(reason.get("$type", "")).endswith("reasonRepost"):
            by = _author(reason["by"])
            repost_uri = reason.get("uri") or f"{post.id}#repost:{by.id}"
            return Post(
                platform="bluesky",
                id=repost_uri,
                key=post_key(repost_uri),
                created_at=_time(reason.get("indexedAt")),
                author=by,
                url=post.url,
                repost_of=post,
                source=source,
                raw=item,
            )
        return post
    if "kind" in item and "did" in item:  # Jetstream event
        return _jetstream(item, source)
    uri = str(item["uri"])
    if "record" in item and isinstance(item.get("reason"), str):  # notification
        post = _build(
            uri=uri,
            record=item["record"],
            author=_author(item["author"]),
            view=None,
            source=source,
            event=event,
            raw=item,
            fallback_time=item.get("indexedAt"),
        )
        return post.annotate(notification=item["reason"])
    record = item.get("record") if "record" in item else item.get("value")
    if not isinstance(record, Mapping):
        raise TypeError("no record")
    author = item.get("author")
    return _build(
        uri=uri,
        record=record,
        author=_author(author) if isinstance(author, Mapping) else _bare_author(_split(uri)[0]),
        view=item,
        source=source,
        event=event,
        raw=item,
    )


def maybe_post(item: Mapping[str, Any], /, *, source: str = "") -> Post | None:
    """
    Like :func:`to_post`, but ``None`` for valid items that are not posts (likes, follows,
    account and identity events, like/follow notifications).
    """
    try:
        return _convert(item, source, "create")
    except _NotAPost:
        return None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DecodeError(
            f"{source or 'bluesky'}: not a Bluesky post ({type(exc).__name__}: {exc})",
            source=source or "bluesky",
            payload=item,
        ) from exc


def to_post(item: Mapping[str, Any], /, *, source: str = "") -> Post:
    """
    Map one Bluesky item, exactly as the API returns it, to a post.

    Accepts a ``postView`` (searchPosts, getPosts), a ``feedViewPost`` (getAuthorFeed,
    getFeed, getTimeline; a repost becomes a post whose :attr:`~Post.repost_of` is the
    original), a notification (listNotifications; ``annotations["notification"]`` is its
    reason), an embedded ``viewRecord``, a ``{uri, value}`` record (getRecord) or a Jetstream
    commit event (create, update, delete).

    Raises:
        DecodeError: The item is malformed or is not a post (a like, a follow, ...).
    """
    post = maybe_post(item, source=source)
    if post is None:
        raise DecodeError(
            f"{source or 'bluesky'}: this item is not a post",
            source=source or "bluesky",
            payload=item,
        )
    return post
