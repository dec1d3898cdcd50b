"""
A Bluesky-like XRPC server and a Jetstream-like websocket server on loopback, fed with
recorded or generated posts.

:class:`BlueskyServer` answers ``createSession``/``refreshSession`` (short-lived JWT-shaped
tokens), ``searchPosts`` (``q``, ``author``, ``mentions``, ``lang``, ``domain``, ``url``,
``tag``, ``since``/``until``), ``getAuthorFeed``, ``listNotifications`` and ``getFeed`` with
cursor paging, ``RateLimit-*`` headers, 429s and injected faults. :class:`JetstreamServer`
replays events from a microsecond ``cursor``, honours ``wantedCollections``/``wantedDids``
and streams what is published while connected. :func:`make_post_view` builds post views with
facets at correct UTF-8 byte offsets.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._loopback import LoopbackServer, Request, Response


__all__ = [
    "BlueskyServer",
    "JetstreamServer",
    "facets_for",
    "jetstream_event",
    "make_post_view",
]

_rkeys = itertools.count(1)
_FACET = re.compile(r"(?P<url>https?://\S+)|(?P<tag>#[^\s#.,!?]+)|(?P<mention>@[\w.-]+\.\w+)")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rkey() -> str:
    return f"3l{next(_rkeys):011d}"


def facets_for(text: str, dids: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Facets for the links, ``#tags`` and ``@mentions`` in *text*, at UTF-8 byte offsets."""
    out: list[dict[str, Any]] = []
    for match in _FACET.finditer(text):
        start = len(text[: match.start()].encode())
        end = start + len(match.group(0).encode())
        if match.group("url"):
            feature = {"$type": "app.bsky.richtext.facet#link", "uri": match.group(0)}
        elif match.group("tag"):
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": match.group(0)[1:]}
        else:
            handle = match.group(0)[1:]
            did = (dids or {}).get(handle, f"did:plc:{handle.replace('.', '')[:24]}")
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
        out.append({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]})
    return out


def make_post_view(
    text: str,
    *,
    handle: str = "alice.test",
    did: str | None = None,
    created_at: datetime | None = None,
    indexed_at: datetime | None = None,
    langs: Iterable[str] = ("en",),
    reply_to: Mapping[str, Any] | None = None,
    embed: Mapping[str, Any] | None = None,
    labels: Iterable[str] = (),
    rkey: str | None = None,
) -> dict[str, Any]:
    """A ``postView`` as the AppView returns it, with facets computed from *text*."""
    did = did or f"did:plc:{handle.replace('.', '')[:24]}"
    when = created_at or datetime.now(UTC)
    uri = f"at://{did}/app.bsky.feed.post/{rkey or _rkey()}"
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": _iso(when),
        "langs": list(langs),
    }
    facets = facets_for(text)
    if facets:
        record["facets"] = facets
    if reply_to is not None:
        ref = {"uri": reply_to["uri"], "cid": reply_to.get("cid", "bafy")}
        root = (reply_to.get("record") or {}).get("reply", {}).get("root") or ref
        record["reply"] = {"root": root, "parent": ref}
    if embed is not None:
        record["embed"] = dict(embed)
    return {
        "uri": uri,
        "cid": f"bafyrei{abs(hash(uri)) % 10**20:020d}",
        "author": {
            "did": did,
            "handle": handle,
            "displayName": handle.split(".", maxsplit=1)[0].title(),
        },
        "record": record,
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": 0,
        "quoteCount": 0,
        "indexedAt": _iso(indexed_at or when),
        "labels": [{"src": did, "uri": uri, "val": v, "cts": _iso(when)} for v in labels],
    }


def jetstream_event(
    view: Mapping[str, Any], *, operation: str = "create", time_us: int | None = None
) -> dict[str, Any]:
    """The Jetstream commit event of a post view (create, update or delete)."""
    did, collection, rkey = view["uri"][5:].split("/")
    commit: dict[str, Any] = {
        "rev": f"3m{time.time_ns() % 10**11:011d}",
        "operation": operation,
        "collection": collection,
        "rkey": rkey,
    }
    if operation != "delete":
        commit["record"] = dict(view["record"])
        commit["cid"] = view.get("cid", "bafy")
    return {
        "did": did,
        "time_us": time_us if time_us is not None else time.time_ns() // 1000,
        "kind": "commit",
        "commit": commit,
    }


