"""
The feeds source's own GET: HTTP/1.1 on anyio streams, framed by h11 (the protocol library
under httpx), with connections kept per origin, redirects followed and gzip/deflate decoded.

A feed poll is a GET with a few headers whose whole body is wanted: the general machinery of
an HTTP client (request and response models, cookies, auth flows, event hooks, transports,
the connection pool's bookkeeping) costs several times what sending it and reading the
answer does. Used when the source has no injected client and no proxy is configured.
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import anyio
import attrs
import h11


if TYPE_CHECKING:
    import anyio.abc

__all__ = ["FeedGetter", "Fetched", "GetError", "Target"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RECEIVE = 65536


@attrs.frozen
class Fetched:
    """A final response: status, the URL it came from, headers (lowercase), the body."""

    status_code: int
    url: str
    headers: dict[str, str]
    content: bytes


class GetError(Exception):
    """A GET that failed before a response came; *kind* is named like httpx's errors."""

    def __init__(self, kind: str, *, retryable: bool = True) -> None:
        super().__init__(kind)
        self.kind = kind
        self.retryable = retryable


@attrs.frozen
class Target:
    """Where to send a GET: the origin, the request target, the Host header, the URL."""

    scheme: str
    host: str
    port: int
    target: bytes
    host_header: bytes
    url: str

    @classmethod
    def of(cls, url: str) -> Target:
        """
        Parse *url* as httpx does (IDNA hosts, percent-encoding).

        Raises:
            GetError: Not an http(s) URL with a host.
        """
        import httpx  # noqa: PLC0415 - the URL parser only; already imported by the source

        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise GetError("InvalidURL", retryable=False) from exc
        scheme = parsed.scheme
        if scheme not in _DEFAULT_PORTS or not parsed.raw_host:
            raise GetError("UnsupportedProtocol", retryable=False)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or _DEFAULT_PORTS[scheme]
        bracketed = f"[{host}]" if ":" in host else host
        host_header = bracketed if parsed.port is None else f"{bracketed}:{port}"
        return cls(
            scheme=scheme,
            host=host,
            port=port,
            target=parsed.raw_path,
            host_header=host_header.encode("ascii"),
            url=str(parsed),
        )

    def join(self, location: str) -> Target:
        """The target of a ``Location`` header, relative to this one."""
        import httpx  # noqa: PLC0415

        try:
            return Target.of(str(httpx.URL(self.url).join(location)))
        except httpx.InvalidURL as exc:
            raise GetError("InvalidURL", retryable=False) from exc


@attrs.define(eq=False)
class _Connection:
    stream: anyio.abc.ByteStream
    h11: h11.Connection
    idle_since: float = 0.0


