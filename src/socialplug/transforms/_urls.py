"""
URL canonicalization (pure) and redirect resolution through an address guard.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import anyio
import attrs
import httpx

from ..exceptions import SocialplugError
from ..model import Post


__all__ = [
    "TRACKING_PARAMETERS",
    "AddressGuard",
    "BlockedAddressError",
    "CanonicalizeUrls",
    "canonicalize_url",
]

#: Query parameters removed by :func:`canonicalize_url` (``utm_*`` and a few other prefixes
#: too).
TRACKING_PARAMETERS = frozenset(
    {
        "__s",
        "_hsenc",
        "_hsmi",
        "dclid",
        "fbclid",
        "gbraid",
        "gclid",
        "igsh",
        "igshid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "msclkid",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "ref_src",
        "ref_url",
        "s_cid",
        "si",
        "spm",
        "ttclid",
        "twclid",
        "vero_id",
        "wbraid",
        "yclid",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = (301, 302, 303, 307, 308)


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMETERS or low.startswith(_TRACKING_PREFIXES)


def canonicalize_url(url: str, /) -> str:
    """
    Return a canonical form of *url*: scheme and host lower-cased, default port, credentials,
    fragment and tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...) removed, an empty
    path made ``/``. The order of the remaining parameters is kept (it can matter to the site).

    Text that is not an absolute http(s) URL comes back unchanged.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return url
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


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
