"""
RSS 0.9x/1.0/2.0, Atom and JSON Feed, parsed with feedparser (the ``feeds`` extra).

:func:`parse` maps one fetched document to posts; :class:`FeedsSource` polls many feeds
concurrently (with a limit per host), using conditional GET (``ETag``/``If-Modified-Since``)
and remembering, per feed, which entries it has already emitted. All of that lives in the
source's cursor, a JSON object of per-feed state, so it is committed with the posts.
"""

from __future__ import annotations

import asyncio
import calendar
import copy
import functools
import hashlib
import html.entities
import importlib.util
import itertools
import json
import logging
import os
import pickle
import re
import ssl
import sys
import urllib.parse
import urllib.request
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import attrs
import httpx
from anyio.streams.buffered import BufferedByteReceiveStream

from .. import _http
from .._html import html_to_text
from ..exceptions import FetchError, MissingExtraError
from ..model import Author, Malformed, Media, Page, Post
from ._feedget import FeedGetter, Fetched, GetError
from ._web import PollingSource, dump_cursor, load_cursor, request


if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["FeedsSource", "parse"]

log = logging.getLogger("socialplug.sources.feeds")

_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
# The types whose markup feedparser sanitizes and resolves (its ``html_types``).
_MARKUP_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@functools.cache
def _feedparser() -> ModuleType:
    try:
        import feedparser  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("feedparser", extra="feeds") from exc
    module: ModuleType = feedparser
    # feedparser asks xml.sax for libxml2's driver first; when it is absent the failed
    # import is retried (and the file system searched) on every parse. Skip the search.
    if importlib.util.find_spec("drv_libxml2") is None:
        module.api.PREFERRED_XML_PARSERS = []
    # Expat's reader handing over text whole (see _feedsax), unless a driver is preferred.
    if module.api.PREFERRED_XML_PARSERS == []:
        module.api.PREFERRED_XML_PARSERS = [f"{__package__}._feedsax"]
    # At every element feedparser joins the base URI with itself (to keep it absolute and
    # safe): a third of its time on a typical feed. Remember the answers.
    mixin = module.mixin
    if not hasattr(mixin.make_safe_absolute_uri, "cache_info"):
        mixin.make_safe_absolute_uri = _remembering(mixin.make_safe_absolute_uri, module.urls)
    # Every link it resolves goes through urllib's urljoin: plain ones are joined directly.
    if getattr(module.urls._urljoin, "__wrapped__", None) is None:
        module.urls._urljoin = module.mixin._urljoin = _feedparser_urljoin(module.urls)
    _quicken(module.util.FeedParserDict)
    return module


# Types whose values copy.deepcopy returns as they are.
_ATOMIC = frozenset({str, int, float, bool, bytes, type(None)})


def _quicken(fpd: Any) -> None:
    """
    Two shortcuts in feedparser's ``FeedParserDict``, the mapping it reads and writes at
    every element (a sixth of a parse), each giving what the original gives.

    ``get`` of a key that feedparser neither maps to another nor computes is a plain dict
    lookup. ``copy.deepcopy`` (of the parameters of every text construct) does not look
    for ``__deepcopy__`` through ``__getattr__`` nor reduce the mapping: values that deep
    copying returns as they are, it keeps.
    """
    if "__deepcopy__" in vars(fpd) or not isinstance(getattr(fpd, "keymap", None), dict):
        return  # done already, or not the mapping this was written for
    special = frozenset({"category", "enclosures", "license", "updated", "updated_parsed"})
    mapped = special | frozenset(fpd.keymap)
    get = fpd.get

    def quick_get(self: Any, key: Any, default: Any = None) -> Any:
        if key in mapped:
            return get(self, key, default)
        return dict.get(self, key, default)

    def deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        cls: Any = type(self)
        copied = cls.__new__(cls)
        memo[id(self)] = copied
        if vars(self):
            vars(copied).update(copy.deepcopy(vars(self), memo))
        for key, value in dict.items(self):
            key = key if type(key) in _ATOMIC else copy.deepcopy(key, memo)  # noqa: PLW2901
            copied[key] = value if type(value) in _ATOMIC else copy.deepcopy(value, memo)
        return copied

    fpd.get = quick_get
    fpd.__deepcopy__ = deepcopy


def _remembering(join: Callable[..., str], urls: ModuleType) -> Callable[..., str]:
    """*join* (feedparser's ``make_safe_absolute_uri``) with its recent answers cached."""
    cached = functools.lru_cache(maxsize=256)(join)
    schemes = urls.ACCEPTABLE_URI_SCHEMES

    def make_safe_absolute_uri(base: str, rel: str | None = None) -> str:
        nonlocal schemes
        if urls.ACCEPTABLE_URI_SCHEMES is not schemes:  # the answers depend on them
            schemes = urls.ACCEPTABLE_URI_SCHEMES
            cached.cache_clear()
        return cached(base, rel)

    make_safe_absolute_uri.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return make_safe_absolute_uri


