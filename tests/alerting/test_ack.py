"""
Acknowledgement through the Python API and the HTTP callback (an ASGI app).
"""

from __future__ import annotations

import socket
from datetime import timedelta
from urllib.parse import quote

import anyio
import httpx
import pytest
from alerting_streams import incident_stream

from socialplug.alerting import Incidents, Monitor, Spike, ack_app
from socialplug.clock import ManualClock


pytestmark = pytest.mark.anyio

TOKEN = "s3cret-ack-token"


async def open_incident(store, router):
    """Drive a monitor into the surge of the incident stream; return it and its clock."""
    posts, surge_start = incident_stream()
    clock = ManualClock(current=posts[0].created_at)
    watcher = Monitor(
        router=router,
        spikes=[Spike(cooldown=timedelta(minutes=10))],
        incidents=Incidents(),
        clock=clock,
    )
    await watcher.bind(store)
    for p in posts:
        if p.created_at > surge_start + timedelta(minutes=5):
            break
        clock.set(p.created_at)
        await watcher.observe(p.annotate(routes=["support"]))
    (incident,) = watcher.open_incidents()
    return watcher, clock, incident["incident"]


class TestPythonApi:
    async def test_acknowledge_stops_escalation_and_tells_the_route(self, store, router):
        """acknowledge(): the next tick tells support once; no tier is escalated to."""
        watcher, clock, key = await open_incident(store, router)

        assert await watcher.acknowledge(key, by="dana")
        assert not await watcher.acknowledge("incident:nope", by="dana")
        told = await watcher.tick(clock.now())
        acknowledged_by = watcher.open_incidents()[0]["acknowledged_by"]
        later = await watcher.tick(clock.now() + timedelta(minutes=40))

        assert acknowledged_by == "dana"
        assert [a.kind for a in told] == ["incident.acknowledged"]
        assert told[0].route == "support"
        assert key == told[0].incident
        assert [a.kind for a in later] == ["incident.resolved"]


class TestHttpCallback:
    async def test_token_required_and_never_echoed(self, store, router):
        """Without the token: 401, and no response ever contains the token."""
        _, _, key = await open_incident(store, router)
        app = ack_app(store, token=TOKEN)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ack") as client:
            denied = await client.post(f"/incidents/{quote(key, safe='')}/ack")
            wrong = await client.get("/incidents", headers={"Authorization": "Bearer nope"})
            listed = await client.get("/incidents", headers={"Authorization": f"Bearer {TOKEN}"})

        assert (denied.status_code, wrong.status_code, listed.status_code) == (401, 401, 200)
        assert [key] == [i["incident"] for i in listed.json()["incidents"]]
        for response in (denied, wrong, listed):
            assert TOKEN not in response.text

    async def test_ack_over_http_reaches_the_monitor(self, store, router):
        """POST /incidents/{key}/ack with a form body; the monitor's next tick tells support."""
        watcher, clock, key = await open_incident(store, router)
        app = ack_app(store, token=TOKEN, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ack") as client:
            unknown = await client.post(f"/incidents/nope/ack?token={TOKEN}")
            wrong_method = await client.get(f"/incidents/{quote(key, safe='')}/ack?token={TOKEN}")
            done = await client.post(
                f"/incidents/{quote(key, safe='')}/ack?token={TOKEN}", data={"by": "sam"}
            )

        assert (
            unknown.status_code,
            wrong_method.status_code,
            done.status_code,
        ) == (404, 405, 200)
        assert {"acknowledged": key, "by": "sam"} == done.json()
        told = await watcher.tick(clock.now())
        assert [a.kind for a in told] == ["incident.acknowledged"]
        assert told[0].data["acknowledged_by"] == "sam"

    async def test_over_a_real_socket_with_uvicorn(self, store, router):
        """The app served by uvicorn on loopback acknowledges with a JSON body."""
        uvicorn = pytest.importorskip("uvicorn")
        watcher, clock, key = await open_incident(store, router)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(ack_app(store, token=TOKEN), log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - uvicorn only exposes a flag
                await anyio.sleep(0.01)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                response = await client.post(
                    f"/incidents/{quote(key, safe='')}/ack",
                    json={"by": "ops-bot"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            server.should_exit = True

        sock.close()
        assert response.status_code == 200
        told = await watcher.tick(clock.now())
        assert told[0].data["acknowledged_by"] == "ops-bot"
