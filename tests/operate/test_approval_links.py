"""
The approve/reject links of a reply sink configured in a pipeline file, served by
``socialplug run --http`` and ``socialplug approvals serve``: end to end over loopback, with
the chat notification received by a webhook receiver and the replies posted to the Mastodon
imitation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from socialplug._signing import sign
from socialplug.testing.mastodon import MastodonServer
from socialplug.testing.outbound import WebhookReceiver


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "config"
TOKEN = "brand-access-token-4242"
SECRET = "link-secret-0f9e8d7c6b5a"
PUBLIC = "https://ops.example.com"  # the public origin of the links; a proxy maps it here

PIPELINE = """
[state]
type = "sqlite"
path = "state.db"

[[sources]]
type = "jsonl"
name = "mentions"
path = "posts.jsonl"
poll_interval = 0.2

[[filters]]
query = "stuck"

[sinks.replies]
type = "replies"
compose = "Sorry {author.name}, trains are being rerouted: https://status.example.com"
notify = { type = "webhook", url = "${HOOK_URL}" }
callback_url = "https://ops.example.com/socialplug"
secret = "${REPLIES_SECRET}"

[sinks.replies.mastodon]
base_url = "${MASTODON_URL}"
token = "${MASTODON_TOKEN}"
"""


@contextmanager
def receivers() -> Iterator[tuple[MastodonServer, WebhookReceiver, dict[str, str]]]:
    """The Mastodon imitation, a webhook receiver for the chat notices, and the environment."""
    with (
        MastodonServer(token=TOKEN, rate_limit=None) as mastodon,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(WebhookReceiver()) as hook,
    ):
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "HOOK_URL": hook.hook_url,
            "REPLIES_SECRET": SECRET,
            "MASTODON_URL": mastodon.url,
            "MASTODON_TOKEN": TOKEN,
        }
        yield mastodon, hook, env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "posts.jsonl", tmp_path / "posts.jsonl")
    (tmp_path / "replies.toml").write_text(PIPELINE)
    return tmp_path


@contextmanager
def service(args: list[str], cwd: Path, env: dict[str, str]) -> Iterator[Any]:
    """Start ``socialplug ARGS`` and stop it with SIGTERM (killed if it does not stop)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialplug", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def served_links(proc: Any) -> str:
    """The base URL of the approval links, from the line the service prints."""
    for _ in range(3):
        line = proc.stdout.readline()
        if "approval links" in line:
            return line.strip().rsplit(" ", 1)[-1]
    raise AssertionError(proc.stderr.read() if proc.poll() is not None else line)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def notified_links(hook: WebhookReceiver) -> dict[str, tuple[str, str]]:
    """``{draft id: (approve link, reject link)}`` from the chat notices received."""
    links = {}
    for request in hook.accepted:
        item = request.json()["item"]
        approve = re.search(r"Approve: (\S+)", item["summary"])
        reject = re.search(r"Reject: (\S+)", item["summary"])
        assert approve, item["summary"]
        assert reject, item["summary"]
        links[item["data"]["draft"]] = (approve.group(1), reject.group(1))
    return links


def statuses_posted(mastodon: MastodonServer) -> list[Any]:
    return [r for r in mastodon.requests if r.method == "POST" and r.path == "/api/v1/statuses"]


def local(link: str, base: str) -> str:
    """*link* as the proxy forwards it: the public origin replaced by the served one."""
    served_origin = base.split("/socialplug/", 1)[0]
    assert link.startswith(PUBLIC + "/socialplug/drafts/"), link
    return served_origin + link.removeprefix(PUBLIC)


def forge(link: str) -> str:
    """*link* with the last character of its token changed."""
    last = link[-1]
    return link[:-1] + ("0" if last != "0" else "1")


def decide(url: str, by: str, **fields: str) -> httpx.Response:
    """Submit the confirmation form of *url* (a link with its token) as a browser does."""
    token = url.rsplit("token=", 1)[1]
    return httpx.post(url, data={"token": token, "by": by, **fields})