# A plain base URL (lowercase http(s), a host of letters, digits and "._~:@-", anything
# printable after it) and plain references: an absolute path or an http(s) URL of characters
# that need no quoting, without ";" (path parameters), "[" or whitespace, and a query or
# fragment, if any, that is not empty. For those, urllib's urljoin returns the base's scheme
# and host followed by the path (which has no "." or ".." segments, no "//"), or the URL
# itself: what _urljoin gives without parsing either.
_PLAIN_BASE = re.compile(r"(https?://[A-Za-z0-9._~:@-]+)(?:[/?#][^\x00-\x20\x7f]*)?")
_PLAIN_REST = r"(?:\?[^#\x00-\x20\x7f]+)?(?:#[^\x00-\x20\x7f]+)?"
_PLAIN_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~!$&'()*+,=:@%/-]*" + _PLAIN_REST)
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9._~:@-]+(?:/[A-Za-z0-9._~!$&'()*+,=:@%/-]*)?" + _PLAIN_REST
)
_DOT_SEGMENT = re.compile(r"//|/\.\.?(?:/|$)")


def _urljoin(base: str, url: str) -> str:
    """``urllib.parse.urljoin(base, url)``, without parsing a plain *base* and *url*."""
    if type(url) is not str or type(base) is not str:
        pass  # urljoin's own errors
    elif url[:1] == "/":
        found = _PLAIN_BASE.fullmatch(base)
        if found is not None and _PLAIN_PATH.fullmatch(url) is not None:
            path = url.partition("?")[0].partition("#")[0]
            if _DOT_SEGMENT.search(path) is None:
                return found.group(1) + url
    elif url[:4] == "http" and _PLAIN_URL.fullmatch(url) and _PLAIN_BASE.fullmatch(base):
        return url
    return urllib.parse.urljoin(base, url)


def _feedparser_urljoin(urls: ModuleType) -> Callable[[str, str], str]:
    """feedparser's ``_urljoin`` (it fixes the slashes after a scheme) with :func:`_urljoin`."""
    original, fixer = urls._urljoin, urls._urifixer

    @functools.wraps(original)
    def join(base: str, uri: str) -> str:
        uri = fixer.sub(r"\1\3", uri)
        try:
            return _urljoin(base, uri)
        except ValueError:
            return ""

    return join


@functools.cache
def _cleaner() -> Any:
    """feedparser's URI resolver and HTML sanitizer as one parser: one pass, not two."""
    module = _feedparser()

    def handle_entityref(self: Any, ref: str) -> None:
        if ref in html.entities.name2codepoint or ref == "apos":
            self.pieces.append(f"&{ref};")
        else:  # the resolver writes "&amp;" + ref, which the sanitizer reads back as such
            self.pieces.append("&amp;")
            self.handle_data(ref)

    # Each start tag has its URIs resolved, then the sanitizer keeps or drops it.
    bases = (module.urls.RelativeURIResolver, module.sanitizer._HTMLSanitizer)
    return type("_Cleaner", bases, {"handle_entityref": handle_entityref})


def _clean(value: str, detail: Mapping[str, Any] | None) -> str:
    """
    *value*, the content of a feedparser text construct, as feedparser's sanitizing and
    relative URI resolution would leave it.

    :func:`_parse` turns both off in feedparser, which would clean every text construct
    of a document, in two passes each; only those a post keeps are cleaned, here.
    """
    kind = ((detail or {}).get("type") or "").lower()
    if not value or kind not in _MARKUP_TYPES:
        return value
    base = (detail or {}).get("base") or ""
    comment = value.rfind("<!--")
    if "<![" in value or (comment >= 0 and "-->" not in value[comment + 4 :]):
        # Where one pass and two differ (the resolver leaves the rest of the markup as
        # text, for the sanitizer to read): feedparser's two passes.
        module = _feedparser()
        resolved = module.urls.resolve_relative_uris(value, base, "utf-8", kind)
        return str(module.sanitizer._sanitize_html(resolved, "utf-8", kind))
    cleaner = _cleaner()(base, "utf-8", kind)
    if not _feed_simple(cleaner, value):
        cleaner.feed(value)
    return str(cleaner.output()).strip().replace("\r\n", "\n")


# Markup made of text, entity and character references, and tags whose attributes are all
# name="value" without "&<>: the tokens of which sgmllib (the bulk of cleaning) and these
# expressions read alike. Anything else (comments, declarations, a bare "&", unquoted
# values, "/ >") goes through sgmllib.
_SIMPLE_MARKUP = re.compile(
    r'(?:[^<&]++|<(?:[a-zA-Z][a-zA-Z0-9]*+(?:\s++[a-zA-Z][-a-zA-Z0-9]*+="[^"<>&]*+")*+\s*+/?'
    r"|/[a-zA-Z][a-zA-Z0-9]*+\s*+)>|&(?:[a-zA-Z][a-zA-Z0-9]*+|#[0-9]{1,10}|#[xX][0-9a-fA-F]{1,8});)*+"
)  # fmt: skip
_SIMPLE_TOKEN = re.compile(
    r'[^<&]+|<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z][-a-zA-Z0-9]*="[^"]*")*)\s*(/?)>'
    r"|&(?:([a-zA-Z][a-zA-Z0-9]*)|#([0-9]+|[xX][0-9a-fA-F]+));"
)
_SIMPLE_ATTR = re.compile(r'([a-zA-Z][-a-zA-Z0-9]*)="([^"]*)"')
# What _BaseHTMLProcessor.feed does to the markup before sgmllib reads it.
_DECLARATION = re.compile(r"<!((?!DOCTYPE|--|\[))", re.IGNORECASE)
_SHORT_TAG = re.compile(r"<([^<>\s]+?)\s*/>")


def _feed_simple(cleaner: Any, value: str) -> bool:
    """
    Clean *value* with *cleaner*'s own handlers, tokenized here, if it is simple markup
    (else ``False``, *cleaner* untouched). The handlers are called as sgmllib calls them:
    text runs, ``&name;`` and ``&#ref;`` references, start tags with their attributes
    (names lowercased, values as written), end tags; a start tag closed with ``/>`` is
    also ended in XHTML.
    """
    value = _DECLARATION.sub(r"&lt;!\1", value)
    value = _SHORT_TAG.sub(cleaner._shorttag_replace, value)
    value = value.replace("&#39;", "'").replace("&#34;", '"')
    if not _SIMPLE_MARKUP.fullmatch(value):
        return False
    xhtml = cleaner._type == "application/xhtml+xml"
    for token in _SIMPLE_TOKEN.finditer(value):
        closing, tag, attrs, slash, entity, char = token.groups()
        if tag is not None:
            if closing:
                cleaner.unknown_endtag(tag.lower())
                continue
            pairs = [(k.lower(), v) for k, v in _SIMPLE_ATTR.findall(attrs)]
            cleaner.unknown_starttag(tag.lower(), pairs)
            if slash and xhtml:
                cleaner.unknown_endtag(tag.lower())
        elif entity is not None:
            cleaner.handle_entityref(entity)
        elif char is not None:
            cleaner.handle_charref(char)
        else:
            cleaner.handle_data(token.group())
    return True


def _when(parsed: object) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


_BARE_TIMESTAMP = re.compile(r"\s*(\d{9,13})(?:\.\d+)?\s*")


def _entry_time(entry: Mapping[str, Any]) -> datetime | None:
    """The entry's date; a bare epoch timestamp (which feedparser reads as a year) is kept."""
    for field in ("published", "updated", "created"):
        raw = entry.get(field)
        match = _BARE_TIMESTAMP.fullmatch(raw) if isinstance(raw, str) else None
        if match:
            number = int(match.group(1))
            return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=UTC)
        when = _when(entry.get(f"{field}_parsed"))
        if when is not None:
            return when
    return None


