"""The feeds source's own GET (``_feedget``) over real loopback sockets, plain and TLS."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
import zlib
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from socialplug import RetryPolicy
from socialplug.sources import feeds as feeds_module
from socialplug.sources._feedget import FeedGetter, GetError
from socialplug.sources.feeds import FeedsSource


pytestmark = pytest.mark.anyio

_RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>one</title><link>items/1</link><guid>g1</guid></item>"
    b"<item><title>two</title><link>items/2</link><guid>g2</guid></item></channel></rss>"
)

# (path, lowercase request headers, index of the connection) -> raw response bytes, or None
# to close the connection without answering; the connection is closed after the answer when
# the handler says so (second item).
Handler = Callable[[str, dict[str, str], int], tuple[bytes | None, bool]]


def _reply(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if "transfer-encoding" not in {k.lower() for k in headers} and not status.startswith("304"):
        head += f"content-length: {len(body)}\r\n"
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


class RawServer:
    """A loopback HTTP/1.1 server answering raw bytes; records requests and connections."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.requests: list[tuple[int, str, dict[str, str]]] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._tls = tls
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            index = self.connections
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:])
                }
                path = lines[0].split(" ")[1]
                self.requests.append((index, path, headers))
                answer, close = self.handler(path, headers, index)
                if answer is None:
                    return
                conn.sendall(answer)
                if close:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()


@contextlib.asynccontextmanager
async def _getter(**kwargs: object) -> AsyncIterator[FeedGetter]:
    """A getter for the test, its connections closed afterwards."""
    getter = FeedGetter(tls=ssl.create_default_context, user_agent="test/1", **kwargs)  # type: ignore[arg-type]
    try:
        yield getter
    finally:
        await getter.aclose()


async def test_keeps_connections_and_sends_the_headers_given():
    """Requests share one kept connection; Host, User-Agent and the given headers are sent."""
    with RawServer(lambda path, h, i: (_reply("200 OK", {}, path.encode()), False)) as server:
        async with _getter() as getter:
            answers = [
                await getter.get(f"{server.url}/f{n}?a=1", {"If-None-Match": '"x"'})
                for n in range(3)
            ]

    assert [a.content for a in answers] == [b"/f0?a=1", b"/f1?a=1", b"/f2?a=1"]
    assert server.connections == 1
    _, _, headers = server.requests[0]
    assert headers["host"] == server.url.removeprefix("http://")
    assert headers["user-agent"] == "test/1"
    assert headers["if-none-match"] == '"x"'
    assert headers["accept-encoding"] == "gzip, deflate"


async def test_a_kept_connection_the_server_closed_is_replaced():
    """A server that drops an idle connection without saying so: the GET goes on a new one."""

    def handler(path: str, headers: dict[str, str], index: int) -> tuple[bytes | None, bool]:
        if index == 0 and path == "/second":  # the stale connection: closed unanswered
            return None, True
        return _reply("200 OK", {}, path.encode()), False

    with RawServer(handler) as server:
        async with _getter() as getter:
            first = await getter.get(f"{server.url}/first", {})
            second = await getter.get(f"{server.url}/second", {})

    assert (first.content, second.content) == (b"/first", b"/second")
    assert [(i, p) for i, p, _ in server.requests] == [
        (0, "/first"),
        (0, "/second"),
        (1, "/second"),
    ]


async def test_idle_connections_expire():
    """A connection idle longer than keepalive is not reused."""
    with RawServer(lambda path, h, i: (_reply("200 OK", {}, b"x"), False)) as server:
        async with _getter(keepalive=0.0) as getter:
            await getter.get(f"{server.url}/a", {})
            await getter.get(f"{server.url}/b", {})

    assert server.connections == 2


async def test_redirects_are_followed_with_the_headers_to_the_final_url():
    def handler(path: str, headers: dict[str, str], index: int) -> tuple[bytes | None, bool]:
        if path == "/old":
            return _reply("301 Moved Permanently", {"Location": "/moved/feed"}), False
        if path == "/moved/feed":
            return _reply("307 Temporary Redirect", {"Location": "feed.xml?v=2"}), False
        if headers.get("if-none-match") == '"e"':
            return _reply("304 Not Modified", {"ETag": '"e"'}), False
        return _reply("200 OK", {"ETag": '"e"'}, _RSS), False

    with RawServer(handler) as server:
        source = FeedsSource(urls=[f"{server.url}/old"])
        try:
            first = [p async for p in source.pages(None, follow=False)]
            quiet = [p async for p in source.pages(first[-1].cursor, follow=False)]
        finally:
            await source.aclose()

    # Relative links resolve against where the document came from, after the redirects.
    assert [p.url for p in first[0].posts] == [
        f"{server.url}/moved/items/2",
        f"{server.url}/moved/items/1",
    ]
    assert quiet == []
    assert [p for _, p, _ in server.requests] == [
        "/old", "/moved/feed", "/moved/feed.xml?v=2",
        "/old", "/moved/feed", "/moved/feed.xml?v=2",
    ]  # fmt: skip
    assert server.requests[-1][2]["if-none-match"] == '"e"'  # kept through the redirects
    assert server.connections == 1