def test_run_serves_the_links_of_a_reply_sink_and_posts_each_approval_once(workdir):
    with (
        receivers() as (mastodon, hook, env),
        service(["run", "replies.toml", "--http", "127.0.0.1:0", "--json"], workdir, env) as proc,
    ):
        base = served_links(proc)
        assert base.endswith("/socialplug/drafts/")
        origin = base.split("/socialplug/", 1)[0]
        wait_for(lambda: len(hook.accepted) >= 3, "three chat notices")
        links = notified_links(hook)
        (first, (approve, _)), (second, (approve2, _)), (third, (_, reject3)) = list(
            links.items()
        )[:3]
        assert not statuses_posted(mastodon)  # nothing is posted before a decision

        # Forged, tampered or misused links are refused and never acted on.
        assert httpx.get(local(forge(approve), base)).status_code == 403
        assert decide(local(forge(approve), base), "mallory").status_code == 403
        other_draft = local(approve, base).replace(first, second)  # first's token, second's path
        assert decide(other_draft, "mallory").status_code == 403
        reject_with_approve_token = local(approve, base).replace("/approve?", "/reject?")
        assert decide(reject_with_approve_token, "mallory").status_code == 403
        json_url = local(approve, base).split("?")[0]
        body = json.dumps({"by": "mallory"}).encode()
        unsigned = httpx.post(json_url, content=body, headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401
        wrong_key = httpx.post(
            json_url,
            content=body,
            headers={"Content-Type": "application/json",
                     "X-Socialplug-Signature": sign("not-the-secret", body)},
        )  # fmt: skip
        assert wrong_key.status_code == 401
        assert not statuses_posted(mastodon)

        # The link opens a confirmation page; submitting it approves and posts, once.
        page = httpx.get(local(approve, base))
        assert page.status_code == 200
        assert "<form" in page.text
        assert "(pending)" in page.text
        done = decide(local(approve, base), "dana")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "posted"
        assert done.json()["posted_url"]
        again = decide(local(approve, base), "dana")  # a second click
        assert again.status_code == 200
        assert again.json() == {**done.json(), "repeated": True}
        (post,) = statuses_posted(mastodon)
        assert post.headers["idempotency-key"] == first
        assert post.headers["authorization"] == f"Bearer {TOKEN}"
        assert post.json()["status"].startswith("@")
        assert "trains are being rerouted" in post.json()["status"]

        # Several clicks at the same moment still post once: four warm connections send
        # the form together.
        url2 = local(approve2, base)
        clients = [httpx.Client() for _ in range(4)]
        for client in clients:
            assert client.get(url2).status_code == 200
        together = threading.Barrier(4)

        def click(client: httpx.Client) -> httpx.Response:
            together.wait()
            return client.post(url2, data={"token": url2.rsplit("=", 1)[1], "by": "eli"})

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(click, clients))
        for client in clients:
            client.close()
        assert sorted(a.json()["repeated"] for a in answers) == [False, True, True, True]
        assert all(a.json()["status"] == "posted" for a in answers)
        assert [p.headers["idempotency-key"] for p in statuses_posted(mastodon)] == [
            first,
            second,
        ]

        # Rejecting records the decision; the opposite decision afterwards is a conflict.
        rejected = decide(local(reject3, base), "fay", reason="already answered")
        assert rejected.json()["status"] == "rejected"
        approve3 = links[third][0]
        assert decide(local(approve3, base), "fay").status_code == 409
        assert len(statuses_posted(mastodon)) == 2

        # The same server answers the health checks and counts the outcomes.
        assert httpx.get(f"{origin}/healthz").status_code == 200
        stats = httpx.get(f"{origin}/stats").json()
        assert stats["approvals"] == {
            "refused": 6,
            "approved": 2,
            "repeated": 4,
            "rejected": 1,
            "conflict": 1,
        }
        metrics = httpx.get(f"{origin}/metrics").text
        assert 'socialplug_approval_requests_total{outcome="refused"} 6.0' in metrics
        assert httpx.get(f"{origin}/socialplug/drafts/nope").status_code == 404

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["stopped_by"] == "SIGTERM"
    assert TOKEN not in out + err
    assert SECRET not in out + err
    listed = subprocess.run(
        [sys.executable, "-m", "socialplug", "approvals", "list", "replies.toml", "--all",
         "--json"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    status = {d["id"]: (d["status"], d["decided_by"]) for d in json.loads(listed.stdout)}
    assert status[first] == ("posted", "dana")
    assert status[second] == ("posted", "eli")
    assert status[third] == ("rejected", "fay")


def test_approvals_serve_serves_the_links_of_drafts_made_by_run(workdir):
    with receivers() as (mastodon, hook, env):
        drafted = subprocess.run(
            [sys.executable, "-m", "socialplug", "run", "replies.toml", "--once", "--json"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert drafted.returncode == 0, drafted.stderr
        links = notified_links(hook)
        assert len(links) == json.loads(drafted.stdout)["delivered"]["replies"] >= 2
        draft, (approve, _) = next(iter(links.items()))
        with service(
            ["approvals", "serve", "replies.toml", "--http", "127.0.0.1:0", "--json"],
            workdir,
            env,
        ) as proc:
            base = served_links(proc)
            assert httpx.get(local(forge(approve), base)).status_code == 403
            assert httpx.get(local(approve, base)).status_code == 200
            # A proxy that strips the /socialplug prefix reaches the same callback.
            stripped = local(approve, base).replace("/socialplug/drafts/", "/drafts/")
            assert decide(stripped, "dana").json()["status"] == "posted"
            assert decide(local(approve, base), "dana").json()["repeated"] is True
            assert [p.headers["idempotency-key"] for p in statuses_posted(mastodon)] == [draft]
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert json.loads(out) == {"refused": 1, "approved": 1, "repeated": 1}
        assert TOKEN not in out + err
        assert SECRET not in out + err


def test_approvals_serve_needs_a_reply_sink_with_links(workdir):
    (workdir / "plain.toml").write_text(
        PIPELINE.replace('callback_url = "https://ops.example.com/socialplug"\n', "")
    )
    env = {**os.environ, "HOOK_URL": "http://127.0.0.1:9/hook", "REPLIES_SECRET": SECRET,
           "MASTODON_URL": "http://127.0.0.1:9", "MASTODON_TOKEN": TOKEN}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "socialplug", "approvals", "serve", "plain.toml"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "callback_url" in done.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "socialplug", "approvals", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "serve" in help_text
    assert "--http" in help_text
