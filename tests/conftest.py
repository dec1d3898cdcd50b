"""
Shared fixtures: the anyio backend, the recorded fixtures in ../shared, machine services.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOCIALPLUG_SHARED", ROOT.parent / "shared"))
IN_CI = os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> None:
    """Skip with *reason* on a user's machine; fail in CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def shared_fixtures() -> Path:
    """The recorded real payloads in ../shared/fixtures, or skip (fail in CI)."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        skip_or_fail(f"recorded fixtures not found at {path} (set SOCIALPLUG_SHARED)")
    return path


def require_service(name: str, port: int, host: str = "127.0.0.1") -> None:
    """Skip (fail in CI) unless a TCP service listens on *host*:*port*."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError:
        skip_or_fail(f"{name} is not running on {host}:{port}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="fixtures_dir")
def _fixtures_dir() -> Path:
    return shared_fixtures()