def _encode(text: str) -> bytes:
    """A header name or value as bytes: Latin-1 (as read), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _decode(content: bytes, encoding: str) -> bytes:
    """*content* with its ``Content-Encoding`` undone (gzip, deflate; others kept as is)."""
    for coding in reversed([c.strip().lower() for c in encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            content = _inflate(content, zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            try:
                content = _inflate(content, zlib.MAX_WBITS)
            except zlib.error:  # raw deflate, without the zlib header
                content = _inflate(content, -zlib.MAX_WBITS)
    return content


def _inflate(content: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    return inflater.decompress(content) + inflater.flush()


@attrs.define(eq=False, kw_only=True)
class FeedGetter:
    """
    GETs over kept-alive HTTP/1.1 connections, at most *keep* idle ones per origin, each
    kept *keepalive* seconds; *tls* gives the TLS context (asked for on the first https
    URL). Timeouts as httpx's: *connect* to connect, *timeout* for each write and read.
    Redirects are followed up to *max_redirects*.
    """

    tls: Callable[[], ssl.SSLContext]
    user_agent: str
    timeout: float = 30.0
    connect: float = 10.0
    keep: int = 32
    keepalive: float = 5.0
    max_redirects: int = 20
    _idle: dict[tuple[str, str, int], list[_Connection]] = attrs.field(factory=dict, init=False)
    _targets: dict[str, Target] = attrs.field(factory=dict, init=False)

    def target(self, url: str) -> Target:
        """*url* parsed (remembered: a source asks for the same feeds every cycle)."""
        found = self._targets.get(url)
        if found is None:
            if len(self._targets) >= 100_000:
                self._targets.clear()
            found = self._targets[url] = Target.of(url)
        return found

    async def get(self, url: str, headers: Mapping[str, str]) -> Fetched:
        """
        GET *url* with *headers* (kept on redirects); the final response.

        Raises:
            GetError: No response came (connection, timeout, protocol, too many redirects).
        """
        target = self.target(url)
        for _ in range(self.max_redirects + 1):
            status, got, content = await self._send(target, headers)
            location = got.get("location")
            if status not in _REDIRECTS or location is None:
                coding = got.get("content-encoding")
                if coding:
                    try:
                        content = _decode(content, coding)
                    except zlib.error as exc:
                        raise GetError("DecodingError", retryable=False) from exc
                return Fetched(status_code=status, url=target.url, headers=got, content=content)
            target = target.join(location)
        raise GetError("TooManyRedirects", retryable=False)

    async def _send(
        self, target: Target, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        head = [
            (b"Host", target.host_header),
            (b"User-Agent", self.user_agent.encode("latin-1")),
            (b"Accept-Encoding", b"gzip, deflate"),
        ]
        head.extend((_encode(k), _encode(v)) for k, v in headers.items())
        try:
            request = h11.Request(method=b"GET", target=target.target, headers=head)
        except h11.LocalProtocolError as exc:  # a header value with a line break, say
            raise GetError("LocalProtocolError", retryable=False) from exc
        origin = (target.scheme, target.host, target.port)
        connection = await self._take(origin)
        if connection is not None:
            try:
                return await self._exchange(origin, connection, request)
            except GetError as exc:
                # A kept connection the server has closed meanwhile: once more, on a new one.
                if exc.kind not in ("ReadError", "WriteError", "RemoteProtocolError"):
                    raise
        connection = await self._connect(target)
        return await self._exchange(origin, connection, request)

    async def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if now - connection.idle_since < self.keepalive:
                return connection
            await _drop(connection)
        return None

    async def _connect(self, target: Target) -> _Connection:
        try:
            with anyio.fail_after(self.connect):
                if target.scheme == "https":
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                        target.host,
                        target.port,
                        ssl_context=self.tls(),
                        tls_hostname=target.host,
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(target.host, target.port)
        except TimeoutError as exc:
            raise GetError("ConnectTimeout") from exc
        except (OSError, anyio.BrokenResourceError) as exc:  # ssl.SSLError is an OSError
            raise GetError("ConnectError") from exc
        return _Connection(stream=stream, h11=h11.Connection(h11.CLIENT))

    async def _exchange(
        self, origin: tuple[str, str, int], connection: _Connection, request: h11.Request
    ) -> tuple[int, dict[str, str], bytes]:
        protocol, stream = connection.h11, connection.stream
        step = "WriteError"
        try:
            data = protocol.send(request) + (protocol.send(h11.EndOfMessage()) or b"")
            with anyio.fail_after(self.timeout):
                await stream.send(data)
            step = "ReadError"
            status, got, body = 0, dict[str, str](), list[bytes]()
            while True:
                event = protocol.next_event()
                if event is h11.NEED_DATA:
                    try:
                        with anyio.fail_after(self.timeout):
                            chunk = await stream.receive(_RECEIVE)
                    except anyio.EndOfStream:
                        chunk = b""
                    protocol.receive_data(chunk)
                elif type(event) is h11.Data:
                    body.append(bytes(event.data))
                elif type(event) is h11.Response:
                    status = event.status_code
                    for name, value in event.headers:
                        key, text = name.decode("latin-1"), value.decode("latin-1")
                        got[key] = f"{got[key]}, {text}" if key in got else text
                elif type(event) is h11.EndOfMessage:
                    break
                elif type(event) is h11.ConnectionClosed:  # before the response ended
                    status = 0
                    break
                # InformationalResponse (1xx): wait for the final one
        except TimeoutError as exc:
            await _drop(connection)
            raise GetError("WriteTimeout" if step == "WriteError" else "ReadTimeout") from exc
        except h11.ProtocolError as exc:
            await _drop(connection)
            raise GetError("RemoteProtocolError") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await _drop(connection)
            raise GetError(step) from exc
        except BaseException:  # cancelled midway (or worse): the connection is unusable
            await _drop(connection)
            raise
        if status == 0:
            await _drop(connection)
            raise GetError("RemoteProtocolError")
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.keep:
                connection.idle_since = time.monotonic()
                idle.append(connection)
            else:
                await _drop(connection)
        else:
            await _drop(connection)
        return status, got, b"".join(body)

    async def aclose(self) -> None:
        """Close the kept connections."""
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await anyio.aclose_forcefully(connection.stream)


async def _drop(connection: _Connection) -> None:
    """Close *connection* now, without a TLS close_notify."""
    await anyio.aclose_forcefully(connection.stream)