def _jwt(claims: Mapping[str, Any]) -> str:
    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2lnbmF0dXJl"


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


class BlueskyServer(LoopbackServer):
    """
    A Bluesky-like XRPC server on loopback. See the module documentation.

    Args:
        posts: Post views to serve at first.
        accounts: ``{handle: app_password}`` that may log in.
        access_ttl: Seconds an access token is valid.
        require_auth: Refuse anonymous reads.
        rate_limit: Requests per *rate_window* seconds before 429s (``RateLimit-*`` headers).
    """

    def __init__(
        self,
        posts: Iterable[Mapping[str, Any]] = (),
        *,
        accounts: Mapping[str, str] | None = None,
        access_ttl: float = 7200.0,
        require_auth: bool = False,
        rate_limit: int | None = 3000,
        rate_window: float = 300.0,
    ) -> None:
        self.accounts = dict(accounts or {})
        self.access_ttl = access_ttl
        self.require_auth = require_auth
        self._posts: list[dict[str, Any]] = [dict(p) for p in posts]
        self._notifications: list[dict[str, Any]] = []
        self._feed_items: list[dict[str, Any]] = []
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (kind, handle, exp)
        self.sessions_created = 0
        self.sessions_refreshed = 0
        super().__init__(rate_limit=rate_limit, rate_window=rate_window)

    @classmethod
    def from_recorded(cls, folder: str | Path, **kwargs: Any) -> BlueskyServer:
        """Serve every post view found in the recorded searchPosts/feed answers of *folder*."""
        views: dict[str, dict[str, Any]] = {}
        for path in sorted(Path(folder).glob("*.json")):
            if path.name.endswith(".meta.json"):
                continue
            try:
                data = json.loads(path.read_bytes())
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            for item in data.get("posts") or []:
                views[item["uri"]] = item
            for item in data.get("feed") or []:
                if not item.get("reason"):
                    views[item["post"]["uri"]] = item["post"]
        return cls(views.values(), **kwargs)

    # -- feeding it ------------------------------------------------------------------------

    def add_post(self, view: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Add a post view (built with :func:`make_post_view` from *kwargs* if not given)."""
        made = dict(view) if view is not None else make_post_view(**kwargs)
        with self._lock:
            self._posts.append(made)
        return made

    def add_notification(self, reason: str, view: Mapping[str, Any]) -> dict[str, Any]:
        """Add a notification (``mention``, ``reply``, ``quote``, ``like``...) about *view*."""
        notification = {
            "uri": view["uri"],
            "cid": view.get("cid", "bafy"),
            "author": view["author"],
            "reason": reason,
            "record": view["record"]
            if reason in ("mention", "reply", "quote")
            else {"$type": "app.bsky.feed.like", "createdAt": view["record"]["createdAt"]},
            "isRead": False,
            "indexedAt": view["indexedAt"],
            "labels": [],
        }
        with self._lock:
            self._notifications.append(notification)
        return notification

    def add_repost(self, view: Mapping[str, Any], *, by: str = "bob.test") -> dict[str, Any]:
        """Add a feed item reposting *view* to the author feed of *by*."""
        did = f"did:plc:{by.replace('.', '')[:24]}"
        item = {
            "post": dict(view),
            "reason": {
                "$type": "app.bsky.feed.defs#reasonRepost",
                "by": {"did": did, "handle": by},
                "uri": f"at://{did}/app.bsky.feed.repost/{_rkey()}",
                "indexedAt": _iso(datetime.now(UTC)),
            },
        }
        with self._lock:
            self._feed_items.append(item)
        return item

    def expire_tokens(self) -> None:
        """Make every access token expired (the next call must refresh)."""
        with self._lock:
            for token, (kind, handle, _exp) in list(self._tokens.items()):
                if kind == "access":
                    self._tokens[token] = (kind, handle, 0.0)

    # -- answering -------------------------------------------------------------------------

    def _issue(self, handle: str) -> dict[str, Any]:
        now = time.time()
        did = f"did:plc:{handle.replace('.', '')[:24]}"
        access = _jwt({"sub": did, "exp": int(now + self.access_ttl), "n": time.time_ns()})
        refresh = _jwt({"sub": did, "exp": int(now + 86400 * 60), "n": time.time_ns() + 1})
        with self._lock:
            self._tokens[access] = ("access", handle, now + self.access_ttl)
            self._tokens[refresh] = ("refresh", handle, now + 86400 * 60)
        return {"accessJwt": access, "refreshJwt": refresh, "did": did, "handle": handle}

    def _bearer(self, request: Request, kind: str) -> tuple[str | None, Response | None]:
        header = request.headers.get("authorization", "")
        if not header:
            return None, None
        token = header.removeprefix("Bearer ")
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[0] != kind:
            return None, Response(
                status=401, json={"error": "InvalidToken", "message": "Bad token"}
            )
        if entry[2] < time.time():
            return None, Response(
                status=400, json={"error": "ExpiredToken", "message": "Token has expired"}
            )
        return entry[1], None

    def route(self, request: Request) -> Response:
        """Answer the XRPC methods."""
        method = request.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession":
            body = request.json() or {}
            handle = body.get("identifier")
            if handle not in self.accounts or self.accounts[handle] != body.get("password"):
                return Response(
                    status=401,
                    json={
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            self.sessions_created += 1
            return Response(json=self._issue(handle))
        if method == "com.atproto.server.refreshSession":
            handle, refused = self._bearer(request, "refresh")
            if refused is not None or handle is None:
                return refused or Response(status=401, json={"error": "AuthMissing"})
            self.sessions_refreshed += 1
            return Response(json=self._issue(handle))
        viewer, refused = self._bearer(request, "access")
        if refused is not None:
            return refused
        if viewer is None and (self.require_auth or method.endswith("listNotifications")):
            return Response(
                status=401, json={"error": "AuthMissing", "message": "Authentication Required"}
            )
        with self._lock:
            posts = sorted(self._posts, key=lambda p: p["indexedAt"], reverse=True)
            notifications = sorted(self._notifications, key=lambda n: n["indexedAt"], reverse=True)
            items = list(self._feed_items)
        if method == "app.bsky.feed.searchPosts":
            return self._paged(request, "posts", self._search(request, posts))
        if method == "app.bsky.feed.getAuthorFeed":
            actor = request.param("actor") or ""
            feed = [
                {"post": p} for p in posts if actor in (p["author"]["did"], p["author"]["handle"])
            ]
            feed += [
                i
                for i in items
                if actor in (i["reason"]["by"]["did"], i["reason"]["by"]["handle"])
            ]
            feed.sort(key=lambda i: (i.get("reason") or i["post"])["indexedAt"], reverse=True)
            return self._paged(request, "feed", feed)
        if method == "app.bsky.notification.listNotifications":
            reasons = set(request.params("reasons"))
            chosen = [n for n in notifications if not reasons or n["reason"] in reasons]
            return self._paged(request, "notifications", chosen)
        if method == "app.bsky.feed.getFeed":
            return self._paged(request, "feed", [{"post": p} for p in posts])
        return Response(status=501, json={"error": "MethodNotImplemented", "message": method})

    def _search(self, request: Request, posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        q = (request.param("q") or "").lower()
        author = request.param("author")
        mentions = request.param("mentions")
        lang = request.param("lang")
        domain = request.param("domain")
        url = request.param("url")
        tags = {t.lower() for t in request.params("tag")}
        since = _when(request.param("since"))
        until = _when(request.param("until"))
        out = []
        for post in posts:
            record = post["record"]
            features = [f for facet in record.get("facets") or () for f in facet["features"]]
            links = [f.get("uri", "") for f in features if f["$type"].endswith("#link")]
            post_tags = {f.get("tag", "").lower() for f in features if f["$type"].endswith("#tag")}
            created = _when(record.get("createdAt"))
            if q and q not in record.get("text", "").lower():
                continue
            if author and author not in (post["author"]["did"], post["author"]["handle"]):
                continue
            if (
                mentions
                and not any(
                    f["$type"].endswith("#mention") and f.get("did") == mentions for f in features
                )
                and f"@{mentions}" not in record.get("text", "")
            ):
                continue
            if lang and lang not in record.get("langs", []):
                continue
            if domain and not any(urlsplit(link).hostname == domain for link in links):
                continue
            if url and url not in links:
                continue
            if tags and not tags <= post_tags:
                continue
            if since and created and created < since:
                continue
            if until and created and created >= until:
                continue
            out.append(post)
        return out

    def _paged(self, request: Request, field: str, items: list[Any]) -> Response:
        limit = min(int(request.param("limit") or 25), 100)
        offset = int(request.param("cursor") or 0)
        page = items[offset : offset + limit]
        body: dict[str, Any] = {field: page}
        if offset + limit < len(items):
            body["cursor"] = str(offset + limit)
        return Response(json=body)

    def _rate_headers(self) -> tuple[dict[str, str], bool]:
        headers, exceeded = super()._rate_headers()
        if not headers:
            return headers, exceeded
        reset = headers.pop("X-RateLimit-Reset")
        reset_epoch = int(datetime.fromisoformat(reset).timestamp())
        out = {
            "RateLimit-Limit": headers.pop("X-RateLimit-Limit"),
            "RateLimit-Remaining": headers.pop("X-RateLimit-Remaining"),
            "RateLimit-Reset": str(reset_epoch),
            "RateLimit-Policy": f"{self.rate_limit};w={int(self.rate_window)}",
        }
        out.update(headers)
        return out, exceeded


class JetstreamServer:
    """
    A Jetstream-like websocket server on loopback (``ws://127.0.0.1:PORT/subscribe``).

    Events given at start or :meth:`publish`\\ ed are kept; a client connecting with a
    ``cursor`` first gets every kept event at or after it, then live ones. :meth:`drop`
    closes every connection (the client should reconnect and rewind). Needs ``websockets``.
    """

    def __init__(self, events: Iterable[Mapping[str, Any]] = ()) -> None:
        from websockets.sync.server import serve  # noqa: PLC0415

        self.events: list[dict[str, Any]] = sorted(
            (dict(e) for e in events), key=lambda e: int(e.get("time_us", 0))
        )
        self.connections: list[dict[str, Any]] = []  # what each client asked for
        self._lock = threading.Lock()
        self._inboxes: list[queue.Queue[dict[str, Any] | str | None]] = []
        self._server = serve(self._handle, "127.0.0.1", 0)
        host, port = self._server.socket.getsockname()[:2]
        self.url = f"ws://{host}:{port}/subscribe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def publish(self, event: Mapping[str, Any] | str) -> None:
        """Keep *event* and send it to every connected client (a str is sent as is)."""
        with self._lock:
            if not isinstance(event, str):
                self.events.append(dict(event))
            for inbox in self._inboxes:
                inbox.put(event if isinstance(event, str) else dict(event))

    def drop(self) -> None:
        """Close every open connection."""
        with self._lock:
            for inbox in self._inboxes:
                inbox.put(None)

    @property
    def connected(self) -> int:
        """How many clients are connected."""
        with self._lock:
            return len(self._inboxes)

    def close(self) -> None:
        """Stop the server."""
        self.drop()
        self._server.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> JetstreamServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handle(self, websocket: Any) -> None:
        query = parse_qsl(urlsplit(websocket.request.path).query)
        collections = {v for k, v in query if k == "wantedCollections"}
        dids = {v for k, v in query if k == "wantedDids"}
        cursor = next((int(v) for k, v in query if k == "cursor"), None)
        inbox: queue.Queue[dict[str, Any] | str | None] = queue.Queue()

        def wanted(event: Mapping[str, Any]) -> bool:
            commit = event.get("commit") or {}
            if collections and commit.get("collection") not in collections:
                return False
            return not dids or event.get("did") in dids

        with self._lock:
            self.connections.append({"cursor": cursor, "collections": collections, "dids": dids})
            backlog = [e for e in self.events if cursor is not None and e["time_us"] >= cursor]
            self._inboxes.append(inbox)
        try:
            for event in backlog:
                if wanted(event):
                    websocket.send(json.dumps(event))
            while True:
                item = inbox.get()
                if item is None:
                    break
                if isinstance(item, str):
                    websocket.send(item)
                elif wanted(item):
                    websocket.send(json.dumps(item))
        except Exception:  # noqa: S110 - the client went away
            pass
        finally:
            with self._lock:
                self._inboxes.remove(inbox)
            websocket.close()
