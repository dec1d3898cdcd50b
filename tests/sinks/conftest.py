"""Fixtures for the data and event-bus sink tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from _support import make_post

from socialplug.model import Post


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="unique")
def _unique() -> str:
    """A name no other test (or parallel run) uses: for tables, streams, queues, topics."""
    return "sp_" + uuid.uuid4().hex[:12]


@pytest.fixture(name="post_factory")
def _post_factory() -> Callable[..., Post]:
    return make_post


@pytest.fixture(name="unused_tcp_port")
def _unused_tcp_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
