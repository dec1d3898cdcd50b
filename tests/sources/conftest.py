"""Fixtures for source tests: a loopback server answering canned or recorded responses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sources_replay import ReplayServer


@pytest.fixture(name="server")
def _server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
