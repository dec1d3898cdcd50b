from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sources_replay import ReplayServer


ROOT = Path(__file__).resolve().parents[2]
OWN_FIXTURES = ROOT / "tests" / "fixtures"
SHARED_FIXTURES = ROOT / ".." / "shared" / "fixtures"


def _shared_fixtures(platform: str) -> Path:
    """The recorded payloads of *platform*; skip (fail in CI) when they are not here."""
    folder = SHARED_FIXTURES / platform
    if not folder.is_dir():
        reason = f"recorded {platform} fixtures not found at {folder}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="shared_fixtures")
def _shared_fixtures_fixture():
    """A function of the platform returning its recorded fixtures folder (or skipping)."""
    return _shared_fixtures


@pytest.fixture(name="own_fixtures")
def _own_fixtures() -> Path:
    return OWN_FIXTURES


@pytest.fixture(name="server")
def _server() -> Iterator[ReplayServer]:
    """A loopback server answering canned or recorded responses (``sources_replay``)."""
    server = ReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