def _text_of(
    detail: Mapping[str, Any] | None, value: str
) -> tuple[str, str | None, tuple[str, ...]]:
    """
    Plain text, markup (``None`` for plain text) and links of a feedparser text construct
    whose *value* :func:`_clean` has cleaned.
    """
    kind = (detail or {}).get("type") or "text/html"
    if kind.startswith(_HTML_TYPES):
        parsed = html_to_text(value)
        base = (detail or {}).get("base") or ""
        links = tuple(dict.fromkeys(_urljoin(base, href) for href in parsed.links))
        return parsed.text, value or None, links
    return value.strip(), None, ()


def _entry_id(entry: Mapping[str, Any], title: str, body: str) -> str:
    for field in ("id", "link"):
        value = entry.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    digest = hashlib.sha256(f"{title}\x1f{body}".encode()).hexdigest()[:32]
    return f"sha256:{digest}"


def _key(entry_id: str, feed_url: str) -> str:
    """A global entry id (a URL, ``urn:``, ``tag:``) is the key; another is scoped to its feed."""
    if "://" in entry_id or entry_id.startswith(("urn:", "tag:")):
        return f"feed:{entry_id}"
    return f"feed:{feed_url}#{entry_id}"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _absolute(base: str, href: str) -> str:
    """*href* resolved against *base* if it is relative; an absolute URL is kept as written."""
    if _SCHEME.match(href):
        return href
    try:
        return _urljoin(base, href)
    except ValueError:  # a malformed base (an unclosed IPv6 bracket)
        return href


def _media(entry: Mapping[str, Any], base: str) -> list[Media]:
    """Enclosures, ``media:content`` and ``media:thumbnail``; relative URLs against *base*."""
    found: list[Media] = []
    urls: set[str] = set()

    def add(url: object, kind: str, alt: str | None = None) -> None:
        if isinstance(url, str) and url.strip():
            url = _absolute(base, url.strip())
            if url not in urls:
                urls.add(url)
                found.append(Media(url=url, kind=kind, alt=alt))

    for link in entry.get("links") or ():
        if link.get("rel") == "enclosure":
            mime = link.get("type") or ""
            kind = (
                mime.split("/")[0] if mime.split("/")[0] in ("image", "video", "audio") else "link"
            )
            add(link.get("href"), kind)
    for item in entry.get("media_content") or ():
        medium = item.get("medium") or (item.get("type") or "image").split("/")[0]
        add(item.get("url"), medium if medium in ("image", "video", "audio") else "image")
    for item in entry.get("media_thumbnail") or ():
        add(item.get("url"), "image")
    return found


def _entry(
    fields: Mapping[str, Any],
    *,
    feed: Mapping[str, Any],
    url: str,
    fallback_time: datetime,
    source: str,
) -> Post:
    # A plain dict: feedparser's own mapping translates each key on every access, and
    # falls back from a missing ``updated`` to ``published`` (tried first here anyway).
    entry = dict(fields)
    title_detail = entry.get("title_detail")
    title_raw = _clean(entry.get("title") or "", title_detail)
    title, _, _ = _text_of(title_detail, title_raw)
    contents = entry.get("content") or ()
    chosen = dict(contents[0]) if contents else None
    if chosen is not None:
        text, markup, found = _text_of(chosen, _clean(chosen.get("value") or "", chosen))
    else:
        summary_detail = entry.get("summary_detail")
        summary = _clean(entry.get("summary") or "", summary_detail)
        text, markup, found = _text_of(summary_detail, summary)
    entry_id = _entry_id(entry, title, markup or text)
    link = entry.get("link") or None
    links = [link] if link else []
    links.extend(href for href in found if href not in links)
    created = _entry_time(entry) or fallback_time
    detail = entry.get("author_detail") or {}
    author = Author(
        id=detail.get("email") or "",
        handle=detail.get("email") or "",
        name=entry.get("author") or detail.get("name") or "",
        url=detail.get("href"),
    )
    lang = (chosen or entry.get("summary_detail") or {}).get("language") or feed.get("language")
    # The entry's base URI (its xml:base, else the document's), as feedparser tracked it.
    details = (title_detail, entry.get("summary_detail"), chosen)
    base = next((d["base"] for d in details if d and d.get("base")), url)
    return Post(
        platform="feed",
        id=entry_id,
        key=_key(entry_id, url),
        text=text or title,
        html=markup,
        title=title or None,
        created_at=created,
        author=author,
        url=link,
        lang=lang or None,
        tags=[t["term"] for t in entry.get("tags") or () if t.get("term")],
        links=links,
        media=_media(entry, base),
        source=source,
        raw={"entry_id": entry_id, "feed": url, "title": title_raw, "link": link},
    )


