"""
What a Bluesky source reads: search, author feeds, notifications and custom feeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

import attrs


__all__ = ["Feed"]

Kind = Literal["search", "author", "notifications", "feed"]

_METHODS = {
    "search": ("app.bsky.feed.searchPosts", "posts"),
    "author": ("app.bsky.feed.getAuthorFeed", "feed"),
    "notifications": ("app.bsky.notification.listNotifications", "notifications"),
    "feed": ("app.bsky.feed.getFeed", "feed"),
}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@attrs.frozen(kw_only=True)
class Feed:
    """
    One Bluesky listing. Build it with :meth:`search`, :meth:`author`, :meth:`notifications`
    or :meth:`custom`.

    Attributes:
        kind: Which XRPC method.
        value: The query, actor (handle or DID) or feed generator at:// URI.
        params: Further query parameters, as sent.
        reasons: Notifications: which reasons become posts.
    """

    kind: Kind
    value: str = ""
    params: tuple[tuple[str, str], ...] = ()
    reasons: tuple[str, ...] = ()

    @classmethod
    def search(
        cls,
        q: str,
        *,
        author: str | None = None,
        mentions: str | None = None,
        lang: str | None = None,
        domain: str | None = None,
        url: str | None = None,
        tags: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        sort: Literal["latest", "top"] = "latest",
    ) -> Feed:
        """``app.bsky.feed.searchPosts``: posts matching *q* (Lucene-like syntax)."""
        params: list[tuple[str, str]] = [("sort", sort)]
        for name, value in (
            ("author", author),
            ("mentions", mentions),
            ("lang", lang),
            ("domain", domain),
            ("url", url),
        ):
            if value:
                params.append((name, value))
        params += [("tag", t.lstrip("#")) for t in tags]
        if since is not None:
            params.append(("since", _iso(since)))
        if until is not None:
            params.append(("until", _iso(until)))
        return cls(kind="search", value=q, params=tuple(params))

    @classmethod
    def author(cls, actor: str, *, filter: str | None = None) -> Feed:
        """``app.bsky.feed.getAuthorFeed``: an account's posts and reposts.

        *filter* is ``posts_with_replies``, ``posts_no_replies``, ``posts_with_media`` or
        ``posts_and_author_threads``."""
        return cls(kind="author", value=actor, params=(("filter", filter),) if filter else ())

    @classmethod
    def notifications(cls, reasons: Iterable[str] = ("mention", "reply", "quote")) -> Feed:
        """``app.bsky.notification.listNotifications`` of the logged-in account (mentions,
        replies and quotes by default). Needs a session."""
        return cls(kind="notifications", reasons=tuple(reasons))

    @classmethod
    def custom(cls, feed_uri: str) -> Feed:
        """``app.bsky.feed.getFeed``: a custom feed, by its generator's at:// URI."""
        return cls(kind="feed", value=feed_uri)

    @property
    def method(self) -> str:
        """The XRPC method name."""
        return _METHODS[self.kind][0]

    @property
    def field(self) -> str:
        """The answer's list field."""
        return _METHODS[self.kind][1]

    @property
    def key(self) -> str:
        """A stable name of this listing, part of the source's cursor."""
        extra = ";".join(f"{k}={v}" for k, v in self.params if k not in ("since", "until"))
        if self.reasons:
            extra = ";".join(filter(None, (extra, "reasons=" + ",".join(self.reasons))))
        return f"{self.kind}:{self.value}" + (f"[{extra}]" if extra else "")

    def query(self) -> list[tuple[str, str]]:
        """The query parameters (without paging)."""
        out = list(self.params)
        if self.kind == "search":
            out.insert(0, ("q", self.value))
        elif self.kind == "author":
            out.insert(0, ("actor", self.value))
        elif self.kind == "feed":
            out.insert(0, ("feed", self.value))
        elif self.kind == "notifications":
            out += [("reasons", r) for r in self.reasons]
        return out
