"""
A loopback HTTP server that replays recorded responses and records the requests it got.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs


__all__ = ["Recorded", "ReplayServer", "Reply", "serve"]


@attrs.frozen(kw_only=True)
class Reply:
    """
    One canned response.

    Attributes:
        status: HTTP status.
        json: A JSON value for the body (sets ``Content-Type: application/json``).
        body: Raw body bytes or text, used when *json* is not given.
        headers: Extra response headers (``Link``, ``X-RateLimit-*``, ``Retry-After``...).
        delay: Seconds to wait before answering (to provoke client timeouts).
        chunks: Send the body as these pieces, flushed one by one *chunk_delay* apart (SSE,
            streaming); the connection closes after the last one.
    """

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    chunks: Sequence[bytes] = ()
    chunk_delay: float = 0.0

    @classmethod
    def fixture(cls, path: str | Path, /, *, headers: Mapping[str, str] | None = None) -> Reply:
        """
        Load a recorded response: the body file and, when present, its ``.meta.json`` sidecar
        (status and recorded headers, minus transfer-level ones).
        """
        path = Path(path)
        body = path.read_bytes()
        meta_path = path.with_name(path.name.split(".")[0] + ".meta.json")
        status, recorded = 200, {}
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            response = meta.get("response", {})
            status = int(response.get("status", 200))
            skip = {"content-length", "content-encoding", "transfer-encoding", "connection"}
            recorded = {
                k: v for k, v in (response.get("headers") or {}).items() if k.lower() not in skip
            }
        return cls(status=status, body=body, headers={**recorded, **(headers or {})})

    def payload(self) -> tuple[bytes, str]:
        """The body bytes and default content type."""
        if self.json is not None:
            return json.dumps(self.json).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body or b"", "application/octet-stream"


@attrs.frozen(kw_only=True)
class Recorded:
    """A request the server received."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    @property
    def target(self) -> str:
        """Path and query string, as sent."""
        qs = urllib.parse.urlencode(self.query, doseq=True)
        return f"{self.path}?{qs}" if qs else self.path

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Handler = Callable[[Recorded], Reply]


@attrs.define(eq=False)
class ReplayServer:
    """
    The running server: :attr:`url` to point a component at, :attr:`requests` to inspect.
    """

    url: str = ""
    requests: list[Recorded] = attrs.field(factory=list)

    def paths(self) -> list[str]:
        """Targets (path and query) of every request, in order."""
        return [r.target for r in self.requests]


def _make_handler(
    routes: Mapping[str, Sequence[Reply] | Handler | Reply],
    server: ReplayServer,
    lock: threading.Lock,
    *,
    repeat_last: bool,
) -> type[http.server.BaseHTTPRequestHandler]:
    queues: dict[str, list[Reply] | Handler] = {}
    for key, value in routes.items():
        if isinstance(value, Reply):
            queues[key] = [value]
        elif callable(value):
            queues[key] = value
        else:
            queues[key] = list(value)

    class _Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Recorded(
                method=self.command,
                path=split.path,
                query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
                headers=dict(self.headers.items()),
                body=body,
            )
            with lock:
                server.requests.append(request)
                entry = queues.get(f"{self.command} {split.path}", queues.get(split.path))
                if entry is None:
                    reply = Reply(status=404, json={"error": f"no route for {split.path}"})
                elif callable(entry):
                    reply = None
                elif entry:
                    reply = entry.pop(0) if (len(entry) > 1 or not repeat_last) else entry[0]
                else:
                    reply = Reply(status=404, json={"error": "no more canned replies"})
            if reply is None:
                assert callable(entry)
                reply = entry(request)
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            if reply.delay:
                time.sleep(reply.delay)
            data, content_type = reply.payload()
            self.send_response(reply.status)
            headers = {k.lower(): v for k, v in reply.headers.items()}
            self.send_header("Content-Type", headers.pop("content-type", content_type))
            for key, value in headers.items():
                self.send_header(key, value)
            if reply.chunks:
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in reply.chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    return _Handler


@contextlib.contextmanager
def serve(
    routes: Mapping[str, Sequence[Reply] | Handler | Reply],
    *,
    repeat_last: bool = False,
) -> Iterator[ReplayServer]:
    """
    Serve canned replies on a real socket at ``127.0.0.1`` (a free port).

    *routes* maps ``"/path"`` (any method) or ``"POST /path"`` to replies given in order
    (then 404, or the last one again with *repeat_last*), to one reply for every request, or
    to a function ``Recorded -> Reply`` that decides. Every request is recorded in
    ``server.requests``.
    """
    state = ReplayServer()
    lock = threading.Lock()
    handler = _make_handler(routes, state, lock, repeat_last=repeat_last)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    state.url = f"http://{host!s}:{port}"
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="socialplug-replay",
        daemon=True,
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
