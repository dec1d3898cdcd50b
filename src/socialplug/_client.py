"""Ownership of an HTTP client: use the injected one, or create one lazily and close it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ._http import new_client


__all__ = ["ClientOwner"]


class ClientOwner:
    """
    Mixin of a source or sink that sends its requests with the injected ``client`` or,
    without one, with a client it creates on first use (kept in ``_owned``) and closes in
    :meth:`aclose`. The attrs class using it declares both fields.
    """

    if not TYPE_CHECKING:  # keeps the attrs subclasses slotted; they declare the fields
        __slots__ = ()

    client: httpx.AsyncClient | None
    _owned: httpx.AsyncClient | None

    def _new_client(self) -> httpx.AsyncClient:
        """The client to own when none was injected."""
        return new_client()

    def _get_client(self) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        if self._owned is None:
            self._owned = self._new_client()
        return self._owned

    async def aclose(self) -> None:
        """Close the client created here (never an injected one); idempotent, not terminal."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.aclose()
