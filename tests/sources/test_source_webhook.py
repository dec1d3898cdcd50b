"""Inbound webhooks: signature checks, limits, durable acceptance and delivery after a crash."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from pathlib import Path

import anyio
import httpx
import pytest
from sources_support import OWN

from socialplug._signing import sign
from socialplug.exceptions import ConfigurationError
from socialplug.pipeline import Pipeline
from socialplug.sources.webhook import WebhookSource, to_post
from socialplug.state import MemoryStateStore, SQLiteStateStore
from socialplug.testing import CollectingSink


pytestmark = pytest.mark.anyio

SECRET = "whsec-test-0123"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _signed(
    payload: object, *, timestamp: int | None = None, secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Socialplug-Signature": sign(secret, body, timestamp=timestamp),
    }


async def _post_all(
    source: WebhookSource, requests: list[tuple[bytes, dict[str, str]]], path: str = "/"
) -> list[httpx.Response]:
    port = _port()
    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: source.serve(port=port, task_status=task_status))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answers = [
                await client.post(path, content=body, headers=headers)
                for body, headers in requests
            ]
        tg.cancel_scope.cancel()
    return answers


class TestReceiver:
    async def test_accepts_signed_and_stores_before_answering(self):
        """A signed push gets 202 and is already in the store when the answer arrives."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store)
        [answer] = await _post_all(
            source, [_signed({"id": "m1", "text": "Train stuck in tunnel"})]
        )

        records = await store.records(source.namespace)
        assert answer.status_code == 202
        assert list(records) == [answer.json()["id"]]
        assert json.loads(records[answer.json()["id"]]["body"]) == {
            "id": "m1",
            "text": "Train stuck in tunnel",
        }
        assert source.counts == {"accepted": 1}

    @pytest.mark.parametrize(
        ("make", "outcome"),
        [
            pytest.param(lambda: _signed({"a": 1}, secret="wrong-secret"), "forged", id="forged"),
            pytest.param(
                lambda: (b'{"a": 1}', {"Content-Type": "application/json"}),
                "unsigned",
                id="unsigned",
            ),
            pytest.param(lambda: _signed({"a": 1}, timestamp=1_000_000_000), "stale", id="stale"),
            pytest.param(
                lambda: (b'{"a": 2}', {"X-Socialplug-Signature": sign(SECRET, b'{"a": 1}')}),
                "forged",
                id="body-swapped",
            ),
        ],
    )
    async def test_refuses_with_401_and_counts(self, make, outcome):
        """Forged, unsigned and stale requests get 401, are counted and never stored."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store)
        [answer] = await _post_all(source, [make()])

        assert answer.status_code == 401
        assert source.counts == {outcome: 1}
        assert await store.records(source.namespace) == {}

    async def test_replay_within_window_is_stored_once(self):
        """The same signed request sent twice is stored once; the repeat gets 200 duplicate."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store)
        request = _signed({"id": "m1"})
        first, second = await _post_all(source, [request, request])

        assert (first.status_code, second.status_code) == (202, 200)
        assert second.json() == {"duplicate": True}
        assert len(await store.records(source.namespace)) == 1

    async def test_body_over_the_limit(self):
        """A body over max_body gets 413 and is not stored."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store, max_body=1000)
        [answer] = await _post_all(source, [_signed({"text": "x" * 2000})])

        assert answer.status_code == 413
        assert source.counts == {"too_large": 1}
        assert await store.records(source.namespace) == {}

    async def test_github_signature(self):
        """GitHub's X-Hub-Signature-256 is accepted; a redelivery with the same id is not stored twice."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store)
        body = (OWN / "webhook" / "github_issue_comment.json").read_bytes()
        good = {
            "X-Hub-Signature-256": "sha256="
            + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "X-GitHub-Event": "issue_comment",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "Content-Type": "application/json",
        }
        bad = {**good, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        answers = await _post_all(source, [(body, good), (body, bad), (body, good)])

        assert [a.status_code for a in answers] == [202, 401, 200]
        [record] = (await store.records(source.namespace)).values()
        assert record["headers"]["x-github-event"] == "issue_comment"

    async def test_bad_json_and_method(self):
        """A signed non-JSON body gets 400; a GET gets 405."""
        source = WebhookSource(secret=SECRET, store=MemoryStateStore())
        body = b"not json"
        port = _port()
        async with anyio.create_task_group() as tg:
            await tg.start(lambda task_status: source.serve(port=port, task_status=task_status))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                bad = await client.post(
                    "/", content=body, headers={"X-Socialplug-Signature": sign(SECRET, body)}
                )
                get = await client.get("/")
            tg.cancel_scope.cancel()

        assert (bad.status_code, get.status_code) == (400, 405)
        assert source.counts == {"bad_json": 1, "bad_method": 1}

    async def test_mounted_in_starlette(self):
        """The app mounts under a Starlette application and works there."""
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Mount, Route

        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store)
        app = Starlette(
            routes=[
                Route("/health", lambda r: PlainTextResponse("ok")),
                Mount("/hooks/acme", app=source.app),
            ]
        )
        port = _port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        body, headers = _signed({"id": "m9", "text": "hello"})
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            while not server.started:  # noqa: ASYNC110
                await anyio.sleep(0.01)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                health = await client.get("/health")
                answer = await client.post("/hooks/acme/", content=body, headers=headers)
            server.should_exit = True

        assert health.text == "ok"
        assert answer.status_code == 202
        assert len(await store.records(source.namespace)) == 1

    async def test_port_in_use_is_an_os_error(self):
        """serve() on a port already taken raises OSError (inside the caller's task group)."""
        source = WebhookSource(secret=SECRET, store=MemoryStateStore())
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.RaisesGroup(OSError):
                async with anyio.create_task_group() as tg:
                    await tg.start(
                        lambda task_status: source.serve(port=port, task_status=task_status)
                    )

    def test_secret_not_in_repr(self):
        """The shared secret never appears in the repr."""
        assert SECRET not in repr(WebhookSource(secret=SECRET, store=MemoryStateStore()))

    def test_configuration(self):
        """An unknown scheme or an empty secret is a configuration error."""
        with pytest.raises(ConfigurationError):
            WebhookSource(secret=SECRET, store=MemoryStateStore(), schemes=("stripe",))
        with pytest.raises(ConfigurationError):
            WebhookSource(secret="", store=MemoryStateStore())


