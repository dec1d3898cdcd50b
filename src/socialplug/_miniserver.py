"""
A small HTTP/1.1 server on anyio for loopback use: the approval callback of the reply queue
and the testing imitations. Keep-alive, ``Content-Length`` bodies, no TLS, no chunked
uploads; bind it to loopback or put a real proxy in front.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.abc
import attrs
from anyio.streams.buffered import BufferedByteReceiveStream


__all__ = ["REASONS", "LoopbackServer", "Reply", "Request"]

REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 410: "Gone", 411: "Length Required", 413: "Payload Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable",
}  # fmt: skip


@attrs.frozen(kw_only=True)
class Request:
    """One request as received."""

    method: str
    path: str  # as sent, percent-encoded
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@attrs.frozen(kw_only=True)
class Reply:
    """A response to send: *body* is bytes, text, or a JSON value."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """Body bytes and headers (with a content type)."""
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return data, headers


@attrs.define(eq=False)
class LoopbackServer:
    """Serve *handler* on *host*:*port* (``0``: any free port) while the context is open."""

    handler: Callable[[Request], Awaitable[Reply]]
    host: str = "127.0.0.1"
    port: int = 0
    max_body: int = 1 << 24
    #: Seconds a request (head and body) may take to arrive once the connection waits for
    #: it; an idle or slow connection is then closed. ``None``: wait for ever.
    timeout: float | None = None
    _tg: anyio.abc.TaskGroup | None = attrs.field(init=False, default=None)
    _listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = attrs.field(
        init=False, default=None
    )

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    async def _receive(self, reader: BufferedByteReceiveStream) -> Request | None:
        """The next request on the connection; ``None`` when it is closed or unreadable."""
        try:
            head = await reader.receive_until(b"\r\n\r\n", 1 << 16)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError,
                anyio.DelimiterNotFound, anyio.ClosedResourceError):  # fmt: skip
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return None
        if length > self.max_body:
            return None
        try:
            body = await reader.receive_exactly(length) if length else b""
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            return None
        parts = urlsplit(target)
        return Request(
            method=method.upper(),
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers=headers,
            body=body,
        )

    async def _serve(self, stream: anyio.abc.ByteStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            while True:
                request = None
                with anyio.move_on_after(self.timeout):
                    request = await self._receive(reader)
                if request is None:
                    return
                if "chunked" in request.headers.get("transfer-encoding", ""):
                    reply = Reply(status=411, body="chunked request bodies are not supported")
                else:
                    reply = await self.handler(request)
                data, out = reply.encode()
                head_lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
                head_lines += [f"{k}: {v}" for k, v in out.items()]
                head_lines.append(f"Content-Length: {len(data)}")
                try:
                    await stream.send(("\r\n".join(head_lines) + "\r\n\r\n").encode() + data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
                if request.headers.get("connection", "").lower() == "close":
                    return

    async def __aenter__(self) -> Self:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        tg = anyio.create_task_group()
        await tg.__aenter__()
        tg.start_soon(listener.serve, self._serve)
        self._listener, self._tg = listener, tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            # Shielded: leaving because the surrounding scope was cancelled still closes.
            with anyio.CancelScope(shield=True):
                if self._listener is not None:
                    await self._listener.aclose()
            self._tg = self._listener = None
