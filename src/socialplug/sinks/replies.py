"""
Replies on the network, with a human in the loop.

:class:`ReplySink` turns deliveries into reply **drafts** (your ``compose`` function writes
the text) kept in an :class:`ApprovalQueue` in the state store, and tells people about them
through any chat sink. Nothing is posted until someone approves: through the Python API
(:meth:`ApprovalQueue.approve` / :meth:`ApprovalQueue.reject`, which the CLI calls) or the HTTP
callback (:class:`ApprovalServer`). :func:`publish_approved` then posts each approved draft
exactly once: Mastodon with an ``Idempotency-Key``, Bluesky with a record key derived from the
draft. Every step is kept in an audit trail (:meth:`ApprovalQueue.audit`).

In a pipeline file the sink is ``type = "replies"`` (:meth:`ReplySink.from_store`): its queue
lives in the pipeline's ``[state]``, ``compose`` is a :class:`ReplyTemplate` text or a
``"package.module:function"`` import path, and ``mastodon``/``bluesky`` tables configure the
repliers that ``socialplug approvals approve`` and ``approvals publish`` post with.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import string
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Protocol, Self
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import anyio
import attrs

from .._miniserver import LoopbackServer, Reply, Request
from .._signing import SIGNATURE_HEADER, verify
from ..clock import Clock, SystemClock
from ..exceptions import ConfigurationError, DeliveryError, StateError
from ..model import Alert, Delivery, Item, Post
from ..typing import Sink, StateStore
from ._base import HttpSinkBase, register_secrets
from ._render import one_line, truncate


__all__ = [
    "ApprovalQueue",
    "ApprovalServer",
    "AuditEntry",
    "BlueskyReplier",
    "Draft",
    "MastodonReplier",
    "Posted",
    "Replier",
    "ReplySink",
    "ReplyTemplate",
    "TEMPLATE_FIELDS",
    "publish_approved",
]

log = logging.getLogger("socialplug.replies")

DRAFTS = "replies.drafts"
AUDIT = "replies.audit"

Status = Literal["pending", "approved", "rejected", "posted", "failed"]


@attrs.frozen(kw_only=True)
class Draft:
    """
    A reply waiting for (or past) a decision.

    Attributes:
        id: Stable id (derived from the delivery key, so a replayed delivery finds it).
        platform: ``"mastodon"`` or ``"bluesky"``: where it will be posted.
        text: What will be posted.
        reply_to: The platform id of the post answered (Mastodon status id, Bluesky
            ``at://`` URI); ``None`` for a standalone status update.
        reply_to_url: Its web page, for people.
        context: The post or alert title that prompted the draft, for people.
        status: ``pending``, ``approved``, ``rejected``, ``posted`` or ``failed``.
        decided_by, reason: Who decided, and why (rejections).
        posted_id, posted_url: What the platform answered.
    """

    id: str
    platform: str
    text: str
    created_at: datetime
    reply_to: str | None = None
    reply_to_url: str | None = None
    context: str = ""
    status: Status = "pending"
    decided_by: str | None = None
    reason: str | None = None
    posted_id: str | None = None
    posted_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        d = attrs.asdict(self)
        d["created_at"] = self.created_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], /) -> Draft:
        """Rebuild from :meth:`to_dict`."""
        d = dict(data)
        d["created_at"] = datetime.fromisoformat(d["created_at"])
        return cls(**d)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One step in a draft's life: ``drafted``, ``approved``, ``rejected``, ``posted``, ``failed``."""

    draft: str
    action: str
    at: datetime
    actor: str = "socialplug"
    detail: str = ""


@attrs.define(eq=False)
class ApprovalQueue:
    """
    Drafts and their audit trail, in a state store (namespaces ``replies.drafts`` and
    ``replies.audit``): the Python API the CLI and the HTTP callback drive.
    """

    store: StateStore
    clock: Clock = attrs.field(factory=SystemClock)

    async def _log(self, draft: str, action: str, actor: str, detail: str = "") -> None:
        now = self.clock.now()
        key = f"{draft}:{now.isoformat()}:{action}"
        entry = {"draft": draft, "action": action, "at": now.isoformat(), "actor": actor,
                 "detail": detail}  # fmt: skip
        await self.store.put_record(AUDIT, key, entry)

    async def get(self, draft_id: str) -> Draft | None:
        """The draft with *draft_id*, or ``None``."""
        value = await self.store.get_record(DRAFTS, draft_id)
        if value is None:
            return None
        try:
            return Draft.from_dict(value)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"draft {draft_id!r} is unreadable", key=draft_id) from exc

    async def _put(self, draft: Draft) -> None:
        await self.store.put_record(DRAFTS, draft.id, draft.to_dict())

    async def add(self, draft: Draft, *, actor: str = "socialplug") -> bool:
        """Queue *draft* unless a draft with its id exists; return whether it was added."""
        if await self.get(draft.id) is not None:
            return False
        await self._put(draft)
        await self._log(draft.id, "drafted", actor, truncate(draft.text, 200))
        return True

    async def drafts(self, *, status: Status | None = None) -> list[Draft]:
        """Every draft (oldest first), optionally only those with *status*."""
        found = [Draft.from_dict(v) for v in (await self.store.records(DRAFTS)).values()]
        found.sort(key=lambda d: (d.created_at, d.id))
        return [d for d in found if status is None or d.status == status]

    async def pending(self) -> list[Draft]:
        """Drafts waiting for a decision."""
        return await self.drafts(status="pending")

    async def _decide(
        self, draft_id: str, status: Status, by: str, reason: str | None, text: str | None
    ) -> Draft:
        draft = await self.get(draft_id)
        if draft is None:
            raise ConfigurationError(f"no draft {draft_id!r}")
        if draft.status != "pending":
            raise ConfigurationError(f"draft {draft_id!r} is already {draft.status}")
        decided = attrs.evolve(
            draft, status=status, decided_by=by, reason=reason, text=text or draft.text
        )
        await self._put(decided)
        detail = reason or (
            "edited: " + truncate(text, 200) if text and text != draft.text else ""
        )
        await self._log(draft_id, status, by, detail)
        return decided

    async def approve(self, draft_id: str, *, by: str, text: str | None = None) -> Draft:
        """
        Approve a pending draft (optionally with edited *text*); it is posted by the next
        :func:`publish_approved`.

        Raises:
            ConfigurationError: No such draft, or it was already decided.
        """
        return await self._decide(draft_id, "approved", by, None, text)

    async def reject(self, draft_id: str, *, by: str, reason: str = "") -> Draft:
        """
        Reject a pending draft; it will never be posted.

        Raises:
            ConfigurationError: No such draft, or it was already decided.
        """
        return await self._decide(draft_id, "rejected", by, reason, None)

    async def mark(
        self, draft: Draft, status: Status, *, detail: str = "", **changes: Any
    ) -> Draft:
        """Record the outcome of posting *draft* (``posted`` or ``failed``)."""
        updated = attrs.evolve(draft, status=status, **changes)
        await self._put(updated)
        await self._log(draft.id, status, "socialplug", detail)
        return updated

    async def audit(self, draft_id: str | None = None) -> list[AuditEntry]:
        """The audit trail, oldest first, of one draft or of all."""
        entries = [
            AuditEntry(
                draft=v["draft"],
                action=v["action"],
                at=datetime.fromisoformat(v["at"]),
                actor=v["actor"],
                detail=v.get("detail", ""),
            )
            for v in (await self.store.records(AUDIT)).values()
        ]
        entries.sort(key=lambda e: e.at)
        return [e for e in entries if draft_id is None or e.draft == draft_id]


