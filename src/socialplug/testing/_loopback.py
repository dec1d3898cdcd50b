"""
A threaded loopback HTTP server with fault injection, rate-limit headers and request
recording: the base of the platform imitations in :mod:`socialplug.testing`.
"""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs


__all__ = ["Fault", "LoopbackServer", "Request", "Response"]


@attrs.frozen(kw_only=True)
class Request:
    """A request the server received."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: dict[str, str] = attrs.field(eq=False, repr=False)
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter *name*."""
        for key, value in self.query:
            if key == name:
                return value
        return default

    def params(self, name: str) -> list[str]:
        """Every value of query parameter *name*."""
        return [value for key, value in self.query if key == name]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


@attrs.frozen(kw_only=True)
class Response:
    """What a route answers: a JSON value or raw bytes, a status and headers."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def encode(self) -> bytes:
        """The body bytes."""
        if self.body is not None:
            return self.body
        return json.dumps(self.json, ensure_ascii=False).encode()


@attrs.frozen(kw_only=True)
class Fault:
    """
    An injected failure: the next *times* requests whose path starts with *path* get
    *response* instead of the real answer.
    """

    response: Response
    path: str = ""
    times: int = 1


_DROP: tuple[str, str] = ("", "")  # identity-compared sentinel: close the stream

#: A server-sent-events stream: yields (event, data) pairs; ``None`` means "send a heartbeat".
SSEStream = Iterator[tuple[str, str] | None]


class LoopbackServer:
    """
    A real HTTP server on ``127.0.0.1`` (random port) in a daemon thread.

    Subclasses implement :meth:`route` (JSON answers) and may implement :meth:`sse`
    (server-sent-event streams). Every request is recorded in :attr:`requests`; injected
    :class:`Fault`\\ s answer first; each answer carries ``X-RateLimit-*`` headers, and once
    *rate_limit* requests were served within *rate_window* seconds it answers 429 with
    ``Retry-After``.
    """

    def __init__(self, *, rate_limit: int | None = None, rate_window: float = 300.0) -> None:
        self.requests: list[Request] = []
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._faults: list[list[Any]] = []
        self._lock = threading.RLock()
        self._window_start = time.time()
        self._served = 0
        self._streams: list[queue.Queue[tuple[str, str] | None]] = []
        self._closed = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        host, port = self._http.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- for tests ----------------------------------------------------------------------

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        path: str = "",
        body: bytes | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        """Answer the next *times* requests under *path* with *status* and *body*."""
        response = Response(
            status=status,
            json=json_body if json_body is not None else {"error": f"injected {status}"},
            body=body,
            headers=headers or {},
            content_type=content_type,
        )
        with self._lock:
            self._faults.append([Fault(response=response, path=path, times=times), times])

    def drop_streams(self) -> None:
        """Close every open event stream (the client should reconnect)."""
        with self._lock:
            for stream in self._streams:
                stream.put(_DROP)

    def publish(self, event: str, data: str) -> None:
        """Send one event to every open stream that accepts it (see :meth:`accepts`)."""
        with self._lock:
            for stream in self._streams:
                stream.put((event, data))

    @property
    def stream_count(self) -> int:
        """How many event streams are open."""
        with self._lock:
            return len(self._streams)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    def close(self) -> None:
        """Stop serving and end open streams."""
        self._closed.set()
        self.drop_streams()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- to implement ---------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        """Answer a request (the default: 404)."""
        return Response(status=404, json={"error": "Not Found"})

    def stream_filter(self, request: Request) -> Callable[[str, str], bool] | None:
        """For an event-stream request, a predicate on (event, data); ``None`` otherwise."""
        return None

    heartbeat: float = 15.0

    # -- machinery ------------------------------------------------------------------------

    def _rate_headers(self) -> tuple[dict[str, str], bool]:
        with self._lock:
            now = time.time()
            if now - self._window_start >= self.rate_window:
                self._window_start, self._served = now, 0
            self._served += 1
            if self.rate_limit is None:
                return {}, False
            remaining = max(0, self.rate_limit - self._served)
            reset = self._window_start + self.rate_window
            headers = {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": datetime.fromtimestamp(reset, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
            }
            exceeded = self._served > self.rate_limit
            if exceeded:
                headers["Retry-After"] = str(max(1, round(reset - now)))
            return headers, exceeded

    def _fault_for(self, path: str) -> Response | None:
        with self._lock:
            for entry in self._faults:
                fault, left = entry
                if left > 0 and path.startswith(fault.path):
                    entry[1] = left - 1
                    return fault.response  # type: ignore[no-any-return]
            self._faults = [e for e in self._faults if e[1] > 0]
        return None

    def _handle(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            method=method,
            path=parts.path,
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(request)
        rate, exceeded = self._rate_headers()
        response = self._fault_for(request.path)
        if response is None and exceeded:
            response = Response(status=429, json={"error": "Too many requests"})
        if response is None:
            accepts = self.stream_filter(request)
            if accepts is not None:
                denied = self.route(request)
                if denied.status >= 400:
                    response = denied
                else:
                    self._serve_stream(handler, accepts, rate)
                    return
        if response is None:
            try:
                response = self.route(request)
            except Exception as exc:
                response = Response(status=500, json={"error": f"{type(exc).__name__}: {exc}"})
        body = response.encode()
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in {**rate, **response.headers}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _serve_stream(
        self,
        handler: http.server.BaseHTTPRequestHandler,
        accepts: Callable[[str, str], bool],
        rate: dict[str, str],
    ) -> None:
        inbox: queue.Queue[tuple[str, str] | None] = queue.Queue()
        with self._lock:
            self._streams.append(inbox)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-store")
            handler.send_header("Connection", "close")
            for key, value in rate.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(b":)\n\n")
            handler.wfile.flush()
            while not self._closed.is_set():
                try:
                    item = inbox.get(timeout=self.heartbeat)
                except queue.Empty:
                    item = None
                if item is _DROP:
                    break
                if item is None:
                    handler.wfile.write(b":thump\n\n")
                else:
                    event, data = item
                    if not accepts(event, data):
                        continue
                    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
                    handler.wfile.write(f"event: {event}\n{lines}\n".encode())
                handler.wfile.flush()
        except OSError:
            pass
        finally:
            with self._lock:
                self._streams.remove(inbox)
            handler.close_connection = True
