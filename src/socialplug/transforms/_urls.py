"""
URL canonicalization (pure) and redirect resolution through an address guard.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import anyio
import attrs

from ..exceptions import SocialplugError
from ..filters._urls import DEFAULT_PORTS as _DEFAULT_PORTS
from ..filters._urls import TRACKING_PARAMETERS, canonicalize_url
from ..model import Post


if TYPE_CHECKING:
    import httpx


__all__ = [
    "TRACKING_PARAMETERS",
    "AddressGuard",
    "BlockedAddressError",
    "CanonicalizeUrls",
    "canonicalize_url",
]

_REDIRECTS = (301, 302, 303, 307, 308)


class BlockedAddressError(SocialplugError):
    """
    A URL points at an address the guard refuses (private, loopback, link-local, ...).

    Attributes:
        host: The host name or address of the URL.
    """

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


Resolver = Callable[[str], Awaitable[list[str]]]


async def _getaddrinfo(host: str) -> list[str]:
    infos = await anyio.getaddrinfo(host, None)
    return [str(info[4][0]) for info in infos]


@attrs.frozen(kw_only=True)
class AddressGuard:
    """
    Refuses URLs whose host is or resolves to a private, loopback, link-local, multicast,
    reserved or unspecified address: following links found in posts must not reach into
    the local network (SSRF).

    Args:
        allow_private: Allow every address (tests against local servers, intranets).
        allow: Networks allowed although private (``"10.1.0.0/16"``).
        resolver: ``async (host) -> [addresses]``; the system resolver by default.

    Every address of a host must pass. The check resolves names itself, and the HTTP client
    resolves again when it connects; a DNS answer that changes in between (rebinding) is not
    caught here, so keep this guard in front of a resolver you trust.
    """

    allow_private: bool = False
    allow: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    resolver: Resolver = attrs.field(default=_getaddrinfo, repr=False)

    def _allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in ipaddress.ip_network(net, strict=False) for net in self.allow):
            return True
        return not (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )

    async def check(self, url: str, /) -> None:
        """
        Return if *url* may be fetched.

        Raises:
            BlockedAddressError: Not http(s), or an address of its host is refused.
        """
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in _DEFAULT_PORTS or not host:
            raise BlockedAddressError(f"refusing to fetch a non-http(s) URL: {url!r}", host=host)
        if self.allow_private:
            return
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self.resolver(host)
            except OSError as exc:
                raise BlockedAddressError(f"cannot resolve {host!r}: {exc}", host=host) from exc
        if not addresses:
            raise BlockedAddressError(f"{host!r} has no address", host=host)
        for address in addresses:
            if not self._allowed(address):
                msg = f"refusing to fetch {host!r}: it resolves to the non-public {address}"
                raise BlockedAddressError(msg, host=host)


@attrs.define(eq=False)
class CanonicalizeUrls:
    """
    A transform writing ``annotations["urls"]``: the post's links, canonical (tracking
    parameters stripped) and, with ``resolve=True``, with redirects (link shorteners)
    followed through an :class:`AddressGuard`.

    Args:
        resolve: Follow redirects (HEAD requests, GET when HEAD is refused).
        client: The HTTP client to use; one is created (and closed by :meth:`aclose`) if
            not given.
        guard: Decides which addresses may be fetched; private ones are refused by default.
        max_redirects: Hops followed per link.
        timeout: Seconds per link (all hops); on timeout or error the link stays as it was.
        max_urls: Links handled per post.
        cache_size: Resolved links remembered.
    """

    resolve: bool = False
    client: httpx.AsyncClient | None = attrs.field(default=None, repr=False)
    guard: AddressGuard = attrs.field(factory=AddressGuard)
    max_redirects: int = 5
    timeout: float = 5.0
    max_urls: int = 10
    cache_size: int = 10_000
    _own_client: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)
    _cache: OrderedDict[str, str] = attrs.field(factory=OrderedDict, init=False, repr=False)

    def _client(self) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        if self._own_client is None:
            import httpx  # noqa: PLC0415 (kept out of ``import socialplug``)

            self._own_client = httpx.AsyncClient(follow_redirects=False)
        return self._own_client

    async def aclose(self) -> None:
        """Close the client this transform created, if any (idempotent)."""
        client, self._own_client = self._own_client, None
        if client is not None:
            await client.aclose()

    async def resolve_url(self, url: str, /) -> str:
        """
        Follow redirects from *url* through the guard; return the canonical final URL.

        Raises:
            BlockedAddressError: A hop points at a refused address.
        """
        url = canonicalize_url(url)
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        import httpx  # noqa: PLC0415

        final = url
        client = self._client()
        with anyio.move_on_after(self.timeout):
            try:
                for _ in range(self.max_redirects + 1):
                    await self.guard.check(final)
                    response = await client.head(final, follow_redirects=False)
                    if response.status_code in (405, 501):
                        async with client.stream("GET", final, follow_redirects=False) as r:
                            response = r
                    location = response.headers.get("location")
                    if response.status_code not in _REDIRECTS or not location:
                        break
                    final = canonicalize_url(urljoin(final, location))
                else:
                    await self.guard.check(final)
            except httpx.HTTPError:
                pass
        self._cache[url] = final
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return final

    def _links(self, post: Post) -> Iterable[str]:
        links = list(dict.fromkeys(post.links))
        return links[: self.max_urls]

    async def __call__(self, post: Post, /) -> Post:
        """Return *post* with ``annotations["urls"]`` (and the refused ones as blocked)."""
        urls: list[str] = []
        blocked: list[str] = []
        for link in self._links(post):
            if not self.resolve:
                urls.append(canonicalize_url(link))
                continue
            try:
                urls.append(await self.resolve_url(link))
            except BlockedAddressError:
                blocked.append(canonicalize_url(link))
                urls.append(canonicalize_url(link))
        values: dict[str, object] = {"urls": list(dict.fromkeys(urls))}
        if blocked:
            values["urls_blocked"] = blocked
        return post.annotate(**values)
