"""Fixtures for source tests: recorded payloads by platform and a loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT, SHARED, skip_or_fail
from ._replay import ReplayServer


OWN = ROOT / "tests" / "fixtures"


def shared_fixtures(platform: str) -> Path:
    """Return ``../shared/fixtures/<platform>``; skip (fail in CI) when it is absent."""
    folder = SHARED / "fixtures" / platform
    if not folder.is_dir():
        skip_or_fail(f"shared recorded fixtures not found at {folder}")
    return folder


@pytest.fixture(name="server")
def _server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
