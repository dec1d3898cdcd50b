"""
A Mastodon-like server on loopback, fed with recorded or generated statuses.

Replies post with ``POST /api/v1/statuses`` (bearer token required; a repeated
``Idempotency-Key`` returns the status made the first time).

It answers the client API the Mastodon source uses: hashtag (``any[]``/``all[]``/``none[]``),
public, local, account, list and home timelines, notifications (``types[]``) and v2 search,
with ``max_id``/``since_id``/``min_id``/``limit`` paging and ``Link`` headers, ``X-RateLimit-*``
headers and 429s, bearer-token checks, injected faults (5xx, 429, HTML or truncated bodies)
and server-sent-event streams (``update``, ``status.update``, ``delete``, ``notification``) with
heartbeats::

    with MastodonServer(token="secret") as server:
        server.add_status(content="<p>Trains are late again #brand</p>", tags=["brand"])
        source = MastodonSource(servers=server.url, timelines=Timeline.tag("brand"),
                                token="secret")
"""

from __future__ import annotations

import copy
import html
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ._loopback import Fault, LoopbackServer, Request, Response


__all__ = ["Fault", "MastodonServer", "Request", "Response", "make_status"]

_ids = itertools.count(1)
_ids_lock = threading.Lock()


def _snowflake(when: datetime) -> str:
    with _ids_lock:
        seq = next(_ids) & 0xFFFF
    return str((int(when.timestamp() * 1000) << 16) | seq)


