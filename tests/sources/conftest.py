"""Fixtures for source tests: the anyio backend, recorded payloads, a loopback server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._replay import ReplayServer


REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "fixtures"
OWN = REPO / "tests" / "fixtures"


# tenacity >= 9.2 deprecates wait_exponential_jitter(initial=...), which _http.retrying uses.
TENACITY_INITIAL = pytest.mark.filterwarnings(
    "ignore:The 'initial' parameter is deprecated:DeprecationWarning"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def shared_fixtures(platform: str) -> Path:
    """Return ``../shared/fixtures/<platform>``; skip (fail in CI) when it is absent."""
    folder = SHARED / platform
    if not folder.is_dir():
        reason = f"shared recorded fixtures not found at {folder}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


@pytest.fixture(name="server")
def _server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
