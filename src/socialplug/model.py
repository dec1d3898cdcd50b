"""
Immutable value types that flow through a pipeline.

`Post` is one normalized social item; `Alert` is something the pipeline concludes itself
(a spike, an incident, a digest). Sources emit `Page`\\ s of posts with a resume cursor and
the items they could not decode (`Malformed`); sinks receive `Delivery`\\ s, each a post or
alert with its route and idempotency key.

Every value type round-trips losslessly through JSON (``to_json`` / ``from_json``), which is
what the state store, dead letters, files and brokers use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TypeVar

import attrs


__all__ = [
    "Alert",
    "Author",
    "DeadLetter",
    "Delivery",
    "Engagement",
    "Item",
    "Malformed",
    "Media",
    "Page",
    "Post",
    "delivery_key",
    "item_from_dict",
    "item_to_dict",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_T = TypeVar("_T")


def _utc(value: object) -> datetime:
    """Accept an aware datetime and return it in UTC; refuse naive ones."""
    if isinstance(value, datetime):
        if value.tzinfo is UTC:
            return value
        if value.utcoffset() is not None:
            return value.astimezone(UTC)
        msg = (
            f"naive datetime {value.isoformat()!r}: socialplug needs timezone-aware times; "
            "use datetime(..., tzinfo=datetime.UTC) or datetime.now(datetime.UTC)"
        )
        raise ValueError(msg)
    msg = f"expected a timezone-aware datetime, got {type(value).__name__}: {value!r}"
    raise TypeError(msg)


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None or (isinstance(value, MappingProxyType) and not value):
        return _EMPTY
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


def _strs(value: Iterable[str]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else tuple(value)


def _media(value: Iterable[Media]) -> tuple[Media, ...]:
    return value if isinstance(value, tuple) else tuple(value)


def _posts(value: Iterable[Post]) -> tuple[Post, ...]:
    return value if isinstance(value, tuple) else tuple(value)


def _malformed(value: Iterable[Malformed]) -> tuple[Malformed, ...]:
    return value if isinstance(value, tuple) else tuple(value)


def _parse_time(value: str) -> datetime:
    return _utc(datetime.fromisoformat(value))


@attrs.frozen(kw_only=True)
class Author:
    """
    Who wrote a post.

    Attributes:
        id: The platform's own id of the account (Mastodon account id, Bluesky DID, ...).
        handle: Mastodon ``acct``, Bluesky handle, Reddit/HN/X username.
        name: Display name.
        url: Profile page.
        followers: Follower count when the platform says.
        bot: Whether the account declares itself automated.
    """

    id: str = ""
    handle: str = ""
    name: str = ""
    url: str | None = None
    followers: int | None = None
    bot: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict."""
        return {
            "id": self.id,
            "handle": self.handle,
            "name": self.name,
            "url": self.url,
            "followers": self.followers,
            "bot": self.bot,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], /) -> Author:
        """Rebuild from :meth:`to_dict`'s output."""
        return cls(**data)


_NO_AUTHOR = Author()


@attrs.frozen(kw_only=True)
class Engagement:
    """
    Counts at the time the post was read; ``None`` where the platform does not say.
    """

    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    score: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict."""
        return {
            "likes": self.likes,
            "reposts": self.reposts,
            "replies": self.replies,
            "quotes": self.quotes,
            "score": self.score,
        }

    @property
    def total(self) -> int:
        """Likes + reposts + replies + quotes, counting unknowns as zero."""
        return (self.likes or 0) + (self.reposts or 0) + (self.replies or 0) + (self.quotes or 0)


_NO_ENGAGEMENT = Engagement()


@attrs.frozen(kw_only=True)
class Media:
    """
    An attachment: *kind* is ``"image"``, ``"video"``, ``"gifv"``, ``"audio"``, ``"link"``...
    """

    url: str
    kind: str = "image"
    alt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict."""
        return {"url": self.url, "kind": self.kind, "alt": self.alt}


def _default_key(post: Post) -> str:
    return f"{post.platform}:{post.id}"


