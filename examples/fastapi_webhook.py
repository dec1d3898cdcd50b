"""
Inbound webhooks inside a FastAPI service: the receiver mounted next to a business endpoint.

Serves the app on a free loopback port, sends one signed request, runs the pipeline once,
prints what arrived and stops. Offline; ``pip install 'socialplug[webhook]' fastapi``.

    python examples/fastapi_webhook.py
"""

from __future__ import annotations

import json
import socket

import anyio
import httpx
import uvicorn
from fastapi import FastAPI

from socialplug import Delivery, MemoryStateStore, Pipeline
from socialplug._signing import SIGNATURE_HEADER, sign
from socialplug.sinks import CallableSink
from socialplug.sources.webhook import WebhookSource


SECRET = "whsec_example"  # in a service: from the environment or a secrets manager


def build_app(hooks: WebhookSource) -> FastAPI:
    """The business service, with the webhook receiver mounted under /hooks/vendor."""
    app = FastAPI(title="orders")

    @app.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, str]:
        return {"id": order_id, "status": "shipped"}

    app.mount("/hooks/vendor", hooks.app)
    return app


async def main() -> None:
    """Serve, push one signed item, deliver it, stop."""
    store = MemoryStateStore()
    hooks = WebhookSource(secret=SECRET, store=store, name="vendor-hooks")
    arrived: list[Delivery] = []
    inbox = CallableSink(arrived.append)
    pipeline = Pipeline(sources=[hooks], sinks={"inbox": inbox}, state=store)
    sock = socket.create_server(("127.0.0.1", 0))  # a free port, handed to uvicorn
    server = uvicorn.Server(uvicorn.Config(build_app(hooks), log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
            await anyio.sleep(0.01)
        try:
            await push_and_deliver(sock.getsockname()[1], pipeline, arrived)
        finally:
            server.should_exit = True
    sock.close()


async def push_and_deliver(port: int, pipeline: Pipeline, arrived: list[Delivery]) -> None:
    """Call the business endpoint, push one signed item, run the pipeline once."""
    body = json.dumps({"id": "evt-1", "text": "Order 1042 refunded", "author": "acme"})
    headers = {SIGNATURE_HEADER: sign(SECRET, body.encode()), "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        business = await client.get("/orders/1042")
        pushed = await client.post("/hooks/vendor/", content=body, headers=headers)
    print(f"business endpoint: {business.status_code} {business.json()['status']}")
    print(f"webhook: {pushed.status_code} {pushed.json()}")
    report = await pipeline.run_once()
    print(report.summary())
    for delivery in arrived:
        post = delivery.item
        print(f"arrived: {post.platform} {post.id} by {post.author.handle}: {post.text}")


if __name__ == "__main__":
    anyio.run(main)