def make_status(
    *,
    content: str = "<p>Hello</p>",
    server: str = "http://127.0.0.1",
    username: str = "alice",
    acct: str | None = None,
    tags: Iterable[str] = (),
    mentions: Iterable[str] = (),
    created_at: datetime | None = None,
    status_id: str | None = None,
    language: str | None = "en",
    spoiler_text: str = "",
    sensitive: bool = False,
    visibility: str = "public",
    in_reply_to_id: str | None = None,
    reblog: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """
    Build a status entity shaped like Mastodon's (4.x), with a time-ordered id. Hashtags in
    *tags* are linked in the content the way Mastodon links them.
    """
    when = created_at or datetime.now(UTC)
    sid = status_id or _snowflake(when)
    tag_list = list(tags)
    if tag_list:
        links = " ".join(
            f'<a href="{server}/tags/{t}" class="mention hashtag" rel="tag">#<span>{t}</span></a>'
            for t in tag_list
        )
        content = f"{content}<p>{links}</p>"
    status: dict[str, Any] = {
        "id": sid,
        "created_at": when.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "in_reply_to_id": in_reply_to_id,
        "in_reply_to_account_id": None,
        "sensitive": sensitive,
        "spoiler_text": spoiler_text,
        "visibility": visibility,
        "language": language,
        "uri": f"{server}/users/{username}/statuses/{sid}",
        "url": f"{server}/@{username}/{sid}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "quotes_count": 0,
        "edited_at": None,
        "content": "" if reblog else content,
        "reblog": dict(reblog) if reblog else None,
        "account": {
            "id": str(abs(hash(username)) % 10**12),
            "username": username,
            "acct": acct or username,
            "display_name": username.title(),
            "bot": False,
            "url": f"{server}/@{username}",
            "followers_count": 0,
        },
        "media_attachments": [],
        "mentions": [
            {"id": "1", "username": m.split("@")[0], "acct": m, "url": f"{server}/@{m}"}
            for m in mentions
        ],
        "tags": [{"name": t.lower(), "url": f"{server}/tags/{t.lower()}"} for t in tag_list],
        "emojis": [],
        "card": None,
        "poll": None,
    }
    status.update(fields)
    return status


def _idkey(value: str) -> tuple[int, str]:
    return (len(value), value)


class MastodonServer(LoopbackServer):
    """
    A Mastodon-like server on loopback. See the module documentation.

    Args:
        statuses: Statuses to serve at first (any order; kept sorted by id).
        token: When set, requests must carry ``Authorization: Bearer <token>`` (timelines
            other than home, lists and notifications also accept anonymous reads unless
            *require_auth*).
        require_auth: Refuse anonymous reads everywhere.
        rate_limit: Requests allowed per *rate_window* seconds before 429s.
        heartbeat: Seconds between stream heartbeats.
        search: Whether ``/api/v2/search`` returns statuses (many servers refuse).
    """

    def __init__(
        self,
        statuses: Iterable[Mapping[str, Any]] = (),
        *,
        token: str | None = None,
        require_auth: bool = False,
        rate_limit: int | None = 300,
        rate_window: float = 300.0,
        heartbeat: float = 15.0,
        search: bool = True,
    ) -> None:
        self.token = token
        self.require_auth = require_auth
        self.heartbeat = heartbeat
        self.search_enabled = search
        self._statuses: dict[str, dict[str, Any]] = {}
        self._notifications: list[dict[str, Any]] = []
        self._notification_ids = itertools.count(1)
        self._idempotent: dict[str, dict[str, Any]] = {}
        super().__init__(rate_limit=rate_limit, rate_window=rate_window)
        for status in statuses:
            self._statuses[str(status["id"])] = dict(status)

    @classmethod
    def from_recorded(cls, folder: str | Path, **kwargs: Any) -> MastodonServer:
        """Serve every status found in the recorded ``*.json``/``*.jsonl`` files of *folder*."""
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(Path(folder).iterdir()):
            if path.name.endswith(".meta.json") or path.suffix not in (".json", ".jsonl"):
                continue
            chunks = (
                path.read_bytes().splitlines() if path.suffix == ".jsonl" else [path.read_bytes()]
            )
            for chunk in chunks:
                try:
                    data = json.loads(chunk)
                except ValueError:
                    continue
                for item in data if isinstance(data, list) else [data]:
                    if isinstance(item, dict) and {"id", "uri", "content", "account"} <= set(item):
                        found[str(item["id"])] = item
        return cls(found.values(), **kwargs)

    # -- feeding it ------------------------------------------------------------------------

    def add_status(self, status: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Add a status (built with :func:`make_status` from *fields* if not given) and
        publish it to open streams as an ``update`` event."""
        made = dict(status) if status is not None else make_status(server=self.url, **fields)
        with self._lock:
            self._statuses[str(made["id"])] = made
        self.publish("update", json.dumps(made, ensure_ascii=False))
        return made

    def edit_status(self, status_id: str, content: str) -> dict[str, Any]:
        """Edit a status and publish a ``status.update`` event."""
        with self._lock:
            status = self._statuses[status_id]
            status["content"] = content
            status["edited_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            edited = copy.deepcopy(status)
        self.publish("status.update", json.dumps(edited, ensure_ascii=False))
        return edited

    def delete_status(self, status_id: str) -> None:
        """Delete a status and publish a ``delete`` event."""
        with self._lock:
            self._statuses.pop(status_id, None)
        self.publish("delete", status_id)

    def add_notification(self, kind: str, status: Mapping[str, Any] | None) -> dict[str, Any]:
        """Add a notification of *kind* about *status* and publish it."""
        notification = {
            "id": str(next(self._notification_ids)),
            "type": kind,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "account": (status or {}).get("account", {"id": "0", "acct": "someone"}),
            "status": dict(status) if status else None,
        }
        with self._lock:
            self._notifications.append(notification)
        self.publish("notification", json.dumps(notification, ensure_ascii=False))
        return notification

    # -- answering -------------------------------------------------------------------------

    def _authorized(self, request: Request, *, private: bool) -> bool:
        header = request.headers.get("authorization", "")
        if self.token is None:
            return True
        if header:
            return header == f"Bearer {self.token}"
        return not (private or self.require_auth)

    def _unauthorized(self) -> Response:
        return Response(status=401, json={"error": "The access token is invalid"})

    def _select(self, request: Request) -> tuple[list[dict[str, Any]] | None, bool]:
        """The candidate items of a timeline request, newest first, and whether private."""
        path = request.path
        with self._lock:
            statuses = sorted(self._statuses.values(), key=lambda s: _idkey(s["id"]), reverse=True)
            notifications = list(reversed(self._notifications))
        local = request.param("local") in ("true", "1")
        remote = request.param("remote") in ("true", "1")

        def is_local(s: Mapping[str, Any]) -> bool:
            return "@" not in s["account"].get("acct", "")

        if local:
            statuses = [s for s in statuses if is_local(s)]
        if remote:
            statuses = [s for s in statuses if not is_local(s)]
        if path.startswith("/api/v1/timelines/tag/"):
            tag = path.rsplit("/", 1)[-1].lower()
            wanted_any = {tag, *(t.lower() for t in request.params("any[]"))}
            wanted_all = {t.lower() for t in request.params("all[]")}
            unwanted = {t.lower() for t in request.params("none[]")}

            def names(s: Mapping[str, Any]) -> set[str]:
                return {t["name"].lower() for t in s.get("tags") or ()}

            return [
                s
                for s in statuses
                if names(s) & wanted_any and wanted_all <= names(s) and not names(s) & unwanted
            ], False
        if path == "/api/v1/timelines/public":
            return statuses, False
        if path in ("/api/v1/timelines/home",) or path.startswith("/api/v1/timelines/list/"):
            return statuses, True
        if path.startswith("/api/v1/accounts/") and path.endswith("/statuses"):
            account = path.split("/")[4]
            return [s for s in statuses if str(s["account"]["id"]) == account], False
        if path == "/api/v1/notifications":
            types = set(request.params("types[]"))
            return [n for n in notifications if not types or n["type"] in types], True
        if path == "/api/v2/search":
            query = (request.param("q") or "").lower()
            return [s for s in statuses if query in s.get("content", "").lower()], True
        return None, False

    def route(self, request: Request) -> Response:
        """Answer the Mastodon client API."""
        path = request.path
        if path == "/api/v1/instance":
            return Response(json={"uri": self.url, "title": "loopback", "version": "4.4.0"})
        if path.startswith("/api/v1/streaming"):
            private = "/user" in path or "/list" in path
            if not self._authorized(request, private=private):
                return self._unauthorized()
            return Response(status=200, json={})
        if path == "/api/v1/statuses" and request.method == "POST":
            return self._post_status(request)
        if path.startswith("/api/v1/statuses/"):
            with self._lock:
                status = self._statuses.get(path.rsplit("/", 1)[-1])
            return Response(json=status) if status else Response(status=404, json={})
        items, private = self._select(request)
        if items is None:
            return Response(status=404, json={"error": "Not Found"})
        if not self._authorized(request, private=private):
            return self._unauthorized()
        if path == "/api/v2/search" and not self.search_enabled:
            return Response(json={"accounts": [], "statuses": [], "hashtags": []})
        page, link = self._page(request, items)
        if path == "/api/v2/search":
            return Response(json={"accounts": [], "statuses": page, "hashtags": []})
        return Response(json=page, headers={"Link": link} if link else {})

    def _post_status(self, request: Request) -> Response:
        """``POST /api/v1/statuses`` (JSON body): publish a status as the token's account; a
        repeated ``Idempotency-Key`` returns the status it made the first time."""
        if not self._authorized(request, private=True) or not request.headers.get("authorization"):
            return self._unauthorized()
        try:
            body = request.json()
            text = str(body["status"])
        except (ValueError, KeyError, TypeError):
            return Response(status=422, json={"error": "Validation failed: Text can't be blank"})
        key = request.headers.get("idempotency-key")
        with self._lock:
            made = self._idempotent.get(key) if key else None
        if made is not None:
            return Response(json=made)
        made = self.add_status(
            content=f"<p>{html.escape(text)}</p>",
            username="brand",
            in_reply_to_id=body.get("in_reply_to_id"),
            visibility=str(body.get("visibility") or "public"),
        )
        if key:
            with self._lock:
                self._idempotent[key] = made
        return Response(json=made)

    def _page(
        self, request: Request, items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str]:
        limit = min(int(request.param("limit") or 20), 40)
        max_id = request.param("max_id")
        since_id = request.param("since_id")
        min_id = request.param("min_id")
        if max_id:
            items = [i for i in items if _idkey(str(i["id"])) < _idkey(max_id)]
        if since_id:
            items = [i for i in items if _idkey(str(i["id"])) > _idkey(since_id)]
        if min_id:
            newer = [i for i in items if _idkey(str(i["id"])) > _idkey(min_id)]
            page = newer[-limit:]  # the ones right after min_id, still newest first
        else:
            page = items[:limit]
        if not page:
            return [], ""
        base = f"{self.url}{request.path}"
        keep = [(k, v) for k, v in request.query if k not in ("max_id", "min_id", "since_id")]
        newest, oldest = str(page[0]["id"]), str(page[-1]["id"])
        next_url = f"{base}?{urlencode([*keep, ('max_id', oldest)])}"
        prev_url = f"{base}?{urlencode([*keep, ('min_id', newest)])}"
        return page, f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'

    def stream_filter(self, request: Request) -> Callable[[str, str], bool] | None:
        """Which events each streaming endpoint carries."""
        path = request.path
        if not path.startswith("/api/v1/streaming/") or path.endswith("/health"):
            return None
        if path.startswith("/api/v1/streaming/hashtag"):
            tag = (request.param("tag") or "").lower()

            def tagged(event: str, data: str) -> bool:
                if event != "update":
                    return event in ("delete", "status.update")
                try:
                    status = json.loads(data)
                    return tag in {t["name"].lower() for t in status.get("tags") or ()}
                except (ValueError, KeyError, TypeError, AttributeError):
                    return True  # malformed events go out as they are

            return tagged
        if path == "/api/v1/streaming/user/notification":
            return lambda event, _data: event == "notification"
        if path == "/api/v1/streaming/user":
            return lambda event, _data: event in _USER_EVENTS
        return lambda event, _data: event in ("update", "status.update", "delete")


_USER_EVENTS = frozenset({"update", "status.update", "delete", "notification"})
