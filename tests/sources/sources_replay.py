"""A loopback HTTP server that answers with canned or recorded responses and logs requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import attrs


_HOP = {"content-length", "content-encoding", "transfer-encoding", "connection", "set-cookie"}


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class Reply:
    status: int = 200
    headers: Mapping[str, str] = attrs.Factory(dict)
    body: bytes = b""

    @classmethod
    def json(cls, value: object, status: int = 200, **headers: str) -> Reply:
        return cls(
            status, {"Content-Type": "application/json", **headers}, json.dumps(value).encode()
        )


def recorded(folder: Path, stem: str) -> Reply:
    """The response recorded in ``<stem>.json`` (or ``.html.txt``) with its sidecar headers."""
    meta = json.loads((folder / f"{stem}.meta.json").read_text())
    body_file = folder / meta.get("body_file", f"{stem}.json")
    headers = {
        k: v
        for k, v in (meta["response"].get("headers") or {}).items()
        if k.lower() not in _HOP and isinstance(v, str)
    }
    return Reply(meta["response"]["status"], headers, body_file.read_bytes())


Handler = Callable[[Request], Reply]


class ReplayServer:
    """``routes`` maps a path to a reply or a handler; unknown paths get 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply | Handler] = {}
        self.requests: list[Request] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    split.path,
                    {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                outer.requests.append(request)
                route = outer.routes.get(split.path)
                if route is None:
                    reply = Reply(404, {"Content-Type": "text/plain"}, b"not found")
                elif isinstance(route, Reply):
                    reply = route
                else:
                    reply = route(request)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.status != 304:
                    self.wfile.write(reply.body)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