@attrs.frozen(kw_only=True)
class Post:
    """
    One item from a social network, normalized.

    Attributes:
        platform: ``"mastodon"``, ``"bluesky"``, ``"reddit"``, ``"hackernews"``, ``"feed"``,
            ``"x"``, ``"webhook"``, ...
        id: The platform's own id of the item.
        key: Stable key, unique across platforms and servers; defaults to ``platform:id``.
            Sources set it from a canonical URI where one item is reachable in several places
            (a Mastodon status through several servers).
        event: ``"create"`` for a new item, ``"update"`` for an edit, ``"delete"`` for a
            deletion notice (the item's text may then be empty).
        raw: The payload as received. Excluded from equality, hashing and repr.
        annotations: What transforms and filters add (``sentiment``, ``matched``, ...);
            JSON values only, so they survive the state store and brokers unchanged.
    """

    platform: str
    id: str
    key: str = attrs.field(default=attrs.Factory(_default_key, takes_self=True))
    text: str = ""
    created_at: datetime = attrs.field(converter=_utc)
    author: Author = _NO_AUTHOR
    url: str | None = None
    html: str | None = None
    title: str | None = None
    lang: str | None = None
    reply_to: str | None = None
    thread: str | None = None
    repost_of: Post | None = None
    quote_of: Post | None = None
    engagement: Engagement = _NO_ENGAGEMENT
    tags: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    mentions: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    links: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    media: tuple[Media, ...] = attrs.field(default=(), converter=_media)
    sensitive: bool = False
    spoiler: str | None = None
    event: Literal["create", "update", "delete"] = "create"
    source: str = ""
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, eq=False, hash=False, repr=False)
    annotations: Mapping[str, Any] = attrs.field(
        default=_EMPTY, converter=_frozen, hash=False, repr=False
    )

    def annotate(self, **values: Any) -> Post:
        """Return a copy with *values* merged into :attr:`annotations`."""
        # A field-by-field copy: every other field is already validated, so this skips the
        # converters that attrs.evolve would run again (annotating is on the hot path).
        return _copy_post(self, MappingProxyType({**self.annotations, **values}))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict holding every field, ``raw`` and nested posts too."""
        return {
            "platform": self.platform,
            "id": self.id,
            "key": self.key,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "author": self.author.to_dict(),
            "url": self.url,
            "html": self.html,
            "title": self.title,
            "lang": self.lang,
            "reply_to": self.reply_to,
            "thread": self.thread,
            "repost_of": None if self.repost_of is None else self.repost_of.to_dict(),
            "quote_of": None if self.quote_of is None else self.quote_of.to_dict(),
            "engagement": self.engagement.to_dict(),
            "tags": list(self.tags),
            "mentions": list(self.mentions),
            "links": list(self.links),
            "media": [m.to_dict() for m in self.media],
            "sensitive": self.sensitive,
            "spoiler": self.spoiler,
            "event": self.event,
            "source": self.source,
            "raw": dict(self.raw),
            "annotations": dict(self.annotations),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], /) -> Post:
        """
        Rebuild a post from :meth:`to_dict`'s output.

        Raises:
            KeyError, TypeError, ValueError: *data* is not a serialized post.
        """
        d = dict(data)
        d["created_at"] = _parse_time(d["created_at"])
        d["author"] = Author.from_dict(d.get("author") or {})
        d["engagement"] = Engagement(**(d.get("engagement") or {}))
        d["media"] = tuple(Media(**m) for m in d.get("media") or ())
        for nested in ("repost_of", "quote_of"):
            if d.get(nested) is not None:
                d[nested] = cls.from_dict(d[nested])
        return cls(**d)

    def to_json(self) -> str:
        """Serialize to a JSON string (UTF-8 text, non-ASCII kept as is)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, /) -> Post:
        """Parse :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))


_POST_FIELDS = tuple(f.name for f in attrs.fields(Post) if f.name != "annotations")


def _fill_fast(cls: type[_T]) -> type[_T]:
    """
    Build *cls* (a frozen, slotted attrs class) at the speed of a mutable one.

    A frozen attrs class can only fill its slots through ``object.__setattr__``, about a
    thousand machine instructions a field; a post has 25 fields and every source makes one
    per item. Here a subclass that is not frozen (``_Builder``, no slots of its own, so an
    instance can change between the two classes) takes the instance while ``__init__``
    fills it with plain attribute stores, then hands it back: construction costs half as
    much, and nothing outside ``__init__`` ever sees a mutable instance. Subclasses of
    *cls* keep attrs' own ``__init__``.

    Installs the new ``__init__`` on *cls* and returns the builder class (for
    :func:`_replacer`). The generated source holds only the class's own field names.
    """
    builder = type(
        f"_{cls.__name__}Builder",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_builder": builder,
        "_attrs_init": cls.__init__,
        "_set": object.__setattr__,
        "_NOTHING": attrs.NOTHING,
    }
    params: list[str] = []
    body: list[str] = []
    for f in fields:
        n = f.name
        if f.default is attrs.NOTHING:
            params.append(n)
        elif isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            params.append(f"{n}=_NOTHING")
            namespace[f"_factory_{n}"] = f.default.factory
            arg = "self" if f.default.takes_self else ""
            body.append(f"    if {n} is _NOTHING:\n        {n} = _factory_{n}({arg})\n")
        else:
            params.append(f"{n}=_default_{n}")
            namespace[f"_default_{n}"] = f.default
        if f.converter is not None:
            namespace[f"_convert_{n}"] = f.converter
            body.append(f"    self.{n} = _convert_{n}({n})\n")
        else:
            body.append(f"    self.{n} = {n}\n")
    passed = ", ".join(f"{f.name}={f.name}" for f in fields)
    source = (
        f"def __init__(self, *, {', '.join(params)}):\n"
        f"    if self.__class__ is not _cls:\n"
        f"        _attrs_init(self, {passed})\n"
        f"        return\n"
        f"    _set(self, '__class__', _builder)\n"
        f"{''.join(body)}"
        f"    self.__class__ = _cls\n"
    )
    exec(compile(source, f"<socialplug {cls.__name__}>", "exec"), namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return builder


def _replacer(cls: type[_T], builder: type[_T], last: str) -> Callable[[_T, Any], _T]:
    """
    Return ``copy(obj, value)``: a new *cls* with every field of *obj* but *last*, which is
    *value*, filled through *builder* (see :func:`_fill_fast`); no converter runs again.
    """
    names = [f.name for f in attrs.fields(cls) if f.name != last]  # type: ignore[arg-type]
    copied = "".join(f"    new.{n} = obj.{n}\n" for n in names)
    source = (
        f"def copy(obj, value):\n"
        f"    new = _new(_builder)\n"
        f"{copied}"
        f"    new.{last} = value\n"
        f"    new.__class__ = _cls\n"
        f"    return new\n"
    )
    namespace: dict[str, Any] = {"_cls": cls, "_builder": builder, "_new": object.__new__}
    exec(compile(source, f"<socialplug copy of {cls.__name__}>", "exec"), namespace)  # noqa: S102
    copy: Callable[[_T, Any], _T] = namespace["copy"]
    return copy


_copy_post = _replacer(Post, _fill_fast(Post), "annotations")


@attrs.frozen(kw_only=True)
class Alert:
    """
    Something the pipeline concludes itself.

    Attributes:
        kind: ``"spike"``, ``"incident.opened"``, ``"incident.updated"``,
            ``"incident.resolved"``, ``"escalation"``, ``"digest"``, ``"gap"``, ...
        key: Stable identity of this alert (used for idempotency); one alert, one key.
        title: One line for people.
        summary: A few lines of plain text.
        severity: ``"P1"`` (page now) to ``"P4"`` (informational).
        incident: The incident key the alert belongs to, so a chat sink can keep one thread
            per incident and a paging sink can dedupe on it.
        posts: Sample posts that explain the alert.
        data: Numbers and facts behind the alert (JSON values).
    """

    kind: str
    key: str
    title: str
    created_at: datetime = attrs.field(converter=_utc)
    summary: str = ""
    severity: str = "P3"
    incident: str | None = None
    route: str | None = None
    team: str | None = None
    url: str | None = None
    posts: tuple[Post, ...] = attrs.field(default=(), converter=_posts)
    data: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen, hash=False)
    annotations: Mapping[str, Any] = attrs.field(
        default=_EMPTY, converter=_frozen, hash=False, repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict holding every field."""
        return {
            "kind": self.kind,
            "key": self.key,
            "title": self.title,
            "created_at": self.created_at.isoformat(),
            "summary": self.summary,
            "severity": self.severity,
            "incident": self.incident,
            "route": self.route,
            "team": self.team,
            "url": self.url,
            "posts": [p.to_dict() for p in self.posts],
            "data": dict(self.data),
            "annotations": dict(self.annotations),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], /) -> Alert:
        """Rebuild an alert from :meth:`to_dict`'s output."""
        d = dict(data)
        d["created_at"] = _parse_time(d["created_at"])
        d["posts"] = tuple(Post.from_dict(p) for p in d.get("posts") or ())
        return cls(**d)

    def to_json(self) -> str:
        """Serialize to a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, /) -> Alert:
        """Parse :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))