async def test_too_many_redirects_fail_the_feed_without_retrying(caplog):
    loop = lambda path, h, i: (_reply("302 Found", {"Location": path + "x"}), False)  # noqa: E731
    with RawServer(loop) as server:
        source = FeedsSource(urls=[f"{server.url}/r"], retry=RetryPolicy(attempts=3))
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

    assert pages == []
    assert "TooManyRedirects" in source.errors[f"{server.url}/r"]
    assert len(server.requests) == 21  # the first request and 20 redirects, once


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
        ("br", lambda data: data),  # not asked for: kept as it came
    ],
)
async def test_content_encodings_are_decoded(coding, encode):
    reply = _reply("200 OK", {"Content-Encoding": coding}, encode(_RSS))
    with RawServer(lambda path, h, i: (reply, False)) as server:
        async with _getter() as getter:
            answer = await getter.get(f"{server.url}/f", {})

    assert answer.content == _RSS
    assert answer.headers["content-encoding"] == coding


async def test_chunked_body_and_repeated_headers():
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (_RSS[:50], _RSS[50:])) + b"0\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nvary: a\r\nvary: b\r\n\r\n" + chunks
    with RawServer(lambda path, h, i: (reply, False)) as server:
        async with _getter() as getter:
            answer = await getter.get(f"{server.url}/f", {})
            again = await getter.get(f"{server.url}/f", {})

    assert answer.content == again.content == _RSS
    assert answer.headers["vary"] == "a, b"
    assert server.connections == 1


async def test_a_body_ended_by_closing_the_connection():
    reply = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + _RSS
    with RawServer(lambda path, h, i: (reply, True)) as server:
        async with _getter() as getter:
            first = await getter.get(f"{server.url}/f", {})
            second = await getter.get(f"{server.url}/f", {})

    assert first.content == second.content == _RSS
    assert server.connections == 2