def _parse(
    data: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
    source: str = "",
) -> tuple[list[Post], list[Malformed], str | None]:
    """Posts, entries that failed, and why the whole document is not a feed (or ``None``)."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return _parse_json_feed(data, url=url, fetched_at=fetched_at, source=source)
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    response_headers.setdefault("content-type", "application/xml")
    response_headers["content-location"] = url
    # Markup is sanitized (scripts, event handlers) and its relative URIs resolved by
    # _clean, only in the text constructs a post keeps.
    doc = _feedparser().parse(
        data,
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if not doc.get("version") and not doc.entries:
        reason = doc.get("bozo_exception") or "no feed found"
        return (
            [],
            [],
            f"not a feed: {type(reason).__name__ if not isinstance(reason, str) else reason}",
        )
    feed = doc.get("feed") or {}
    # feedparser's mapping gives the feed's ``published`` when it has no ``updated``.
    fallback = _when(feed.get("updated_parsed")) or fetched_at or datetime.now(UTC)
    posts: list[Post] = []
    malformed: list[Malformed] = []
    for entry in doc.entries:
        try:
            posts.append(_entry(entry, feed=feed, url=url, fallback_time=fallback, source=source))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            malformed.append(
                Malformed(
                    reason=f"{url}: {type(exc).__name__}: {exc}",
                    payload=json.dumps(dict(entry), ensure_ascii=False, default=str),
                    source=source,
                )
            )
    return posts, malformed, None


def _json_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _json_item(
    item: object, *, feed: Mapping[str, Any], url: str, fallback: datetime, source: str
) -> Post:
    if not isinstance(item, Mapping):
        msg = f"item is {type(item).__name__}, not an object"
        raise TypeError(msg)
    link = _urljoin(url, item["url"]) if isinstance(item.get("url"), str) else None
    title = str(item.get("title") or "")
    markup = item.get("content_html") if isinstance(item.get("content_html"), str) else None
    parsed = html_to_text(markup) if markup else None
    text = parsed.text if parsed else str(item.get("content_text") or item.get("summary") or "")
    entry_id = str(item.get("id") or "") or link or _entry_id({}, title, markup or text)
    authors = (
        item.get("authors")
        or feed.get("authors")
        or [item.get("author") or feed.get("author") or {}]
    )
    first = authors[0] if authors and isinstance(authors[0], Mapping) else {}
    links = [link] if link else []
    external = item.get("external_url")
    if isinstance(external, str) and external not in links:
        links.append(_urljoin(url, external))
    if parsed:
        links.extend(_urljoin(url, h) for h in parsed.links if _urljoin(url, h) not in links)
    media = [Media(url=_urljoin(url, item["image"]), kind="image")] if item.get("image") else []
    for att in item.get("attachments") or ():
        if isinstance(att, Mapping) and att.get("url"):
            kind = str(att.get("mime_type") or "").split("/")[0]
            media.append(Media(url=_urljoin(url, att["url"]),
                               kind=kind if kind in ("image", "video", "audio") else "link"))  # fmt: skip
    return Post(
        platform="feed",
        id=entry_id,
        key=_key(entry_id, url),
        text=text or title,
        html=markup,
        title=title or None,
        created_at=_json_time(item.get("date_published"))
        or _json_time(item.get("date_modified"))
        or fallback,
        author=Author(name=str(first.get("name") or ""), url=first.get("url")),
        url=link,
        lang=item.get("language") or feed.get("language"),
        tags=[str(t) for t in item.get("tags") or ()],
        links=links,
        media=media,
        source=source,
        raw={"entry_id": entry_id, "feed": url, "title": title, "link": link},
    )


def _parse_json_feed(
    data: bytes, *, url: str, fetched_at: datetime | None, source: str
) -> tuple[list[Post], list[Malformed], str | None]:
    """JSON Feed 1.0/1.1, which feedparser does not read."""
    try:
        feed = json.loads(data)
    except ValueError as exc:
        return [], [], f"not a feed: invalid JSON ({exc})"
    if not isinstance(feed, Mapping) or not str(feed.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        return [], [], "not a feed: JSON without a JSON Feed version"
    fallback = fetched_at or datetime.now(UTC)
    posts: list[Post] = []
    malformed: list[Malformed] = []
    for item in feed.get("items") or ():
        try:
            posts.append(_json_item(item, feed=feed, url=url, fallback=fallback, source=source))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            malformed.append(
                Malformed(
                    reason=f"{url}: {type(exc).__name__}: {exc}",
                    payload=json.dumps(item, ensure_ascii=False, default=str),
                    source=source,
                )
            )
    return posts, malformed, None


def parse(
    data: bytes,
    /,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
    source: str = "",
) -> list[Post]:
    """
    Parse one fetched feed document into posts, in document order.

    *url* is where the document was fetched from: relative links resolve against it (and
    ``xml:base``). *headers* are the response headers, if known (the ``Content-Type`` charset
    guides decoding, as feedparser does). Entries without a usable date take the feed's date,
    then *fetched_at* (default: now). Ill-formed documents are parsed as far as feedparser
    can; a document that is no feed at all gives ``[]``.

    Raises:
        MissingExtraError: feedparser is not installed (``pip install 'socialplug[feeds]'``).
    """
    posts, _, _ = _parse(data, url=url, headers=headers, fetched_at=fetched_at, source=source)
    return posts


def _parse_in_worker(
    data: bytes, url: str, headers: dict[str, str], source: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], str | None]:
    """:func:`_parse` in a worker process; returns picklable values."""
    posts, malformed, problem = _parse(data, url=url, headers=headers, source=source)
    return [p.to_dict() for p in posts], [(m.reason, m.payload) for m in malformed], problem


_FEEDS_PER_TASK = 32  # feeds a worker process polls per task


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for the clients of every source and worker task (loading CAs is slow)."""
    return httpx.create_ssl_context()


