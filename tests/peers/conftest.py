"""
Real peers nobody here wrote, on loopback: the ``mastodon_mock`` server (PyPI) and Bluesky's
own ``@atproto/dev-env`` network (npm). The shared scripts in ``../shared/peers`` install and
start them under ``.peers/``; a peer already answering on its port is reused and left running.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".." / "shared" / "peers"
MM_PORT = int(os.environ.get("SOCIALPLUG_MM_PORT", "3311"))
ATP_BASE_PORT = int(os.environ.get("SOCIALPLUG_ATP_BASE_PORT", "2680"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _script(*parts: str) -> Path:
    script = PEERS.joinpath(*parts)
    if not script.is_file():
        _unavailable(f"peer script {script} not found")
    return script


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def mastodon_peer() -> Iterator[str]:
    """Base URL of a running mastodon_mock (tokens ``alice_token`` and ``bob_token``)."""
    url = f"http://127.0.0.1:{MM_PORT}"
    if _answers(f"{url}/api/v1/instance"):
        yield url
        return
    script = _script("mastodon", "mastodon-mock.sh")
    env = {
        **os.environ,
        "PEER_DIR": str(ROOT / ".peers" / "mastodon-mock"),
        "MM_PORT": str(MM_PORT),
    }
    if not (ROOT / ".peers" / "mastodon-mock" / "venv").is_dir():
        subprocess.run([str(script), "install"], env=env, check=True, timeout=600)
    started = subprocess.run([str(script), "start"], env=env, check=False, timeout=120)
    if started.returncode != 0:
        _unavailable("mastodon_mock did not start")
    try:
        yield url
    finally:
        subprocess.run([str(script), "stop"], env=env, check=False, timeout=60)


@pytest.fixture(scope="session")
def bluesky_peer() -> Iterator[dict[str, str]]:
    """URLs of a running ``@atproto/dev-env``: ``pds``, ``appview``, ``control``."""
    urls = {
        "control": f"http://127.0.0.1:{ATP_BASE_PORT}",
        "pds": f"http://127.0.0.1:{ATP_BASE_PORT + 3}",
        "appview": f"http://127.0.0.1:{ATP_BASE_PORT + 4}",
    }
    if _answers(f"{urls['pds']}/xrpc/_health"):
        yield urls
        return
    if os.geteuid() != 0:
        _unavailable("the Bluesky dev-env script must run as root")
    script = _script("bsky", "bsky-devenv.sh")
    env = {
        **os.environ,
        "PEER_DIR": str(ROOT / ".peers" / "bsky"),
        "ATP_BASE_PORT": str(ATP_BASE_PORT),
        "PG_PORT": os.environ.get("SOCIALPLUG_BSKY_PG_PORT", "55532"),
        "REDIS_PORT": os.environ.get("SOCIALPLUG_BSKY_REDIS_PORT", "56479"),
    }
    if not (ROOT / ".peers" / "bsky" / "app").is_dir():
        subprocess.run([str(script), "install"], env=env, check=True, timeout=1200)
    started = subprocess.run(
        [str(script), "start"], env=env, check=False, timeout=300, capture_output=True, text=True
    )
    if started.returncode != 0:
        _unavailable(f"the Bluesky dev-env did not start: {started.stderr[-500:]}")
    try:
        yield urls
    finally:
        subprocess.run([str(script), "stop"], env=env, check=False, timeout=120)
