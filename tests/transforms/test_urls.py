from __future__ import annotations

import pytest

from socialplug.testing import Recorded, Reply, make_post, serve
from socialplug.transforms import (
    AddressGuard,
    BlockedAddressError,
    CanonicalizeUrls,
    canonicalize_url,
)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://Example.COM/a?utm_source=x&id=3", "https://example.com/a?id=3"),
        ("https://example.com/a?id=3&fbclid=abc#section", "https://example.com/a?id=3"),
        ("HTTP://example.com:80", "http://example.com/"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://user:secret@example.com/x", "https://example.com/x"),
        ("https://example.com./x?b=2&a=1", "https://example.com/x?b=2&a=1"),
        ("https://example.com/x?gclid=1&UTM_Medium=y&si=z", "https://example.com/x"),
        ("https://example.com/x?q=", "https://example.com/x?q="),
        ("https://[::1]:8080/x", "https://[::1]:8080/x"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("not a url", "not a url"),
        ("https://example.com:99999/", "https://example.com:99999/"),
    ],
)
def test_canonicalize_url(url: str, canonical: str) -> None:
    assert canonicalize_url(url) == canonical


async def _resolver(host: str) -> list[str]:
    return {
        "public.example": ["93.184.216.34"],
        "sneaky.example": ["93.184.216.34", "10.0.0.5"],
        "metadata.example": ["169.254.169.254"],
    }[host]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://public.example/a", True),
        ("https://sneaky.example/a", False),
        ("https://metadata.example/latest", False),
        ("http://127.0.0.1:8080/", False),
        ("http://[::1]/", False),
        ("http://[::ffff:127.0.0.1]/", False),
        ("http://192.168.1.1/", False),
        ("http://0.0.0.0/", False),
        ("http://224.0.0.1/", False),
        ("http://8.8.8.8/", True),
        ("ftp://8.8.8.8/", False),
        ("file:///etc/passwd", False),
    ],
)
async def test_guard(url: str, allowed: bool) -> None:
    guard = AddressGuard(resolver=_resolver)
    if allowed:
        await guard.check(url)
    else:
        with pytest.raises(BlockedAddressError):
            await guard.check(url)


@pytest.mark.anyio
async def test_guard_allow_lists() -> None:
    await AddressGuard(allow=["10.0.0.0/8"], resolver=_resolver).check("https://sneaky.example")
    await AddressGuard(allow_private=True).check("http://127.0.0.1/")
    with pytest.raises(BlockedAddressError, match="cannot resolve"):
        await AddressGuard().check("http://no-such-host.invalid/")


@pytest.mark.anyio
async def test_resolves_redirect_chains_over_a_real_socket() -> None:
    def hop(request: Recorded) -> Reply:
        return Reply(status=301, headers={"Location": "/second?utm_campaign=x&keep=1"})

    with serve(
        {
            "HEAD /short": hop,
            "HEAD /second": Reply(status=302, headers={"Location": "/final#top"}),
            "HEAD /final": Reply(status=200),
            "HEAD /no-head": Reply(status=405),
            "GET /no-head": Reply(status=301, headers={"Location": "/final"}),
        },
        repeat_last=True,
    ) as server:
        transform = CanonicalizeUrls(resolve=True, guard=AddressGuard(allow_private=True))
        try:
            post = make_post(links=[f"{server.url}/short?utm_source=t", f"{server.url}/no-head"])
            out = await transform(post)
            assert out.annotations["urls"] == [f"{server.url}/final"]
            # cached: no new request for the same link
            before = len(server.requests)
            await transform(post)
            assert len(server.requests) == before
        finally:
            await transform.aclose()
            await transform.aclose()


@pytest.mark.anyio
async def test_default_guard_refuses_loopback_targets() -> None:
    with serve({"HEAD /x": Reply(status=200)}) as server:
        transform = CanonicalizeUrls(resolve=True)
        try:
            out = await transform(make_post(links=[f"{server.url}/x?fbclid=1"]))
        finally:
            await transform.aclose()
        assert server.requests == []  # never contacted
        assert out.annotations["urls"] == [f"{server.url}/x"]
        assert out.annotations["urls_blocked"] == [f"{server.url}/x"]


@pytest.mark.anyio
async def test_redirect_into_private_network_is_refused() -> None:
    guard_calls: list[str] = []

    async def resolver(host: str) -> list[str]:
        guard_calls.append(host)
        return ["10.1.2.3"]

    with serve(
        {"HEAD /s": Reply(status=302, headers={"Location": "http://intranet.corp/"})}
    ) as srv:
        guard = AddressGuard(allow=["127.0.0.0/8"], resolver=resolver)
        transform = CanonicalizeUrls(resolve=True, guard=guard)
        try:
            out = await transform(make_post(links=[f"{srv.url}/s"]))
        finally:
            await transform.aclose()
    assert guard_calls == ["intranet.corp"]
    assert out.annotations["urls_blocked"] == [f"{srv.url}/s"]


@pytest.mark.anyio
async def test_timeout_keeps_the_link() -> None:
    with serve({"HEAD /slow": Reply(status=200, delay=2.0)}) as server:
        transform = CanonicalizeUrls(
            resolve=True, guard=AddressGuard(allow_private=True), timeout=0.2
        )
        try:
            out = await transform(make_post(links=[f"{server.url}/slow?utm_x=1"]))
        finally:
            await transform.aclose()
    assert out.annotations["urls"] == [f"{server.url}/slow"]


@pytest.mark.anyio
async def test_without_resolution_only_canonicalizes() -> None:
    transform = CanonicalizeUrls()
    out = await transform(
        make_post(links=["https://A.example/x?utm_source=1", "https://a.example/x"])
    )
    assert out.annotations["urls"] == ["https://a.example/x"]