def _draft_alert(draft: Draft, *, approve_url: str | None, reject_url: str | None) -> Alert:
    lines = [draft.text, "", f"Draft {draft.id} on {draft.platform}"]
    if draft.context:
        lines.append(f"In answer to: {draft.context}")
    if approve_url and reject_url:
        lines += ["", f"Approve: {approve_url}", f"Reject: {reject_url}"]
    return Alert(
        kind="reply.draft",
        key=f"reply-draft:{draft.id}",
        title="Reply awaiting approval",
        created_at=draft.created_at,
        summary="\n".join(lines),
        severity="P4",
        url=draft.reply_to_url,
        data={"draft": draft.id, "platform": draft.platform},
    )


def _token(secret: str | bytes, draft_id: str, action: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{draft_id}:{action}".encode(), hashlib.sha256).hexdigest()[:32]


#: The fields a :class:`ReplyTemplate` may use; ``annotations.NAME`` and ``data.NAME`` (alerts)
#: reach into those mappings. A field the item does not have renders as an empty string.
TEMPLATE_FIELDS = (
    "author.handle",
    "author.id",
    "author.name",
    "author.url",
    "created_at",
    "id",
    "incident",
    "key",
    "kind",
    "lang",
    "links",
    "mentions",
    "platform",
    "route",
    "severity",
    "source",
    "summary",
    "tags",
    "team",
    "text",
    "title",
    "url",
)
_MAPPING_FIELDS = ("annotations", "data")

_Part = tuple[str, tuple[str, ...] | None, str]


def _template_parts(text: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ConfigurationError(f"invalid reply template: {exc}") from exc
    for literal, field, spec, conversion in parsed:
        if field is None:
            parts.append((literal, None, ""))
            continue
        if conversion is not None:
            raise ConfigurationError(f"reply template field {{{field}!{conversion}}}: drop '!'")
        path = tuple(field.split("."))
        if field not in TEMPLATE_FIELDS and not (
            len(path) == 2 and path[0] in _MAPPING_FIELDS and path[1]
        ):
            from difflib import get_close_matches  # noqa: PLC0415

            if not field:
                raise ConfigurationError(
                    "a reply template field needs a name, like {author.handle}"
                )
            close = get_close_matches(field, TEMPLATE_FIELDS, n=1, cutoff=0.6)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise ConfigurationError(
                f"unknown reply template field {{{field}}}{hint}; fields are "
                + ", ".join(TEMPLATE_FIELDS)
                + ", annotations.NAME and data.NAME"
            )
        parts.append((literal, path, spec or ""))
    return tuple(parts)


def _field_value(item: Item, path: tuple[str, ...]) -> Any:
    value: Any = item
    for i, name in enumerate(path):
        if i == 1 and path[0] in _MAPPING_FIELDS:
            value = value.get(name) if isinstance(value, Mapping) else None
        else:
            value = getattr(value, name, None)
        if value is None:
            return None
    return value


@attrs.frozen
class ReplyTemplate:
    """
    ``compose`` from a text with fields: ``ReplyTemplate("Hi @{author.handle}, sorry!")``.

    Fields name what the post (or alert) carries, as in :data:`TEMPLATE_FIELDS`:
    ``{text}``, ``{title}``, ``{url}``, ``{author.handle}``, ``{author.name}``,
    ``{platform}``, ``{created_at:%H:%M}`` (a format spec applies), ``{tags}`` (lists are
    joined with ``", "``), ``{annotations.sentiment}``, for alerts ``{summary}``,
    ``{severity}``, ``{data.NAME}``... A field the item lacks renders empty; ``{{`` and ``}}``
    are literal braces. A text that renders blank drafts nothing.

    Raises:
        ConfigurationError: An unknown field or a malformed template (checked at once).
    """

    text: str
    _parts: tuple[_Part, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_parts", _template_parts(self.text))

    def __call__(self, item: Item, /) -> str | None:
        """The reply text for *item* (``None`` when it renders blank)."""
        out: list[str] = []
        for literal, path, spec in self._parts:
            out.append(literal)
            if path is None:
                continue
            value = _field_value(item, path)
            if value is None:
                continue
            if isinstance(value, list | tuple):
                value = ", ".join(map(str, value))
            out.append(format(value, spec))
        text = "".join(out).strip()
        return text or None


def _repliers(value: Iterable[Replier]) -> tuple[Replier, ...]:
    return tuple(value)


@attrs.define(eq=False)
class ReplySink:
    """
    A sink that drafts replies for approval instead of posting.

    Args:
        queue: Where drafts go.
        compose: ``Post | Alert -> text | None``; ``None`` drafts nothing for that item.
        platform: Where drafts will be posted; by default the post's own platform (alerts
            need it set).
        notify: A chat sink told about every new draft (Slack, Teams, Matrix...).
        callback_url: Public base URL of the :class:`ApprovalServer`; with *secret*, the
            chat message carries approve and reject links.
        secret: Signs those links (and the callback's JSON API).
        mention_author: Start a Mastodon reply with ``@author`` so they see it.
        repliers: What posts approved drafts (:meth:`publish`; ``socialplug approvals``
            uses them). The sink itself never posts.
    """

    queue: ApprovalQueue
    compose: Callable[[Item], str | Awaitable[str | None] | None]
    platform: str | None = attrs.field(default=None, kw_only=True)
    notify: Sink | None = attrs.field(default=None, kw_only=True)
    callback_url: str | None = attrs.field(default=None, kw_only=True)
    secret: str | bytes | None = attrs.field(default=None, kw_only=True, repr=False)
    mention_author: bool = attrs.field(default=True, kw_only=True)
    repliers: tuple[Replier, ...] = attrs.field(default=(), kw_only=True, converter=_repliers)
    clock: Clock = attrs.field(factory=SystemClock, kw_only=True)
    #: Drafts are keyed by the delivery key: a replayed delivery finds its draft.
    idempotent: bool = attrs.field(default=True, init=False)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.secret, str):
            register_secrets(self, self.secret)

    @classmethod
    def from_store(
        cls,
        *,
        state: StateStore,
        compose: str | Callable[[Item], str | Awaitable[str | None] | None],
        platform: str | None = None,
        notify: Sink | None = None,
        callback_url: str | None = None,
        secret: str | None = None,
        mention_author: bool = True,
        mastodon: MastodonReplier | None = None,
        bluesky: BlueskyReplier | None = None,
    ) -> ReplySink:
        """
        A reply sink whose :class:`ApprovalQueue` lives in *state*: what a pipeline file's
        ``type = "replies"`` builds (the file's ``[state]`` is passed as *state*).

        Args:
            state: The pipeline's state store.
            compose: A :class:`ReplyTemplate` text, or a function as for the constructor.
            mastodon, bluesky: The repliers that post approved drafts, if any.

        Raises:
            ConfigurationError: *compose* is not a valid template.
        """
        repliers: list[Replier] = [r for r in (mastodon, bluesky) if r is not None]
        return cls(
            ApprovalQueue(state),
            ReplyTemplate(compose) if isinstance(compose, str) else compose,
            platform=platform,
            notify=notify,
            callback_url=callback_url,
            secret=secret,
            mention_author=mention_author,
            repliers=repliers,
        )

    async def publish(self) -> list[Draft]:
        """Post the approved drafts with :attr:`repliers` (see :func:`publish_approved`)."""
        if not self.repliers:
            return []
        return await publish_approved(self.queue, self.repliers)

    def links(self, draft_id: str) -> tuple[str | None, str | None]:
        """The approve and reject links of *draft_id* (``None`` without a callback)."""
        if not self.callback_url or self.secret is None:
            return None, None
        base = self.callback_url.rstrip("/")
        return tuple(  # type: ignore[return-value]
            f"{base}/drafts/{quote(draft_id, safe='')}/{a}?token={_token(self.secret, draft_id, a)}"
            for a in ("approve", "reject")
        )

    async def _text(self, item: Item) -> str | None:
        result = self.compose(item)
        if isinstance(result, Awaitable):
            result = await result
        return result

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Draft a reply for each delivery (once per delivery key) and notify."""
        fresh: list[Draft] = []
        for delivery in batch:
            item = delivery.item
            text = await self._text(item)
            if not text:
                continue
            platform = self.platform or (item.platform if isinstance(item, Post) else None)
            if platform not in ("mastodon", "bluesky"):
                raise DeliveryError(
                    f"replies: cannot reply on {platform!r}; set platform=", retryable=False
                )
            reply_to = item.id if isinstance(item, Post) and item.platform == platform else None
            if (
                self.mention_author
                and platform == "mastodon"
                and reply_to
                and isinstance(item, Post)
                and item.author.handle
            ):
                handle = "@" + item.author.handle.lstrip("@")
                if handle not in text:
                    text = f"{handle} {text}"
            draft = Draft(
                id=delivery.key,
                platform=platform,
                text=text,
                created_at=self.clock.now(),
                reply_to=reply_to,
                reply_to_url=item.url,
                context=one_line(item.title if isinstance(item, Alert) else (item.text or ""))[
                    :200
                ],
            )
            if await self.queue.add(draft):
                fresh.append(draft)
        if self.notify is not None and fresh:
            notices = []
            for draft in fresh:
                approve, reject = self.links(draft.id)
                alert = _draft_alert(draft, approve_url=approve, reject_url=reject)
                notices.append(Delivery(item=alert, route="replies", sink="notify", key=alert.key))
            await self.notify.deliver(notices)

    async def aclose(self) -> None:
        """Close the notification sink and the repliers (both re-open when used again)."""
        if self.notify is not None:
            await self.notify.aclose()
        for replier in self.repliers:
            await replier.aclose()


# -- posting ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Posted:
    """What the platform answered for a posted draft."""

    id: str
    url: str | None = None


class Replier(Protocol):
    """**Protocol:** Posts one approved draft, idempotently."""

    platform: str

    async def post(self, draft: Draft, /) -> Posted:
        """Post *draft*; posting the same draft again must not post twice."""
        ...

    async def aclose(self) -> None:
        """Release what it owns."""
        ...


@attrs.define(eq=False)
class MastodonReplier(HttpSinkBase):
    """
    Posts drafts as Mastodon statuses (``POST /api/v1/statuses``) with the draft id as
    ``Idempotency-Key``, so a retry never posts twice.

    Args:
        base_url: The account's server, e.g. ``https://mastodon.social``.
        token: An access token with ``write:statuses``; never shown.
        visibility: ``public``, ``unlisted``, ``private`` or ``direct``.
        max_characters: The server's limit (``/api/v1/instance``); longer drafts are cut.
    """

    base_url: str
    token: str = attrs.field(repr=False)
    visibility: str = attrs.field(default="public", kw_only=True)
    max_characters: int = attrs.field(default=500, kw_only=True)
    platform: str = attrs.field(default="mastodon", init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.token)

    async def post(self, draft: Draft, /) -> Posted:
        """Post *draft*."""
        body: dict[str, Any] = {
            "status": truncate(draft.text, self.max_characters),
            "visibility": self.visibility,
        }
        if draft.reply_to:
            body["in_reply_to_id"] = draft.reply_to
        response = await self._request(
            "POST", f"{self.base_url.rstrip('/')}/api/v1/statuses", what="Mastodon",
            json=body,
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": draft.id},
        )  # fmt: skip
        try:
            status = response.json()
            return Posted(id=str(status["id"]), url=status.get("url"))
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError("Mastodon answered without a status", retryable=True) from exc


_S32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid_for(draft: Draft) -> str:
    """A valid atproto TID record key derived from *draft* (creation time + id hash)."""
    micros = int(draft.created_at.timestamp() * 1_000_000)
    clock_id = int.from_bytes(hashlib.sha256(draft.id.encode()).digest()[:2], "big") & 0x3FF
    value = (micros << 10) | clock_id
    return "".join(_S32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


@attrs.define(eq=False)
class BlueskyReplier(HttpSinkBase):
    """
    Posts drafts as Bluesky posts with ``com.atproto.repo.putRecord`` and a record key
    derived from the draft (:func:`tid_for`): a retry writes the same record again, never a
    second post.

    Args:
        service: The PDS, e.g. ``https://bsky.social``.
        identifier: Handle or DID.
        app_password: An app password; never shown.
    """

    service: str
    identifier: str
    app_password: str = attrs.field(repr=False)
    platform: str = attrs.field(default="bluesky", init=False)
    _session: dict[str, str] | None = attrs.field(init=False, default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.app_password)

    def _xrpc(self, method: str) -> str:
        return f"{self.service.rstrip('/')}/xrpc/{method}"

    async def _login(self) -> dict[str, str]:
        if self._session is None:
            response = await self._request(
                "POST", self._xrpc("com.atproto.server.createSession"), what="Bluesky login",
                json={"identifier": self.identifier, "password": self.app_password},
            )  # fmt: skip
            try:
                data = response.json()
                self._session = {"did": data["did"], "jwt": data["accessJwt"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise DeliveryError(
                    "Bluesky login answered without a session", retryable=True
                ) from exc
            register_secrets(self, self.app_password, data["accessJwt"], data.get("refreshJwt"))
        return self._session

    async def _reply_refs(self, uri: str, jwt: str) -> dict[str, Any]:
        repo, collection, rkey = uri.removeprefix("at://").split("/", 2)
        response = await self._request(
            "GET", self._xrpc("com.atproto.repo.getRecord"), what="Bluesky getRecord",
            params={"repo": repo, "collection": collection, "rkey": rkey},
            headers={"Authorization": f"Bearer {jwt}"},
        )  # fmt: skip
        try:
            record = response.json()
            parent = {"uri": record["uri"], "cid": record["cid"]}
            root = (record.get("value") or {}).get("reply", {}).get("root") or parent
            return {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeliveryError(f"Bluesky post {uri} is not a post", retryable=False) from exc

    async def post(self, draft: Draft, /) -> Posted:
        """Post *draft* (as a reply when it has ``reply_to``)."""
        session = await self._login()
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": truncate(draft.text, 300),
            "createdAt": draft.created_at.isoformat().replace("+00:00", "Z"),
        }
        if draft.reply_to:
            record["reply"] = await self._reply_refs(draft.reply_to, session["jwt"])
        response = await self._request(
            "POST", self._xrpc("com.atproto.repo.putRecord"), what="Bluesky putRecord",
            json={"repo": session["did"], "collection": "app.bsky.feed.post",
                  "rkey": tid_for(draft), "record": record},
            headers={"Authorization": f"Bearer {session['jwt']}"},
        )  # fmt: skip
        try:
            uri = str(response.json()["uri"])
            _, _, rkey = uri.removeprefix("at://").split("/", 2)
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError("Bluesky answered without a record URI", retryable=True) from exc
        return Posted(id=uri, url=f"https://bsky.app/profile/{session['did']}/post/{rkey}")


def _by_platform(repliers: Mapping[str, Replier] | Sequence[Replier]) -> dict[str, Replier]:
    return dict(repliers) if isinstance(repliers, Mapping) else {r.platform: r for r in repliers}


async def _publish(queue: ApprovalQueue, draft: Draft, replier: Replier) -> Draft | None:
    """Post one approved *draft*; ``None`` when a retryable failure leaves it approved."""
    try:
        posted = await replier.post(draft)
    except DeliveryError as exc:
        if exc.retryable:
            return None
        return await queue.mark(draft, "failed", detail=str(exc))
    return await queue.mark(
        draft,
        "posted",
        detail=posted.url or posted.id,
        posted_id=posted.id,
        posted_url=posted.url,
    )


async def publish_approved(
    queue: ApprovalQueue, repliers: Mapping[str, Replier] | Sequence[Replier]
) -> list[Draft]:
    """
    Post every approved draft once, with the replier of its platform; return the drafts
    posted or failed. A retryable failure leaves the draft approved (the next call tries
    again, idempotently); a permanent one marks it ``failed`` with the reason.
    """
    by_platform = _by_platform(repliers)
    done: list[Draft] = []
    for draft in await queue.drafts(status="approved"):
        replier = by_platform.get(draft.platform)
        if replier is None:
            continue
        result = await _publish(queue, draft, replier)
        if result is not None:
            done.append(result)
    return done


# -- the HTTP callback -----------------------------------------------------------------------

_PAGE = """<!doctype html><html><body style="font-family:sans-serif">
<h2>{title}</h2><blockquote style="white-space:pre-wrap">{text}</blockquote>
<form method="post"><input type="hidden" name="token" value="{token}">
<label>Your name <input name="by" required></label> {extra}
<button type="submit">{action}</button></form></body></html>"""


def _prefix(value: str) -> str:
    path = "/" + value.strip("/")
    return "" if path == "/" else path


@attrs.define(eq=False)
class ApprovalServer:
    """
    The approve/reject HTTP callback, as an async context manager serving on *host*:*port*.

    Routes:
        ``GET /drafts/<id>/<approve|reject>?token=...``: a confirmation page (links in chat
        messages land here; a link preview never decides anything).
        ``POST /drafts/<id>/<approve|reject>``: decide. Either a form with the link's
        ``token`` and ``by``, or JSON ``{"by": ..., "reason": ..., "text": ...}`` signed
        with the ``X-Socialplug-Signature`` scheme.
        ``GET /drafts``: pending drafts as JSON (signed header required).

    A bad link token answers ``403`` and a bad signature ``401``: counted in *outcomes*
    (``refused``), never acted on. Deciding again as before (a second click) changes
    nothing and answers ``200`` (outcome ``repeated``); the opposite decision answers ``409``.
    With *repliers*, an approval posts the draft at once, exactly once: decisions are taken
    one at a time, and a draft left approved by a temporary failure is tried again by the
    next approval of it (or by :func:`publish_approved`).

    Args:
        prefix: The path of the sink's ``callback_url`` (``/socialplug`` for
            ``https://ops.example.com/socialplug``): the routes are served under it, and
            without it too (for a proxy that strips it).
        outcomes: Counts requests by outcome: ``approved``, ``rejected``, ``repeated``,
            ``conflict``, ``refused``, ``not_found``, ``invalid``.
    """

    queue: ApprovalQueue
    secret: str | bytes = attrs.field(repr=False)
    repliers: Mapping[str, Replier] | Sequence[Replier] = attrs.field(factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    prefix: str = attrs.field(default="", kw_only=True, converter=_prefix)
    outcomes: Counter[str] = attrs.field(factory=Counter, kw_only=True, repr=False)
    _server: LoopbackServer | None = attrs.field(init=False, default=None, repr=False)
    _lock: anyio.Lock = attrs.field(init=False, factory=anyio.Lock, repr=False)

    @classmethod
    def for_sink(cls, sink: ReplySink, /, **kwargs: Any) -> ApprovalServer:
        """
        The callback of *sink*'s links: its queue, secret and repliers, under the path of its
        ``callback_url``; *kwargs* as for the constructor.

        Raises:
            ConfigurationError: The sink has no ``secret`` (its messages carry no links).
        """
        if sink.secret is None:
            raise ConfigurationError("the reply sink has no secret: its links are not signed")
        path = urlsplit(sink.callback_url or "").path
        kwargs.setdefault("repliers", sink.repliers)
        kwargs.setdefault("prefix", path)
        return cls(sink.queue, sink.secret, **kwargs)

    @property
    def url(self) -> str:
        """The base URL it listens on."""
        assert self._server is not None
        return self._server.url

    def route(self, path: str) -> list[str] | None:
        """The parts of *path* after the prefix (``["drafts", ...]``), ``None`` if not ours."""
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix) :]
        parts = [unquote(p) for p in path.split("/") if p]
        return parts if parts[:1] == ["drafts"] else None

    def _form(self, request: Request) -> dict[str, str] | None:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            return None
        return dict(parse_qsl(request.body.decode(errors="replace")))

    def authentic(self, request: Request) -> bool:
        """Whether *request* carries this server's link token or signature."""
        parts = self.route(request.path)
        if parts is None:
            return False
        if len(parts) == 3 and parts[2] in ("approve", "reject"):
            expected = _token(self.secret, parts[1], parts[2])
            if request.method == "GET":
                return hmac.compare_digest(request.query.get("token", ""), expected)
            form = self._form(request)
            if form is not None:
                return hmac.compare_digest(form.get("token", ""), expected)
        body = request.body if request.method == "POST" else b""
        return verify(self.secret, body, request.headers.get(SIGNATURE_HEADER.lower()))

    def _count(self, outcome: str, reply: Reply) -> Reply:
        self.outcomes[outcome] += 1
        return reply

    def _refuse(self, status: int, body: Any, request: Request) -> Reply:
        log.warning("approval request refused: %s %s (%s)", request.method,
                    request.path, "bad token" if status == 403 else "bad signature")  # fmt: skip
        return self._count("refused", Reply(status=status, body=body))

    async def _post(self, draft: Draft) -> Draft:
        replier = _by_platform(self.repliers).get(draft.platform)
        if replier is None:
            return draft
        return await _publish(self.queue, draft, replier) or draft

    async def _decide(self, draft_id: str, action: str, fields: Mapping[str, Any]) -> Reply:
        by = str(fields.get("by") or "").strip()
        if not by:
            return self._count("invalid", Reply(status=400, body={"error": "by is required"}))
        decision: Status = "approved" if action == "approve" else "rejected"
        same = ("approved", "posted", "failed") if action == "approve" else ("rejected",)
        async with self._lock:  # one decision (and post) at a time: never posted twice
            draft = await self.queue.get(draft_id)
            if draft is None:
                return self._count("not_found", Reply(status=404, body={"error": "no draft"}))
            outcome: str = decision
            try:
                if draft.status in same:
                    outcome = "repeated"
                elif action == "approve":
                    text = fields.get("text") or None
                    draft = await self.queue.approve(draft_id, by=by, text=text)
                else:
                    reason = str(fields.get("reason") or "")
                    draft = await self.queue.reject(draft_id, by=by, reason=reason)
            except ConfigurationError as exc:  # decided otherwise (here or elsewhere)
                return self._count("conflict", Reply(status=409, body={"error": str(exc)}))
            if draft.status == "approved":
                draft = await self._post(draft)
        body = {"id": draft.id, "status": draft.status, "posted_url": draft.posted_url,
                "repeated": outcome == "repeated"}  # fmt: skip
        return self._count(outcome, Reply(status=200, body=body))

    async def handle(self, request: Request) -> Reply:
        """Answer one request."""
        parts = self.route(request.path)
        if parts == ["drafts"] and request.method == "GET":
            if not self.authentic(request):
                return self._refuse(401, {"error": "signature required"}, request)
            return Reply(body=[d.to_dict() for d in await self.queue.pending()])
        if parts is None or len(parts) != 3 or parts[2] not in ("approve", "reject"):
            return Reply(status=404, body={"error": "not found"})
        draft_id, action = parts[1], parts[2]
        if request.method not in ("GET", "POST"):
            return Reply(status=405, body={"error": "method not allowed"})
        form = self._form(request) if request.method == "POST" else None
        if not self.authentic(request):
            if request.method == "GET" or form is not None:
                return self._refuse(403, "invalid link" if form is None else {
                    "error": "invalid token"}, request)  # fmt: skip
            return self._refuse(401, {"error": "invalid signature"}, request)
        if request.method == "GET":
            draft = await self.queue.get(draft_id)
            if draft is None:
                return self._count("not_found", Reply(status=404, body="no such draft"))
            extra = '<label>Reason <input name="reason"></label>' if action == "reject" else ""
            page = _PAGE.format(
                title=html.escape(f"{action.title()} reply on {draft.platform} ({draft.status})"),
                text=html.escape(draft.text), token=_token(self.secret, draft_id, action),
                extra=extra, action=html.escape(action.title()),
            )  # fmt: skip
            return Reply(body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
        if form is not None:
            return await self._decide(draft_id, action, form)
        try:
            fields = json.loads(request.body or b"{}")
        except ValueError:
            return self._count("invalid", Reply(status=400, body={"error": "body is not JSON"}))
        if not isinstance(fields, dict):
            return self._count(
                "invalid", Reply(status=400, body={"error": "body must be an object"})
            )
        return await self._decide(draft_id, action, fields)

    async def __aenter__(self) -> Self:
        self._server = LoopbackServer(self.handle, host=self.host, port=self.port, timeout=30.0)
        await self._server.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            await self._server.__aexit__(exc_type, exc, tb)
        self._server = None


@attrs.define(eq=False)
class _ApprovalRoutes:
    """
    The callbacks of several reply sinks on one HTTP server (``socialplug run --http``,
    ``socialplug approvals serve``): a request goes to the sink whose prefix and secret it
    matches. Sinks that share both share one callback, with their repliers by platform
    (the first sink's replier of a platform wins, as for ``socialplug approvals``).
    """

    servers: tuple[ApprovalServer, ...]
    #: ``(prefix, sink names)`` of each server, for people.
    served: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, sinks: Mapping[str, Any], outcomes: Counter[str]) -> _ApprovalRoutes | None:
        """The callbacks of the reply sinks in *sinks* that make links (``None``: none)."""
        groups: dict[tuple[str, str | bytes], tuple[list[str], dict[str, Replier], ReplySink]]
        groups = {}
        for name, sink in sinks.items():
            if not isinstance(sink, ReplySink) or not sink.callback_url or sink.secret is None:
                continue
            key = (_prefix(urlsplit(sink.callback_url).path), sink.secret)
            names, repliers, _ = groups.setdefault(key, ([], {}, sink))
            names.append(name)
            for replier in sink.repliers:
                repliers.setdefault(replier.platform, replier)
        if not groups:
            return None
        servers = tuple(
            ApprovalServer.for_sink(first, repliers=repliers, outcomes=outcomes)
            for names, repliers, first in groups.values()
        )
        served = tuple((p, tuple(names)) for (p, _), (names, _, _) in groups.items())
        return cls(servers, served)

    async def aclose(self) -> None:
        """Close the repliers."""
        for server in self.servers:
            for replier in _by_platform(server.repliers).values():
                await replier.aclose()

    async def handle(self, request: Request) -> Reply:
        """Answer *request* with the callback it is for (404 for none)."""
        candidates = [s for s in self.servers if s.route(request.path) is not None]
        if not candidates:
            return Reply(status=404, body="not found\n")
        server = next((s for s in candidates if s.authentic(request)), candidates[0])
        try:
            return await server.handle(request)
        except Exception:  # a failing store or replier must not stop the service
            log.exception("approval request failed: %s %s", request.method, request.path)
            return Reply(status=500, body={"error": "internal error"})