async def test_errors_are_named_and_classified():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/f"
    silent = lambda path, h, i: (b"", False)  # noqa: E731 - reads the request, never answers
    garbage = lambda path, h, i: (b"SPDY/9 what\r\n\r\n", False)  # noqa: E731
    cut = lambda path, h, i: (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort", True)  # noqa: E731
    async with _getter(timeout=0.3) as getter:
        with pytest.raises(GetError, match="ConnectError") as refused_info:
            await getter.get(refused, {})
        for handler, kind in [
            (silent, "ReadTimeout"),
            (garbage, "RemoteProtocolError"),
            (cut, "RemoteProtocolError"),
        ]:
            with RawServer(handler) as server, pytest.raises(GetError, match=kind):
                await getter.get(f"{server.url}/f", {})
        with pytest.raises(GetError, match="UnsupportedProtocol") as scheme_info:
            await getter.get("ftp://127.0.0.1/f", {})

    assert refused_info.value.retryable
    assert not scheme_info.value.retryable


async def test_validators_are_sent_back_byte_for_byte():
    """An ETag of any bytes comes back as it came; one that cannot be sent fails its feed."""
    etag = b'W/"caf\xe9-\xe2\x82\xac"'  # Latin-1 and UTF-8 bytes, as servers send them

    def handler(path: str, headers: dict[str, str], index: int) -> tuple[bytes | None, bool]:
        if headers.get("if-none-match", "").encode("latin-1") == etag:
            return b"HTTP/1.1 304 Not Modified\r\netag: " + etag + b"\r\n\r\n", False
        return b"HTTP/1.1 200 OK\r\netag: " + etag + b"\r\ncontent-length: %d\r\n\r\n" % len(
            _RSS
        ) + _RSS, False

    with RawServer(handler) as server:
        url = f"{server.url}/f"
        source = FeedsSource(urls=[url], retry=RetryPolicy.disabled())
        try:
            first = [p async for p in source.pages(None, follow=False)]
            quiet = [p async for p in source.pages(first[-1].cursor, follow=False)]
            state = json.loads(first[-1].cursor or "")
            state["feeds"][url]["etag"] = "a\nb"  # a cursor edited by hand
            broken = [p async for p in source.pages(json.dumps(state), follow=False)]
        finally:
            await source.aclose()

    assert len(first[0].posts) == 2
    assert quiet == broken == []
    assert "LocalProtocolError" in source.errors[url]
    assert len(server.requests) == 2


async def test_a_failing_feed_is_retried_then_reported():
    """503 then 200 is retried with the source's policy; a 404 fails at once."""
    calls: dict[str, int] = {}

    def handler(path: str, headers: dict[str, str], index: int) -> tuple[bytes | None, bool]:
        calls[path] = calls.get(path, 0) + 1
        if path == "/flaky" and calls[path] == 1:
            return _reply("503 Service Unavailable", {}), False
        if path == "/gone":
            return _reply("404 Not Found", {}), False
        return _reply("200 OK", {}, _RSS), False

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with RawServer(handler) as server:
        urls = [f"{server.url}/flaky", f"{server.url}/gone"]
        source = FeedsSource(urls=urls, retry=RetryPolicy(attempts=3), sleep=sleep)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

    assert len(pages[0].posts) == 2
    assert calls == {"/flaky": 2, "/gone": 1}
    assert len(waits) == 1  # one backoff, by the injected sleep
    assert list(source.errors) == [urls[1]]
    assert "HTTP 404" in source.errors[urls[1]]


async def test_tls(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    def handler(path: str, headers: dict[str, str], index: int) -> tuple[bytes | None, bool]:
        return _reply("200 OK", {"Content-Type": "application/rss+xml"}, _RSS), False

    with RawServer(handler, tls=server_context) as server:
        trusted = FeedGetter(tls=lambda: client_context, user_agent="t")
        untrusted = FeedGetter(tls=ssl.create_default_context, user_agent="t")
        try:
            answers = [await trusted.get(f"{server.url}/f{n}", {}) for n in range(2)]
            with pytest.raises(GetError, match="ConnectError"):
                await untrusted.get(f"{server.url}/f", {})
        finally:
            await trusted.aclose()
            await untrusted.aclose()

    assert [a.content for a in answers] == [_RSS, _RSS]
    assert server.connections == 2  # one kept for both GETs, one refused


async def test_a_proxy_in_the_environment_keeps_httpx(monkeypatch):
    """httpx honours proxy variables; the source's own GET does not, so it is not used."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    feeds_module._proxied.cache_clear()
    try:
        with RawServer(lambda path, h, i: (_reply("200 OK", {}, _RSS), False)) as server:
            source = FeedsSource(urls=[f"{server.url}/f"])
            try:
                pages = [p async for p in source.pages(None, follow=False)]
                assert source._getter is None
                assert source._owned is not None
            finally:
                await source.aclose()
    finally:
        feeds_module._proxied.cache_clear()

    assert len(pages[0].posts) == 2
    assert server.requests[0][2]["user-agent"].startswith("socialplug/")


async def test_an_injected_client_sends_every_request():
    sent: list[str] = []

    async def record(request: httpx.Request) -> None:
        sent.append(str(request.url))

    with RawServer(lambda path, h, i: (_reply("200 OK", {}, _RSS), False)) as server:
        async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
            source = FeedsSource(urls=[f"{server.url}/a", f"{server.url}/b"], client=client)
            try:
                pages = [p async for p in source.pages(None, follow=False)]
            finally:
                await source.aclose()

    assert sorted(sent) == [f"{server.url}/a", f"{server.url}/b"]
    assert source._getter is None
    assert sum(len(p.posts) for p in pages) == 4


async def test_cancelled_midway_drops_the_connection():
    """A GET cancelled while waiting for the answer leaves no connection to be reused."""
    release = threading.Event()

    def handler(path: str, headers: dict[str, str], index: int) -> tuple[bytes | None, bool]:
        if path == "/slow":
            release.wait(5)
        return _reply("200 OK", {}, path.encode()), False

    with RawServer(handler) as server:
        async with _getter() as getter:
            with anyio.move_on_after(0.2):
                await getter.get(f"{server.url}/slow", {})
            release.set()
            answer = await getter.get(f"{server.url}/next", {})

    assert answer.content == b"/next"  # not the late answer to /slow
    assert server.connections == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:8/x?a=b c",
        "https://Bücher.example/ä?q=ü",
        "http://h.test:80/",
        "HTTP://H.test",
        "https://h.test:8443/a/../b#frag",
        "http://h.test/%7e/a%2fb?x=%20&y",
    ],
)
def test_targets_are_what_httpx_would_send(url):
    """Request target, Host header and the URL a response names are httpx's."""
    target = FeedGetter(tls=ssl.create_default_context, user_agent="t").target(url)
    request = httpx.Request("GET", url)

    assert target.target == request.url.raw_path
    assert target.host_header.decode() == request.headers["host"]
    assert target.url == str(request.url)
    assert (target.scheme, target.port) == (
        request.url.scheme,
        request.url.port or {"http": 80, "https": 443}[request.url.scheme],
    )
