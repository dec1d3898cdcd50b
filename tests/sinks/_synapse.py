"""Start a throwaway matrix-synapse on loopback for tests (installed from PyPI)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import httpx


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
