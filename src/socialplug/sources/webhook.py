"""
Inbound webhooks: an ASGI application that accepts pushed JSON and a source that feeds it
into a pipeline.

The receiver verifies a signature (socialplug's ``X-Socialplug-Signature``, the scheme the
webhook sink signs with, or GitHub's ``X-Hub-Signature-256``), refuses stale and replayed
requests and oversized bodies, and answers ``202`` only once the item is durably stored in the
state store (as a record in the ``webhook:<name>`` namespace). :meth:`WebhookSource.pages`
reads those records in arrival order; the runtime calls :meth:`WebhookSource.commit` once a
page is handled, and only then is the record deleted. A crash anywhere after the ``202``
loses nothing: the stored item is read again on restart.

Mount :attr:`WebhookSource.app` in an existing Starlette/FastAPI application
(``app.mount("/hooks/acme", source.app)``) or run it alone with :meth:`WebhookSource.serve`
(the ``webhook`` extra: uvicorn).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    MutableMapping,
)
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import attrs

from .._signing import SIGNATURE_HEADER, verify
from ..clock import Clock, SystemClock
from ..exceptions import ConfigurationError, MissingExtraError, StateError
from ..model import Author, Malformed, Page, Post
from ..typing import StateStore


__all__ = ["WebhookSource", "to_post"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SOCIALPLUG = SIGNATURE_HEADER.lower().encode()
_GITHUB = b"x-hub-signature-256"
_GITHUB_DELIVERY = b"x-github-delivery"
_KEPT_HEADERS = (b"content-type", b"x-github-event", b"x-github-delivery", b"user-agent")


def _time(value: object, fallback: datetime) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return fallback


def to_post(payload: Any, /, *, key: str, received_at: datetime, source: str = "") -> Post:
    """
    Map one pushed JSON document to a :class:`~socialplug.model.Post`.

    A serialized post (``Post.to_dict()``, as the webhook sink and the JSON sinks write it) is
    rebuilt as is. Any other object becomes a ``"webhook"`` post: ``id`` (else *key*),
    ``text`` (or ``message``, ``body``, ``content``), ``title``, ``url``, ``author`` (a name
    or an object with ``id``/``handle``/``name``/``url``), ``created_at`` (ISO text or epoch
    seconds, else *received_at*), ``lang``, ``tags``; the whole document is kept in ``raw``.

    Raises:
        TypeError: *payload* is not a JSON object.
        KeyError, ValueError: A serialized post is incomplete.
    """
    if not isinstance(payload, Mapping):
        msg = f"expected a JSON object, got {type(payload).__name__}"
        raise TypeError(msg)
    if {"platform", "id", "created_at"} <= payload.keys():
        post = Post.from_dict(payload)
        return post if post.source or not source else attrs.evolve(post, source=source)
    author = payload.get("author")
    if isinstance(author, Mapping):
        who = Author(
            id=str(author.get("id") or ""),
            handle=str(
                author.get("handle") or author.get("username") or author.get("login") or ""
            ),
            name=str(author.get("name") or ""),
            url=author.get("url") if isinstance(author.get("url"), str) else None,
        )
    else:
        who = Author(handle=str(author)) if isinstance(author, str) else Author()
    text = next(
        (
            payload[f]
            for f in ("text", "message", "body", "content")
            if isinstance(payload.get(f), str)
        ),
        "",
    )
    tags = payload.get("tags")
    return Post(
        platform="webhook",
        id=str(payload.get("id") or key),
        text=text,
        title=payload.get("title") if isinstance(payload.get("title"), str) else None,
        url=payload.get("url") if isinstance(payload.get("url"), str) else None,
        author=who,
        created_at=_time(payload.get("created_at"), received_at),
        lang=payload.get("lang") if isinstance(payload.get("lang"), str) else None,
        tags=[str(t) for t in tags] if isinstance(tags, list) else (),
        source=source,
        raw=payload,
    )


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@attrs.define(eq=False, kw_only=True)
class WebhookSource:
    """
    Receive signed JSON pushes and feed them, durably, into a pipeline.

    Args:
        secret: The shared HMAC secret. Never logged.
        store: Where accepted items wait until the pipeline has handled them; use the
            pipeline's own durable store (``SQLiteStateStore``, PostgreSQL, Redis).
        schemes: Accepted signature schemes: ``"socialplug"`` (``X-Socialplug-Signature:
            t=...,v1=...`` over timestamp and body) and ``"github"``
            (``X-Hub-Signature-256: sha256=...``; GitHub signs no timestamp, so its replays
            are caught by the ``X-GitHub-Delivery`` id instead).
        tolerance: Replay window in seconds: older or future timestamps get 401.
        max_body: Largest accepted body in bytes; larger ones get 413.
        mapping: Turns one pushed document into a post (default: :func:`to_post`).
        batch_size: Posts per page at most.
        poll_interval: With ``follow=True``, how often to look for items stored by other
            processes sharing the store (items received here wake the source at once).
        clock: The time used for the replay window.

    Attributes:
        counts: Requests by outcome: ``accepted``, ``duplicate``, ``unsigned``, ``forged``,
            ``stale``, ``too_large``, ``bad_json``, ``bad_method``, ``unavailable``.

    .. versionadded:: 0.1.0
    """

    secret: str | bytes = attrs.field(repr=False)
    store: StateStore
    schemes: tuple[str, ...] = attrs.field(default=("socialplug", "github"), converter=tuple)
    tolerance: float = 300.0
    max_body: int = 1024 * 1024
    mapping: Callable[..., Post] | None = None
    batch_size: int = 100
    poll_interval: float = 5.0
    clock: Clock = attrs.field(factory=SystemClock)
    name: str = "webhook"
    counts: dict[str, int] = attrs.field(factory=dict, init=False)
    _key: bytes = attrs.field(init=False, repr=False)
    _recent: dict[str, float] = attrs.field(factory=dict, init=False, repr=False)
    _pruned_at: float = attrs.field(default=0.0, init=False, repr=False)
    _pending: list[tuple[str, list[str]]] = attrs.field(factory=list, init=False, repr=False)
    _arrived: anyio.Event | None = attrs.field(default=None, init=False, repr=False)
    _sequence: int = attrs.field(default=0, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        unknown = set(self.schemes) - {"socialplug", "github"}
        if unknown or not self.schemes:
            raise ConfigurationError(
                f"WebhookSource: schemes= must name 'socialplug' and/or 'github', got {self.schemes}"
            )
        if not self.secret:
            raise ConfigurationError("WebhookSource: secret= is required")
        self._key = self.secret.encode() if isinstance(self.secret, str) else self.secret

    @property
    def namespace(self) -> str:
        """The state-store record namespace holding accepted, not yet handled items."""
        return f"webhook:{self.name}"

    # -- receiving ----------------------------------------------------------------------

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def _check(self, headers: Mapping[bytes, bytes], body: bytes) -> tuple[str | None, str]:
        """Return (refusal or None, replay id)."""
        now = self.clock.now().timestamp()
        ours = headers.get(_SOCIALPLUG)
        if ours is not None and "socialplug" in self.schemes:
            value = ours.decode("latin-1")
            stamp = next(
                (p.partition("=")[2] for p in value.split(",") if p.strip().startswith("t=")), ""
            )
            try:
                if abs(now - int(stamp)) > self.tolerance:
                    return "stale", ""
            except ValueError:
                return "forged", ""
            if not verify(self._key, body, value, tolerance=self.tolerance, now=now):
                return "forged", ""
            return None, value
        theirs = headers.get(_GITHUB)
        if theirs is not None and "github" in self.schemes:
            expected = "sha256=" + hmac.new(self._key, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected.encode(), theirs.strip()):
                return "forged", ""
            delivery = headers.get(_GITHUB_DELIVERY, b"").decode("latin-1")
            return None, "github:" + (delivery or expected)
        return "unsigned", ""

    def _replayed(self, replay_id: str, now: float) -> bool:
        """Remember signatures for twice the window; a repeat inside it is a replay."""
        if now - self._pruned_at > self.tolerance:
            horizon = now - 2 * self.tolerance
            self._recent = {k: t for k, t in self._recent.items() if t > horizon}
            self._pruned_at = now
        if replay_id in self._recent:
            return True
        self._recent[replay_id] = now
        return False

    def _next_key(self) -> str:
        self._sequence = (self._sequence + 1) % 1_000_000
        return f"{time.time_ns():020d}-{self._sequence:06d}-{os.urandom(3).hex()}"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application: ``POST`` a signed JSON document to any path."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            self._count("bad_method")
            await _respond(send, 405, b'{"error":"use POST"}')
            return
        headers = dict(scope["headers"])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > self.max_body:
            self._count("too_large")
            await _respond(send, 413, b'{"error":"body too large"}')
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                self._count("too_large")
                await _respond(send, 413, b'{"error":"body too large"}')
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        refusal, replay_id = self._check(headers, body)
        if refusal is not None:
            self._count(refusal)
            await _respond(send, 401, b'{"error":"invalid or missing signature"}')
            return
        try:
            text = body.decode("utf-8")
            json.loads(text)
        except ValueError:
            self._count("bad_json")
            await _respond(send, 400, b'{"error":"body is not JSON"}')
            return
        now = self.clock.now()
        if self._replayed(replay_id, now.timestamp()):
            self._count("duplicate")
            await _respond(send, 200, b'{"duplicate":true}')
            return
        key = self._next_key()
        record = {
            "body": text,
            "received_at": now.isoformat(),
            "headers": {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in headers.items()
                if k in _KEPT_HEADERS
            },
        }
        try:
            await self.store.put_record(self.namespace, key, record)
        except StateError:
            self._recent.pop(replay_id, None)
            self._count("unavailable")
            await _respond(send, 503, b'{"error":"could not store the item"}')
            return
        self._count("accepted")
        if self._arrived is not None:
            self._arrived.set()
        await _respond(send, 202, json.dumps({"id": key}).encode())

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """
        Run the receiver alone under uvicorn until cancelled; then stop it gracefully.

        Use ``await task_group.start(source.serve, port=...)`` to wait until it listens.

        Raises:
            MissingExtraError: uvicorn is not installed (``pip install 'socialplug[webhook]'``).
            OSError: The address cannot be listened on.
        """
        try:
            import uvicorn  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingExtraError("uvicorn", extra="webhook") from exc
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        done = anyio.Event()

        async def run() -> None:
            try:
                with anyio.CancelScope(shield=True):
                    await server.serve()
            except SystemExit as exc:
                raise OSError(f"{self.name}: cannot listen on {host}:{port}") from exc
            finally:
                done.set()

        try:
            await self._serve(server, run, done, task_status)
        except* OSError as group:
            raise group.exceptions[0] from None

    async def _serve(
        self,
        server: Any,
        run: Callable[[], Coroutine[Any, Any, None]],
        done: anyio.Event,
        task_status: anyio.abc.TaskStatus[None],
    ) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            while not server.started and not done.is_set():  # noqa: ASYNC110 (uvicorn offers a flag, no event)
                await anyio.sleep(0.01)
            if server.started:
                task_status.started()
            try:
                await done.wait()
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True):
                    await done.wait()

    # -- reading ------------------------------------------------------------------------

    def _to_post(self, key: str, record: Any) -> Post:
        received = datetime.fromisoformat(record["received_at"])
        payload = json.loads(record["body"])
        mapping = self.mapping or to_post
        return mapping(payload, key=key, received_at=received, source=self.name)

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield the stored items in arrival order; with ``follow=True`` wait for more.

        An item is deleted once the runtime has handled its page (:meth:`commit`), so what is
        stored is not handled yet: every stored item is read, except those of pages this
        source yielded up to *cursor* (handled, hence deleted now). After a restart that is
        everything still stored; an item handled just before a crash, whose deletion did not
        happen, is read again and the runtime's seen keys catch the repeat.
        """
        if cursor is not None:
            await self.commit(cursor)
        self._arrived = anyio.Event()
        self._pending = []
        yielded: set[str] = set()
        while True:
            records = await self.store.records(self.namespace)
            fresh = sorted(k for k in records if k not in yielded)
            for start in range(0, len(fresh), self.batch_size):
                keys = fresh[start : start + self.batch_size]
                posts: list[Post] = []
                malformed: list[Malformed] = []
                for key in keys:
                    try:
                        posts.append(self._to_post(key, records[key]))
                    except (KeyError, TypeError, ValueError, AttributeError) as exc:
                        raw = records[key]
                        payload = raw.get("body") if isinstance(raw, Mapping) else None
                        malformed.append(
                            Malformed(
                                reason=f"{type(exc).__name__}: {exc}",
                                payload=payload if isinstance(payload, str) else json.dumps(raw),
                                source=self.name,
                            )
                        )
                yielded.update(keys)
                self._pending.append((keys[-1], keys))
                yield Page(posts=posts, malformed=malformed, cursor=keys[-1])
            if not follow:
                return
            with anyio.move_on_after(self.poll_interval):
                await self._arrived.wait()
            self._arrived = anyio.Event()

    async def commit(self, cursor: str) -> None:
        """Delete the stored items of every page up to the one ending at *cursor*."""
        if all(last != cursor for last, _ in self._pending):
            return  # not a page of this reading (a cursor stored by an earlier process)
        while self._pending:
            last, keys = self._pending.pop(0)
            for key in keys:
                await self.store.delete_record(self.namespace, key)
            if last == cursor:
                return

    async def aclose(self) -> None:
        """Nothing to release: the store belongs to the caller. Idempotent."""
        self._arrived = None
