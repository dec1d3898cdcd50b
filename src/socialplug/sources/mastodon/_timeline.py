"""
What a Mastodon source reads: one value per timeline, with its REST and streaming endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs


__all__ = ["Timeline"]

Kind = Literal["tag", "public", "account", "list", "home", "notifications", "search"]


def _names(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values.lstrip("#"),)
    return tuple(v.lstrip("#") for v in values)


def _words(values: Iterable[str]) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(values)


@attrs.frozen(kw_only=True)
class Timeline:
    """
    One Mastodon timeline. Build it with the class methods: :meth:`tag`, :meth:`public`,
    :meth:`account`, :meth:`user_list`, :meth:`home`, :meth:`notifications`, :meth:`search`.

    Attributes:
        kind: Which endpoint.
        value: The hashtag, account id, list id or search query.
        local: Only statuses from the server's own users (tag and public timelines).
        remote: Only statuses from other servers (tag and public timelines).
        only_media: Only statuses with media attachments.
        any_tags: Tag timelines: also statuses with any of these tags.
        all_tags: Tag timelines: only statuses that also have all of these tags.
        none_tags: Tag timelines: not statuses with any of these tags.
        types: Notifications: the types to read (``mention``, ``status``, ``reblog``,
            ``favourite``, ``update``, ``quote``, ...); empty means every type.
    """

    kind: Kind
    value: str = ""
    local: bool = False
    remote: bool = False
    only_media: bool = False
    any_tags: tuple[str, ...] = attrs.field(default=(), converter=_names)
    all_tags: tuple[str, ...] = attrs.field(default=(), converter=_names)
    none_tags: tuple[str, ...] = attrs.field(default=(), converter=_names)
    types: tuple[str, ...] = attrs.field(default=(), converter=_words)

    @classmethod
    def tag(
        cls,
        name: str,
        *,
        any_tags: Iterable[str] = (),
        all_tags: Iterable[str] = (),
        none_tags: Iterable[str] = (),
        local: bool = False,
        remote: bool = False,
        only_media: bool = False,
    ) -> Timeline:
        """The hashtag timeline of *name* (without ``#``), ``/api/v1/timelines/tag/:tag``."""
        return cls(
            kind="tag",
            value=name.lstrip("#"),
            any_tags=tuple(any_tags),
            all_tags=tuple(all_tags),
            none_tags=tuple(none_tags),
            local=local,
            remote=remote,
            only_media=only_media,
        )

    @classmethod
    def public(cls, *, local: bool = False, remote: bool = False) -> Timeline:
        """The public (federated) timeline; ``local=True`` for the server's own users."""
        return cls(kind="public", local=local, remote=remote)

    @classmethod
    def account(cls, account_id: str) -> Timeline:
        """The statuses of one account, by its id on that server."""
        return cls(kind="account", value=account_id)

    @classmethod
    def user_list(cls, list_id: str) -> Timeline:
        """A list timeline of the authenticated user."""
        return cls(kind="list", value=list_id)

    @classmethod
    def home(cls) -> Timeline:
        """The home timeline of the authenticated user."""
        return cls(kind="home")

    @classmethod
    def notifications(cls, types: Iterable[str] = ("mention",)) -> Timeline:
        """The authenticated account's notifications (by default: mentions only)."""
        return cls(kind="notifications", types=tuple(types))

    @classmethod
    def search(cls, query: str) -> Timeline:
        """Statuses matching *query* through ``/api/v2/search``, where the server allows it."""
        return cls(kind="search", value=query)

    @property
    def key(self) -> str:
        """A stable name of this timeline, part of the source's cursor."""
        parts: list[str] = [self.kind]
        if self.value:
            parts.append(self.value)
        flags = [f for f in ("local", "remote", "only_media") if getattr(self, f)]
        for label, values in (
            ("any", self.any_tags),
            ("all", self.all_tags),
            ("none", self.none_tags),
            ("types", self.types),
        ):
            if values:
                flags.append(f"{label}={','.join(values)}")
        return ":".join(parts) + (f"[{';'.join(flags)}]" if flags else "")

    @property
    def path(self) -> str:
        """The REST path."""
        if self.kind == "tag":
            return f"/api/v1/timelines/tag/{self.value}"
        if self.kind == "account":
            return f"/api/v1/accounts/{self.value}/statuses"
        if self.kind == "list":
            return f"/api/v1/timelines/list/{self.value}"
        if self.kind == "notifications":
            return "/api/v1/notifications"
        if self.kind == "search":
            return "/api/v2/search"
        return f"/api/v1/timelines/{self.kind}"

    def params(self) -> list[tuple[str, str]]:
        """The REST query parameters (without paging)."""
        out: list[tuple[str, str]] = []
        for flag in ("local", "remote", "only_media"):
            if getattr(self, flag):
                out.append((flag, "true"))
        out += [("any[]", t) for t in self.any_tags]
        out += [("all[]", t) for t in self.all_tags]
        out += [("none[]", t) for t in self.none_tags]
        out += [("types[]", t) for t in self.types]
        if self.kind == "search":
            out += [("q", self.value), ("type", "statuses"), ("resolve", "false")]
        return out

    def stream(self) -> tuple[str, list[tuple[str, str]]] | None:
        """The streaming path and parameters, or ``None`` when there is no stream."""
        if self.kind == "tag":
            if self.any_tags or self.all_tags or self.none_tags or self.only_media:
                return None  # the stream cannot filter; polling can
            return (
                "/api/v1/streaming/hashtag" + ("/local" if self.local else ""),
                [("tag", self.value)],
            )
        if self.kind == "public":
            if self.local:
                return "/api/v1/streaming/public/local", []
            if self.remote:
                return "/api/v1/streaming/public/remote", []
            return "/api/v1/streaming/public", []
        if self.kind == "list":
            return "/api/v1/streaming/list", [("list", self.value)]
        if self.kind == "home":
            return "/api/v1/streaming/user", []
        if self.kind == "notifications":
            return "/api/v1/streaming/user/notification", []
        return None
