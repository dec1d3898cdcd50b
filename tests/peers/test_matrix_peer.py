"""The Matrix sink against a real matrix-synapse homeserver (PyPI) on loopback."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from socialplug.exceptions import DeliveryError
from socialplug.model import Alert, Author, Delivery, Item, Post, delivery_key
from socialplug.sinks.matrix import MatrixSink


T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOSTILE = (
    "<!channel> @room @everyone <script>alert(1)</script> [good](https://evil.example) & done"
)


def make_post(n: int = 1, *, text: str = "The 8:15 train is stuck") -> Post:
    return Post(
        platform="mastodon",
        id=str(n),
        text=text,
        created_at=T0,
        author=Author(handle="ann@example.social", name="Ann"),
        url=f"https://example.social/@ann/{n}",
    )


def make_alert(kind: str, *, incident: str) -> Alert:
    return Alert(
        kind=kind,
        key=f"{incident}:{kind}",
        title="Spike: trains delayed",
        created_at=T0,
        summary="42 posts",
        severity="P1",
        incident=incident,
        posts=(make_post(2),),
    )


def deliveries(*items: Item) -> list[Delivery]:
    return [
        Delivery(item=i, route="r", sink="s", key=delivery_key("r", "s", i.key)) for i in items
    ]


ROOT = Path(__file__).resolve().parents[2]


def synapse_python() -> Path | None:
    """The interpreter that has matrix-synapse: ``$SYNAPSE_PYTHON`` or ``.peers/synapse``."""
    configured = os.environ.get("SYNAPSE_PYTHON")
    candidate = (
        Path(configured) if configured else ROOT / ".peers" / "synapse" / "venv" / "bin" / "python"
    )
    return candidate if candidate.exists() else None


@attrs.frozen
class Homeserver:
    url: str
    shared_secret: str

    def register(self, user: str, password: str, *, admin: bool = False) -> str:
        """Register *user* with the shared secret; return an access token."""
        nonce = httpx.get(f"{self.url}/_synapse/admin/v1/register").json()["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    user.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        answer = httpx.post(
            f"{self.url}/_synapse/admin/v1/register",
            json={
                "nonce": nonce,
                "username": user,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])


def install_synapse() -> Path | None:
    """Install matrix-synapse from PyPI into ``.peers/synapse/venv`` (once, ~1-2 minutes)."""
    venv = ROOT / ".peers" / "synapse" / "venv"
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "matrix-synapse"],
            check=True, timeout=900, capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return synapse_python()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_synapse(python: Path, folder: Path) -> Iterator[Homeserver]:
    port = _free_port()
    secret = secrets.token_hex(16)
    config = folder / "homeserver.yaml"
    config.write_text(
        f"""
server_name: "localhost"
pid_file: "{folder}/homeserver.pid"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{folder}/homeserver.db"
media_store_path: "{folder}/media"
signing_key_path: "{folder}/signing.key"
registration_shared_secret: "{secret}"
macaroon_secret_key: "{secrets.token_hex(16)}"
form_secret: "{secrets.token_hex(16)}"
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
url_preview_enabled: false
enable_registration: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_joins: {{local: {{per_second: 1000, burst_count: 1000}}}}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
"""
    )
    subprocess.run(
        [str(python), "-m", "synapse.app.homeserver", "-c", str(config), "--generate-keys"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = (folder / "synapse.log").open("wb")
    proc = subprocess.Popen(
        [str(python), "-m", "synapse.app.homeserver", "-c", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_matrix/client/versions", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "synapse did not start: " + (folder / "synapse.log").read_text()[-2000:]
                )
            time.sleep(0.2)
        yield Homeserver(url=url, shared_secret=secret)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    python = synapse_python() or install_synapse()
    if python is None:
        reason = (
            "matrix-synapse could not be installed into .peers/synapse/venv "
            "(pip install matrix-synapse; or set SYNAPSE_PYTHON)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with running_synapse(python, tmp_path_factory.mktemp("synapse")) as hs:
        yield hs


@pytest.fixture(scope="module")
def room(homeserver: Homeserver) -> tuple[str, str]:
    token = homeserver.register("alertbot", "alertbot-password-1")
    answer = httpx.post(
        f"{homeserver.url}/_matrix/client/v3/createRoom",
        json={"preset": "private_chat", "name": "ops"},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return token, answer.json()["room_id"]


def _events(hs: Homeserver, token: str, room_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{hs.url}/_matrix/client/v3/rooms/{room_id}/messages",
        params={"dir": "f", "limit": "100", "filter": '{"types":["m.room.message"]}'},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return list(answer.json()["chunk"])


pytestmark = [pytest.mark.anyio, pytest.mark.peers]


async def test_messages_threads_and_transaction_ids(
    homeserver: Homeserver, room: tuple[str, str]
) -> None:
    token, room_id = room
    opened, updated = (
        make_alert("incident.opened", incident="m-1"),
        make_alert("incident.updated", incident="m-1"),
    )
    batch = deliveries(make_post(text=HOSTILE), opened, updated)
    sink = MatrixSink(homeserver.url, token, room_id)
    await sink.deliver(batch)
    again = MatrixSink(homeserver.url, token, room_id)  # a restarted process resends all
    again._roots.update(sink._roots)
    await again.deliver(batch)
    await sink.aclose()
    await again.aclose()
    events = _events(homeserver, token, room_id)
    assert len(events) == 3  # the homeserver deduplicated the resend by transaction id
    post, root, reply = (e["content"] for e in events)
    assert post["m.mentions"] == {}
    assert "<script>" not in post["formatted_body"]
    assert "&lt;script&gt;" in post["formatted_body"]
    assert "@room" not in post["body"]
    assert "@channel" not in post["body"]
    assert reply["m.relates_to"]["rel_type"] == "m.thread"
    assert reply["m.relates_to"]["event_id"] == events[1]["event_id"]
    assert "m.relates_to" not in root


async def test_bad_token_is_permanent_and_hidden(
    homeserver: Homeserver, room: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, room_id = room
    sink = MatrixSink(homeserver.url, "syt_not_a_real_token_xyz", room_id)
    with pytest.raises(DeliveryError) as info:
        await sink.deliver(deliveries(make_post()))
    await sink.aclose()
    assert not info.value.retryable
    assert "M_UNKNOWN_TOKEN" in str(info.value)
    for shown in (repr(sink), str(info.value), caplog.text):
        assert "syt_not_a_real_token_xyz" not in shown