#: What flows to sinks: a post or an alert.
Item = Post | Alert


def item_to_dict(item: Item, /) -> dict[str, Any]:
    """Serialize a post or an alert with a ``type`` tag, for mixed streams."""
    return {"type": "alert" if isinstance(item, Alert) else "post", **item.to_dict()}


def item_from_dict(data: Mapping[str, Any], /) -> Item:
    """Rebuild what :func:`item_to_dict` wrote."""
    d = dict(data)
    kind = d.pop("type", "post")
    return Alert.from_dict(d) if kind == "alert" else Post.from_dict(d)


def delivery_key(route: str, sink: str, item_key: str, /) -> str:
    """
    Return the idempotency key of delivering *item_key* through *route* to *sink*.

    Stable across runs and processes: a replayed page yields the same keys, so sinks that
    dedupe (SQL upserts, ``Idempotency-Key`` headers, PagerDuty ``dedup_key``) and the state
    store's seen-keys recognise a repeat.
    """
    return hashlib.blake2b(f"{route}\x1f{sink}\x1f{item_key}".encode(), digest_size=16).hexdigest()


@attrs.frozen(kw_only=True)
class Delivery:
    """
    One item on its way to one sink.

    Attributes:
        item: The post or alert.
        route: The route that sent it.
        sink: The sink's key in ``Pipeline.sinks``.
        key: The idempotency key (:func:`delivery_key`); send it where the destination
            supports idempotency.
    """

    item: Item
    route: str
    sink: str
    key: str

    @property
    def post(self) -> Post:
        """
        The item as a post.

        Raises:
            TypeError: The item is an alert.
        """
        if isinstance(self.item, Post):
            return self.item
        msg = f"delivery {self.key} carries an alert, not a post"
        raise TypeError(msg)