class TestDelivery:
    async def test_crash_after_202_still_delivers_after_restart(self, tmp_path: Path):
        """Accepted, then the process dies before the pipeline ran: a restart delivers it once."""
        path = tmp_path / "state.db"
        store = SQLiteStateStore(path)
        receiver = WebhookSource(secret=SECRET, store=store)
        answers = await _post_all(
            receiver,
            [
                _signed({"id": "m1", "text": "Train stuck"}),
                _signed({"id": "m2", "text": "Still stuck"}),
            ],
        )
        assert [a.status_code for a in answers] == [202, 202]
        await store.aclose()  # the crash: nothing read, nothing committed
        del receiver

        store = SQLiteStateStore(path)
        sink = CollectingSink()
        source = WebhookSource(secret=SECRET, store=store)
        pipeline = Pipeline(sources=[source], sinks={"out": sink}, state=store)
        report = await pipeline.run_once()
        again = await Pipeline(
            sources=[WebhookSource(secret=SECRET, store=store)], sinks={"out": sink}, state=store
        ).run_once()
        leftover = await store.records(source.namespace)
        await store.aclose()

        assert [p.id for p in sink.posts] == ["m1", "m2"]
        assert [p.text for p in sink.posts] == ["Train stuck", "Still stuck"]
        assert report.read == 2
        assert again.read == 0
        assert leftover == {}

    async def test_killed_receiver_process_loses_nothing(self, tmp_path: Path):
        """A receiver process killed (SIGKILL) right after its 202 loses nothing."""
        import signal
        import sys

        path = tmp_path / "state.db"
        port = _port()
        code = (
            "import anyio\n"
            "from socialplug.sources.webhook import WebhookSource\n"
            "from socialplug.state import SQLiteStateStore\n"
            f"source = WebhookSource(secret={SECRET!r}, store=SQLiteStateStore({str(path)!r}))\n"
            f"anyio.run(lambda: source.serve(port={port}))\n"
        )
        async with await anyio.open_process([sys.executable, "-c", code]) as proc:
            body, headers = _signed({"id": "k1", "text": "Power cut at the depot"})
            async with httpx.AsyncClient() as client:
                with anyio.fail_after(20):
                    while True:
                        try:
                            answer = await client.post(
                                f"http://127.0.0.1:{port}/", content=body, headers=headers
                            )
                            break
                        except httpx.ConnectError:
                            await anyio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()

        store = SQLiteStateStore(path)
        sink = CollectingSink()
        source = WebhookSource(secret=SECRET, store=store)
        await Pipeline(sources=[source], sinks={"out": sink}, state=store).run_once()
        await store.aclose()

        assert answer.status_code == 202
        assert proc.returncode == -signal.SIGKILL
        assert [p.text for p in sink.posts] == ["Power cut at the depot"]

    async def test_malformed_push_is_dead_lettered(self):
        """A JSON push that is not an object becomes a malformed item, then leaves the queue."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store)
        await _post_all(source, [_signed([1, 2, 3]), _signed({"text": "fine"})])
        sink = CollectingSink()
        report = await Pipeline(sources=[source], sinks={"out": sink}, state=store).run_once()

        assert report.malformed == 1
        assert [p.text for p in sink.posts] == ["fine"]
        letters = await store.dead_letters()
        assert letters[0].payload == "[1, 2, 3]"
        assert await store.records(source.namespace) == {}

    async def test_follow_wakes_on_arrival(self):
        """With follow=True a push is read at once, not after the poll interval."""
        store = MemoryStateStore()
        source = WebhookSource(secret=SECRET, store=store, poll_interval=60)
        port = _port()
        got: list[str] = []
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await tg.start(
                    lambda task_status: source.serve(port=port, task_status=task_status)
                )

                async def read() -> None:
                    async for page in source.pages(None, follow=True):
                        got.extend(p.id for p in page.posts)
                        tg.cancel_scope.cancel()

                tg.start_soon(read)
                await anyio.sleep(0.05)
                body, headers = _signed({"id": "live-1"})
                async with httpx.AsyncClient() as client:
                    await client.post(f"http://127.0.0.1:{port}/", content=body, headers=headers)

        assert got == ["live-1"]


class TestToPost:
    def test_generic_document(self):
        """A plain JSON object maps its common fields; the time falls back to arrival."""
        from datetime import UTC, datetime

        received = datetime(2026, 11, 26, 9, tzinfo=UTC)
        post = to_post({"message": "Hello", "author": {"login": "eve", "url": "https://e.test"}, "tags": ["a"]},
                       key="k1", received_at=received)  # fmt: skip

        assert (post.platform, post.id, post.text, post.author.handle, post.tags, post.created_at) == (
            "webhook", "k1", "Hello", "eve", ("a",), received
        )  # fmt: skip

    def test_serialized_post_round_trips(self):
        """A serialized post (as the webhook sink sends it) comes back equal."""
        from socialplug.testing import make_post

        original = make_post(text="round trip")
        back = to_post(json.loads(original.to_json()), key="k", received_at=original.created_at)

        assert back == original


def test_importing_sources_loads_no_extra():
    """Importing the sources package imports neither feedparser nor uvicorn nor starlette."""
    import subprocess
    import sys

    code = (
        "import sys, socialplug.sources; "
        "print([m for m in ('feedparser', 'uvicorn', 'starlette') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
