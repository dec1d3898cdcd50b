"""
A Bluesky (AT Protocol) session: ``createSession`` with a handle and an app password,
``refreshSession`` before the access token expires, both under a lock.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
import httpx

from ..._http import RetryPolicy
from ..._pacing import Budget
from ...exceptions import AuthenticationError, FetchError
from .._web import BadBody, request_json


__all__ = ["Session"]


def _expiry(jwt: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds), without verifying it."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


@attrs.define(eq=False, kw_only=True)
class Session:
    """
    Tokens of one account on one PDS. :meth:`headers` returns a valid ``Authorization``
    header, creating or refreshing the session first when needed; concurrent callers share
    one refresh. Tokens never appear in reprs, logs or errors.
    """

    service: str
    identifier: str
    password: str = attrs.field(repr=False)
    source: str
    margin: float = 60.0
    clock: Callable[[], float] = attrs.field(default=time.time, repr=False)
    did: str | None = None
    _access: str | None = attrs.field(default=None, init=False, repr=False)
    _refresh: str | None = attrs.field(default=None, init=False, repr=False)
    _expires: float | None = attrs.field(default=None, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    async def headers(
        self,
        client: httpx.AsyncClient,
        *,
        budget: Budget,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
        stale: str | None = None,
    ) -> dict[str, str]:
        """
        A bearer header for the current access token. Pass the token that was just refused
        as *stale* to force a refresh (unless another caller refreshed it meanwhile).
        """
        async with self._lock:
            due = self._expires is not None and self.clock() >= self._expires - self.margin
            if self._access is None:
                await self._create(client, budget=budget, retry=retry, sleep=sleep)
            elif due or (stale is not None and stale == self._access):
                try:
                    await self._call(
                        client,
                        "com.atproto.server.refreshSession",
                        None,
                        {"Authorization": f"Bearer {self._refresh}"},
                        budget=budget,
                        retry=retry,
                        sleep=sleep,
                    )
                except (AuthenticationError, FetchError):
                    await self._create(client, budget=budget, retry=retry, sleep=sleep)
            assert self._access is not None
            return {"Authorization": f"Bearer {self._access}"}

    def token_of(self, headers: dict[str, str]) -> str | None:
        """The token inside a header this session gave out."""
        value = headers.get("Authorization", "")
        return value.removeprefix("Bearer ") or None

    async def _create(
        self,
        client: httpx.AsyncClient,
        *,
        budget: Budget,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        await self._call(
            client,
            "com.atproto.server.createSession",
            {"identifier": self.identifier, "password": self.password},
            {},
            budget=budget,
            retry=retry,
            sleep=sleep,
        )

    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        *,
        budget: Budget,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        server = httpx.URL(self.service).netloc.decode()
        try:
            _, data = await request_json(
                client,
                "POST",
                f"{self.service}/xrpc/{method}",
                json_body=body,
                headers=headers,
                source=self.source,
                server=server,
                budget=budget,
                retry=retry,
                sleep=sleep,
            )
        except FetchError as exc:
            if exc.status_code in (400, 401):
                raise AuthenticationError(
                    f"{self.source}: {server} refused the session of {self.identifier!r} "
                    f"({method}, HTTP {exc.status_code}); check the handle and app password",
                    source=self.source,
                    status_code=exc.status_code,
                ) from exc
            raise
        except BadBody as exc:
            raise FetchError(
                f"{self.source}: {server} answered {method} with an unreadable body",
                source=self.source,
                retryable=True,
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("accessJwt"), str):
            raise FetchError(
                f"{self.source}: {server} answered {method} without tokens",
                source=self.source,
                retryable=True,
            )
        self._access = data["accessJwt"]
        self._refresh = data.get("refreshJwt") or self._refresh
        self._expires = _expiry(data["accessJwt"])
        self.did = data.get("did") or self.did