# Made once per item (authors) or per delivery: built fast too (see _fill_fast).
_fill_fast(Author)
_fill_fast(Delivery)


@attrs.frozen(kw_only=True)
class Malformed:
    """
    An item a source received but could not turn into a post.

    The runtime keeps it as a dead letter with the raw payload and counts it in the report;
    the pipeline continues.
    """

    reason: str
    payload: str
    source: str = ""


@attrs.frozen(kw_only=True)
class Page:
    """
    What a source read in one go, and where to resume after it.

    Attributes:
        posts: The posts, in source order.
        cursor: Opaque resume position *after* this page (JSON-safe text), committed only when
            every post of this page and of every earlier page has been handled. ``None`` keeps
            the previous cursor.
        malformed: Items of this page that could not be decoded.
    """

    posts: tuple[Post, ...] = attrs.field(default=(), converter=_posts)
    cursor: str | None = None
    malformed: tuple[Malformed, ...] = attrs.field(default=(), converter=_malformed)


@attrs.frozen(kw_only=True)
class DeadLetter:
    """
    Something the pipeline could not handle, kept with everything needed to look at it or
    replay it.

    Attributes:
        id: Assigned by the state store.
        kind: ``"delivery"`` (a sink refused an item) or ``"malformed"`` (a source could not
            decode a payload).
        origin: The sink key (deliveries) or source name (malformed items).
        reason: Why, in words (the error message; never a secret).
        payload: The item as JSON (``item_to_dict``) for deliveries; the raw payload as
            received for malformed items.
        route: The route of a delivery.
        key: The delivery's idempotency key.
        attempts: How many times delivery was tried.
    """

    kind: Literal["delivery", "malformed"]
    origin: str
    reason: str
    payload: str
    created_at: datetime = attrs.field(converter=_utc)
    route: str | None = None
    key: str | None = None
    attempts: int = 0
    id: int | None = None

    def item(self) -> Item:
        """
        Rebuild the post or alert of a delivery dead letter.

        Raises:
            ValueError: This is a malformed payload, not a serialized item.
        """
        if self.kind != "delivery":
            msg = f"dead letter {self.id} is a malformed payload from {self.origin!r}, not an item"
            raise ValueError(msg)
        return item_from_dict(json.loads(self.payload))