@functools.cache
def _proxied() -> bool:
    """Whether the environment names a proxy (httpx honours it; the source's own GET not)."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


def _urls(urls: Iterable[str]) -> tuple[str, ...]:
    return tuple(urls)


def _short(post: Post) -> str:
    return hashlib.blake2b(post.key.encode(), digest_size=6).hexdigest()


@attrs.frozen
class _Outcome:
    url: str
    state: dict[str, Any] | None  # None: unchanged (304 or failure)
    posts: list[Post]
    malformed: list[Malformed]
    error: str | None = None  # why the feed failed this cycle
    unreachable: bool = False  # the request failed (else: the document is no feed)

    def to_tuple(self) -> tuple[Any, ...]:
        """Picklable and cheap to pickle: posts as dicts."""
        posts = [post.to_dict() for post in self.posts]
        bad = [(m.reason, m.payload, m.source) for m in self.malformed]
        return self.url, self.state, posts, bad, self.error, self.unreachable

    @classmethod
    def from_tuple(cls, values: tuple[Any, ...]) -> _Outcome:
        url, state, posts, bad, error, unreachable = values
        return cls(
            url=url,
            state=state,
            posts=[Post.from_dict(post) for post in posts],
            malformed=[Malformed(reason=r, payload=p, source=s) for r, p, s in bad],
            error=error,
            unreachable=unreachable,
        )


@attrs.frozen
class _Plan:
    """
    Who polls which feeds when several lanes (the event loop, worker processes) poll.

    A host whose ``per_host`` lets every lane have a request in flight is *shared*: any
    lane takes its feeds, with ``per_host // lanes`` requests each. Another host is
    *private* to one lane (the least busy), with all of ``per_host``.
    """

    private: list[list[int]]  # per lane: feeds of its own hosts (indexes into urls)
    shared: list[int]  # feeds any lane takes
    limits: list[dict[str, int]]  # per lane: requests in flight per host

    @classmethod
    def of(cls, by_host: Mapping[str, list[int]], lanes: int, per_host: int) -> _Plan:
        private: list[list[int]] = [[] for _ in range(lanes)]
        shared: list[int] = []
        limits: list[dict[str, int]] = [{} for _ in range(lanes)]
        for host, indexes in by_host.items():
            if per_host >= lanes:
                shared.extend(indexes)
                for own in limits:
                    own[host] = per_host // lanes
            else:
                lane = min(range(lanes), key=lambda i: len(private[i]))
                private[lane].extend(indexes)
                limits[lane][host] = per_host
        return cls(private=private, shared=shared, limits=limits)


@attrs.define(eq=False, kw_only=True)
class FeedsSource(PollingSource):
    """
    Poll many feeds concurrently, emitting each entry once.

    Args:
        urls: The feeds (RSS, Atom or JSON Feed).
        per_host: Requests in flight per host at most.
        concurrency: Requests in flight overall at most.
        seen_limit: Entry ids remembered per feed (the newest; an entry that falls out of
            the feed and reappears later is emitted again).
        page_size: Posts per page at most (a page holds whole feeds, so it may exceed it).
        client: Send requests with this client. *You* own it. If omitted the source
            sends its GETs itself (HTTP/1.1 with h11 over anyio streams: connections kept
            per host, redirects followed, gzip and deflate decoded, TLS as httpx sets it
            up), at a fifth of httpx's CPU time per request, and closes its connections
            in :meth:`aclose`; when the environment names a proxy (``HTTP_PROXY`` and
            the like) it creates an httpx client instead.
        retry: Retries per feed; a feed that still fails is skipped this cycle, logged and
            listed in :attr:`errors`, and never stops the others.
        parse_workers: Poll with this many worker processes besides the event loop: the
            loop and each worker take the next few dozen feeds when they are free and fetch
            and parse them (a worker with connections of its own), so that the CPU time of
            feedparser spreads over the cores: worth it on cores that are otherwise idle
            (on a busy machine the loop alone is faster, see the docs). A host's
            ``per_host`` is shared out among them (a host whose ``per_host`` is smaller
            than their number is left to one). With an injected *client*, which cannot
            move to another process, the loop fetches and the workers only parse. The
            workers start on first use and stay until :meth:`aclose`; they do not run the
            ``__main__`` module again (no ``if __name__ == "__main__":`` guard needed), and
            the feeds of a worker that ends are polled by the loop. ``0``: the event loop
            polls alone.

    Attributes:
        errors: Feed URL to the reason it failed in the last cycle.

    .. versionadded:: 0.1.0
    """

    urls: Sequence[str] = attrs.field(converter=_urls)
    per_host: int = 4
    concurrency: int = 32
    seen_limit: int = 500
    page_size: int = 500
    client: httpx.AsyncClient | None = None
    poll_interval: float = 300.0
    retry: _http.RetryPolicy = attrs.field(
        factory=lambda: _http.RetryPolicy(attempts=3, timeout=60.0)
    )
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    name: str = attrs.field()
    parse_workers: int = 0
    errors: dict[str, str] = attrs.field(factory=dict, init=False)
    _parsers: anyio.CapacityLimiter | None = attrs.field(default=None, init=False, repr=False)
    _workers: _Workers | None = attrs.field(default=None, init=False, repr=False)
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)
    _getter: FeedGetter | None = attrs.field(default=None, init=False, repr=False)
    _hosts: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)  # url: host

    @name.default
    def _default_name(self) -> str:
        return f"feed:{self.urls[0]}" if len(self.urls) == 1 else "feeds"

    def __attrs_post_init__(self) -> None:
        _feedparser()

    async def aclose(self) -> None:
        """Close the client created here and stop the worker processes (idempotent)."""
        workers, self._workers = self._workers, None
        if workers is not None:
            await workers.aclose()
        getter, self._getter = self._getter, None
        if getter is not None:
            await getter.aclose()
        await super().aclose()

    def _get_workers(self) -> _Workers:
        if self._workers is None:
            self._workers = _Workers()
        return self._workers

    def _new_client(self) -> httpx.AsyncClient:
        return _http.new_client(
            transport=httpx.AsyncHTTPTransport(
                verify=_tls_context(),
                limits=httpx.Limits(
                    max_connections=self.concurrency,
                    max_keepalive_connections=self.concurrency,
                ),
            )
        )

    def _host(self, url: str) -> str:
        host = self._hosts.get(url)
        if host is None:
            host = self._hosts[url] = httpx.URL(url).host
        return host

    def _get_getter(self) -> FeedGetter | None:
        """The source's own GET (:mod:`._feedget`), unless a client or a proxy is in play."""
        if self.client is not None:
            return None
        if self._getter is None:
            if _proxied():
                return None
            self._getter = FeedGetter(
                tls=_tls_context, user_agent=_http.USER_AGENT, keep=self.concurrency
            )
        return self._getter

    async def _get(self, url: str, host: str, state: Mapping[str, Any]) -> Fetched:
        headers: dict[str, str] = {"Accept": "application/atom+xml, application/rss+xml, "
                                   "application/feed+json, application/xml;q=0.9, */*;q=0.8"}  # fmt: skip
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("modified"):
            headers["If-Modified-Since"] = state["modified"]
        getter = self._get_getter()
        if getter is None:
            response = await request(
                self._get_client(),
                "GET",
                url,
                headers=headers,
                source=self.name,
                server=host,
                retry=self.retry,
                sleep=self.sleep,
                also_ok=(304,),
            )
            return Fetched(
                status_code=response.status_code,
                url=str(response.url),
                headers=dict(response.headers),
                content=response.content,
            )

        async def once() -> Fetched:
            try:
                fetched = await getter.get(url, headers)
            except GetError as exc:
                raise FetchError(
                    f"{self.name}: {host}: {exc.kind}", source=self.name, retryable=exc.retryable
                ) from exc
            if 200 <= fetched.status_code < 300 or fetched.status_code == 304:
                return fetched
            raise _http.fetch_error(fetched, source=self.name, server=host)

        return await _http.call_with_retry(self.retry, once, sleep=self.sleep)

    async def _parse_response(
        self, response: Fetched
    ) -> tuple[list[Post], list[Malformed], str | None]:
        url, headers = response.url, response.headers
        if self._parsers is None:
            return _parse(response.content, url=url, headers=headers, source=self.name)
        try:
            async with self._parsers:
                dicts, bad, problem = await self._get_workers().call(
                    ("parse", (response.content, url, headers, self.name))
                )
        except _BrokenWorkerError as exc:  # parse it here instead
            log.warning("%s: a worker process failed: %s", self.name, exc)
            return _parse(response.content, url=url, headers=headers, source=self.name)
        posts = [Post.from_dict(d) for d in dicts]
        return posts, [Malformed(reason=r, payload=p, source=self.name) for r, p in bad], problem

    async def _one(
        self, url: str, host: str, state: Mapping[str, Any], overall: anyio.CapacityLimiter
    ) -> _Outcome:
        try:
            async with overall:
                response = await self._get(url, host, state)
        except FetchError as exc:
            log.warning("%s: feed %s failed: %s", self.name, url, exc)
            return _Outcome(
                url=url, state=None, posts=[], malformed=[], error=str(exc), unreachable=True
            )
        if response.status_code == 304:
            return _Outcome(url=url, state=None, posts=[], malformed=[])
        posts, malformed, problem = await self._parse_response(response)
        if problem is not None:
            snippet = response.content[:2000].decode("utf-8", "replace")
            return _Outcome(
                url=url,
                state=None,
                posts=[],
                malformed=[
                    Malformed(reason=f"{url}: {problem}", payload=snippet, source=self.name)
                ],
                error=problem,
            )
        seen = set(state.get("seen", ()))
        fresh = [post for post in posts if _short(post) not in seen]
        fresh.reverse()  # feeds list newest first; emit oldest first
        fresh.sort(key=lambda post: post.created_at)
        new_state: dict[str, Any] = {"seen": [_short(post) for post in posts][: self.seen_limit]}
        if response.headers.get("etag"):
            new_state["etag"] = response.headers["etag"]
        if response.headers.get("last-modified"):
            new_state["modified"] = response.headers["last-modified"]
        if new_state == state and not fresh:  # the same document again, no validators
            return _Outcome(url=url, state=None, posts=[], malformed=malformed)
        return _Outcome(url=url, state=new_state, posts=fresh, malformed=malformed)

    async def _cycle(self, feeds: Mapping[str, Any]) -> list[_Outcome]:
        """One outcome per feed, in the order of :attr:`urls`."""
        by_host: dict[str, list[int]] = {}
        for index, url in enumerate(self.urls):
            by_host.setdefault(self._host(url), []).append(index)
        outcomes: list[_Outcome | None] = [None] * len(self.urls)
        self._parsers = None
        if self.parse_workers > 0 and self.client is None:
            await self._cycle_in_lanes(feeds, by_host, outcomes)
        else:
            if self.parse_workers > 0:
                self._parsers = anyio.CapacityLimiter(self.parse_workers)
            limits = dict.fromkeys(by_host, self.per_host)
            await self._fetch(feeds, by_host, limits, self.concurrency, outcomes)
        done = [o for o in outcomes if o is not None]
        self.errors = {o.url: o.error for o in done if o.error is not None}
        return done

    async def _fetch(
        self,
        feeds: Mapping[str, Any],
        by_host: Mapping[str, list[int]],
        limits: Mapping[str, int],
        concurrency: int,
        outcomes: list[_Outcome | None],
    ) -> None:
        """Poll the feeds of *by_host* here, at most *limits* requests in flight per host."""
        overall = anyio.CapacityLimiter(concurrency)

        async def fetch(host: str, indexes: Iterator[int]) -> None:
            for index in indexes:  # shared by the host's fetchers: each feed is taken once
                url = self.urls[index]
                outcomes[index] = await self._one(url, host, feeds.get(url, {}), overall)

        # A host's fetchers each take its next feed: no more than its limit of requests are
        # in flight, without a task waiting per feed.
        async with anyio.create_task_group() as tg:
            for host, indexes in by_host.items():
                queue = iter(indexes)
                for _ in range(min(limits[host], len(indexes))):
                    tg.start_soon(fetch, host, queue)

    async def _cycle_in_lanes(
        self,
        feeds: Mapping[str, Any],
        by_host: Mapping[str, list[int]],
        outcomes: list[_Outcome | None],
    ) -> None:
        """
        The event loop and the worker processes (the lanes) poll the feeds, each taking the
        next few dozen as it becomes free: work spreads itself while workers start.
        """
        lanes = 1 + self.parse_workers
        plan = _Plan.of(by_host, lanes, self.per_host)
        concurrency = max(1, self.concurrency // lanes)
        options = _ShareOptions(
            name=self.name,
            per_host=self.per_host,
            concurrency=concurrency,
            seen_limit=self.seen_limit,
            retry=self.retry,
        )
        processes = anyio.CapacityLimiter(self.parse_workers)

        def tasks(indexes: list[int]) -> Iterator[list[int]]:
            # A few dozen feeds per task: what a worker holds at once stays small.
            for start in range(0, len(indexes), _FEEDS_PER_TASK):
                yield indexes[start : start + _FEEDS_PER_TASK]

        shared = tasks(plan.shared)  # one queue, taken from by every lane

        async def here(private: list[int], limits: dict[str, int]) -> None:
            for indexes in itertools.chain(tasks(private), shared):
                hosts: dict[str, list[int]] = {}
                for index in indexes:
                    hosts.setdefault(self._hosts[self.urls[index]], []).append(index)
                await self._fetch(feeds, hosts, limits, concurrency, outcomes)

        async def worker(private: list[int], limits: dict[str, int]) -> None:
            for indexes in itertools.chain(tasks(private), shared):
                urls = [self.urls[index] for index in indexes]
                states = {url: feeds[url] for url in urls if url in feeds}
                try:
                    async with processes:
                        results = await self._get_workers().call(
                            ("poll", (options, urls, limits, states))
                        )
                except _BrokenWorkerError as exc:  # poll them here instead
                    log.warning("%s: a worker process failed: %s", self.name, exc)
                    hosts: dict[str, list[int]] = {}
                    for index in indexes:
                        hosts.setdefault(self._hosts[self.urls[index]], []).append(index)
                    await self._fetch(feeds, hosts, limits, concurrency, outcomes)
                    continue
                for index, values in zip(indexes, results, strict=True):
                    outcome = outcomes[index] = _Outcome.from_tuple(values)
                    if outcome.unreachable:  # the worker's log goes nowhere: tell it here
                        log.warning(
                            "%s: feed %s failed: %s", self.name, outcome.url, outcome.error
                        )

        async with anyio.create_task_group() as tg:
            # The loop takes the first feeds: a cycle of a few feeds starts no worker.
            tg.start_soon(here, plan.private[0], plan.limits[0])
            for lane in range(1, lanes):
                tg.start_soon(worker, plan.private[lane], plan.limits[lane])

    async def _poll(self, cursor: str | None) -> AsyncIterator[Page]:
        previous: dict[str, Any] = load_cursor(cursor, source=self.name).get("feeds", {})
        feeds = {url: previous[url] for url in self.urls if url in previous}
        outcomes = await self._cycle(feeds)
        changed = len(feeds) != len(previous)
        posts: list[Post] = []
        malformed: list[Malformed] = []
        for outcome in outcomes:
            if outcome.state is not None:
                feeds[outcome.url] = outcome.state
                changed = True
            posts.extend(outcome.posts)
            malformed.extend(outcome.malformed)
            if len(posts) >= self.page_size:
                yield Page(posts=posts, malformed=malformed, cursor=dump_cursor({"feeds": feeds}))
                posts, malformed, changed = [], [], False
        if posts or malformed or changed:
            yield Page(posts=posts, malformed=malformed, cursor=dump_cursor({"feeds": feeds}))

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield the entries not emitted before, one poll of every feed per cycle.

        Raises:
            DecodeError: The stored cursor is not this source's.
        """
        async for page in self._follow(cursor, follow=follow):
            yield page


@attrs.frozen
class _ShareOptions:
    """What a worker process needs to poll its share of the feeds like the source would."""

    name: str
    per_host: int
    concurrency: int
    seen_limit: int
    retry: _http.RetryPolicy


async def _poll_share(
    holder: FeedsSource,
    options: _ShareOptions,
    urls: list[str],
    limits: dict[str, int],
    states: dict[str, Any],
) -> list[tuple[Any, ...]]:
    """One cycle over *urls* in a worker process, with *holder*'s connections."""
    getter = holder._get_getter()
    source = FeedsSource(
        urls=urls,
        name=options.name,
        per_host=options.per_host,
        concurrency=options.concurrency,
        seen_limit=options.seen_limit,
        retry=options.retry,
        client=holder._get_client() if getter is None else None,
    )
    source._getter = getter
    by_host: dict[str, list[int]] = {}
    for index, url in enumerate(urls):
        by_host.setdefault(holder._host(url), []).append(index)
    outcomes: list[_Outcome | None] = [None] * len(urls)
    await source._fetch(states, by_host, limits, options.concurrency, outcomes)
    return [outcome.to_tuple() for outcome in outcomes if outcome is not None]


# A worker process: the parent's sys.path; the modules polling uses, not the package's
# re-exports (socialplug/__init__.py: pipeline, filters, sinks, ...) nor httpx's command line
# (click, rich). It does not import the parent's __main__ module.
_WORKER_BOOT = """
import importlib.util, json, sys
sys.path[:] = json.loads(sys.argv[1])
sys.modules.setdefault("click", None)
spec = importlib.util.find_spec("socialplug")
sys.modules["socialplug"] = importlib.util.module_from_spec(spec)
from socialplug.sources.feeds import _serve_worker
_serve_worker()
"""


def _serve_worker() -> None:
    """
    A worker process's loop: a task in on stdin, its result out on stdout, until stdin
    closes. One event loop and one source's connections serve every polling task (they are
    kept between tasks).
    """
    tasks = sys.stdin.buffer
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never among the results
    holder: FeedsSource | None = None
    with asyncio.Runner() as runner:
        try:
            while len(head := tasks.read(4)) == 4:
                kind, args = pickle.loads(tasks.read(int.from_bytes(head, "little")))  # noqa: S301 - from the parent
                try:
                    if kind == "parse":
                        value: Any = _parse_in_worker(*args)
                    else:
                        if holder is None:
                            holder = FeedsSource(urls=["-"], concurrency=args[0].concurrency)
                        value = runner.run(_poll_share(holder, *args))
                    data = pickle.dumps((True, value), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:
                    try:
                        data = pickle.dumps((False, exc))
                    except Exception:
                        data = pickle.dumps((False, RuntimeError(repr(exc))))
                results.write(len(data).to_bytes(4, "little") + data)
                results.flush()
        finally:
            if holder is not None:
                runner.run(holder.aclose())


class _BrokenWorkerError(Exception):
    """A worker process ended or stopped answering."""


class _Worker:
    """One worker process, one task at a time: a pickled task in, a pickled result out."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        assert process.stdout is not None
        self.results = BufferedByteReceiveStream(process.stdout)

    @classmethod
    async def start(cls) -> _Worker:
        command = [sys.executable, "-c", _WORKER_BOOT, json.dumps(sys.path)]
        return cls(await anyio.open_process(command, stdin=-1, stdout=-1, stderr=None))

    async def call(self, task: tuple[str, tuple[Any, ...]]) -> tuple[bool, Any]:
        """Whether the task succeeded, and its result or exception."""
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.process.stdin is not None
        try:
            await self.process.stdin.send(len(data).to_bytes(4, "little") + data)
            size = int.from_bytes(await self.results.receive_exactly(4), "little")
            ok, value = pickle.loads(await self.results.receive_exactly(size))  # noqa: S301
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            OSError,
        ) as exc:
            raise _BrokenWorkerError(f"worker process {self.process.pid} ended") from exc
        return ok, value

    async def aclose(self, *, kill: bool = False) -> None:
        with anyio.CancelScope(shield=True):
            if not kill:
                assert self.process.stdin is not None
                await self.process.stdin.aclose()  # the worker ends when its input does
                with anyio.move_on_after(5):
                    await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
            await self.process.aclose()


class _Workers:
    """A source's worker processes, started as they are needed and kept until closed."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._broken: str | None = None  # why no worker can start (none is started again)

    async def call(self, task: tuple[str, tuple[Any, ...]]) -> Any:
        """*task*'s result from an idle worker (a new one if none is idle)."""
        if self._broken is not None:
            raise _BrokenWorkerError(self._broken)
        fresh = not self._idle
        try:
            worker = self._idle.pop() if self._idle else await _Worker.start()
        except OSError as exc:
            self._broken = f"cannot start a worker process: {exc}"
            raise _BrokenWorkerError(self._broken) from exc
        try:
            ok, value = await worker.call(task)
        except BaseException as exc:
            # Ended, or cancelled midway: what it still sends would be misread. Stop it.
            await worker.aclose(kill=True)
            if fresh and isinstance(exc, _BrokenWorkerError):  # it could not even start
                self._broken = str(exc)
            raise
        self._idle.append(worker)
        if not ok:
            raise value
        return value

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for worker in idle:
            await worker.aclose()
