"""
The acknowledgement callback: a small ASGI application, so a chat button can acknowledge.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from .._asgi import Receive, Scope, Send, lifespan, respond
from ..clock import Clock, SystemClock
from ..typing import StateStore
from ._escalation import acknowledge, incidents_namespace
from ._incidents import summary_of


__all__ = ["AckApp", "ack_app"]

#: An ASGI 3 application.
AckApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAX_BODY = 64 * 1024


async def _reply(send: Send, status: int, body: Any) -> None:
    await respond(send, status, json.dumps(body).encode())


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _who(body: bytes, content_type: str, query: dict[str, list[str]]) -> str:
    by: Any = None
    none: list[str | None] = [None]
    if body:
        if content_type.startswith("application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                by = data.get("by")
        else:
            by = (parse_qs(body.decode("utf-8", "replace")).get("by") or none)[0]
    if by is None:
        by = (query.get("by") or none)[0]
    return str(by)[:200] if by else "someone"


def ack_app(
    store: StateStore,
    /,
    *,
    monitor: str = "monitor",
    token: str | None = None,
    clock: Clock | None = None,
) -> AckApp:
    """
    Return an ASGI application acknowledging incidents of *monitor* in *store*.

    - ``GET /incidents`` lists the open incidents (JSON).
    - ``POST /incidents/{key}/ack`` acknowledges incident *key* (URL-encoded); who
      acknowledges comes from ``by`` in a JSON or form body, or the query string.

    With *token*, every request must carry it as ``Authorization: Bearer <token>`` or
    ``?token=<token>`` (for chat buttons that can only open a URL); the token never appears
    in responses. Serve it with any ASGI server (``uvicorn module:app``); the monitor picks
    acknowledgements up at its next tick.

    .. versionadded:: 0.1.0
    """
    clock = clock if clock is not None else SystemClock()
    secret = None if token is None else token.encode()

    def allowed(scope: Scope, query: dict[str, list[str]]) -> bool:
        if secret is None:
            return True
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization" and value.startswith(b"Bearer "):
                return hmac.compare_digest(value[7:].strip(), secret)
        given = (query.get("token") or [""])[0].encode()
        return hmac.compare_digest(given, secret)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if not allowed(scope, query):
            await _reply(send, 401, {"error": "unauthorized"})
            return
        method = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        parts = [p for p in raw_path.split(b"/") if p]
        if parts == [b"incidents"]:
            if method != "GET":
                await _reply(send, 405, {"error": "use GET"})
                return
            records = await store.records(incidents_namespace(monitor))
            incidents = [summary_of(r) for r in records.values() if isinstance(r, dict)]
            incidents.sort(key=lambda i: (i["opened_at"], i["incident"]))
            await _reply(send, 200, {"incidents": incidents})
            return
        if len(parts) == 3 and parts[0] == b"incidents" and parts[2] == b"ack":
            if method != "POST":
                await _reply(send, 405, {"error": "use POST"})
                return
            body = await _body(receive)
            if body is None:
                await _reply(send, 413, {"error": "body too large"})
                return
            key = unquote(parts[1].decode("latin-1"))
            content_type = ""
            for name, value in scope.get("headers", ()):
                if name.lower() == b"content-type":
                    content_type = value.decode("latin-1").lower()
            by = _who(body, content_type, query)
            if not await acknowledge(store, key, by=by, at=clock.now(), monitor=monitor):
                await _reply(send, 404, {"error": "no open incident with that key"})
                return
            await _reply(send, 200, {"acknowledged": key, "by": by})
            return
        await _reply(send, 404, {"error": "not found"})

    return app
