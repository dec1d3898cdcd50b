"""
Webhook receiver benchmark: signed JSON pushes accepted and durably stored per second.

The receiver (``WebhookSource.app`` with a ``SQLiteStateStore`` in WAL mode) runs under
uvicorn in its own process; a raw asyncio client with keep-alive connections sends unique,
pre-signed requests. The baseline is a bare Starlette endpoint answering 202 without doing
anything, under the same server and client, in the same run. Target: >= 1,000 requests/s.

    python benchmarks/webhook_receiver.py [--requests 3000] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SECRET = "bench-secret"


def _server(kind: str, port: int, db: str, ready: multiprocessing.synchronize.Event) -> None:
    import uvicorn

    if kind == "webhook":
        from socialplug.sources.webhook import WebhookSource
        from socialplug.state import SQLiteStateStore

        app = WebhookSource(secret=SECRET, store=SQLiteStateStore(db)).app
    else:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def hook(request: Request) -> Response:
            return Response(b'{"ok":true}', status_code=202, media_type="application/json")

        app = Starlette(routes=[Route("/", hook, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="off", interface="asgi3")  # fmt: skip
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        ready.set()
        await task

    asyncio.run(main())


def _requests(n: int, prefix: str = "m") -> list[bytes]:
    from socialplug._signing import sign

    out = []
    for i in range(n):
        body = json.dumps(
            {"id": f"{prefix}{i}", "text": f"Train {i} stuck in the tunnel", "author": "commuter"}
        ).encode()
        out.append(
            b"POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            + f"X-Socialplug-Signature: {sign(SECRET, body)}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return out


async def _client(
    port: int, requests: list[bytes], connections: int
) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}

    async def worker(chunk: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for raw in chunk:
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(requests[i::connections]) for i in range(connections)))
    return time.perf_counter() - t0, statuses


def _measure(kind: str, n: int, connections: int) -> tuple[float, dict[int, int], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "state.db")
        ready = multiprocessing.Event()
        proc = multiprocessing.Process(target=_server, args=(kind, port, db, ready), daemon=True)
        proc.start()
        ready.wait(20)
        try:
            asyncio.run(_client(port, _requests(50, "warm-up-"), connections))
            elapsed, statuses = asyncio.run(_client(port, _requests(n), connections))
        finally:
            proc.terminate()
            proc.join(5)
        stored = 0
        if kind == "webhook":
            import sqlite3

            with sqlite3.connect(db) as conn:
                stored = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    return elapsed, statuses, stored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    bare, bare_statuses, _ = _measure("bare", args.requests, args.connections)
    ours, our_statuses, stored = _measure("webhook", args.requests, args.connections)
    print(f"requests: {args.requests} over {args.connections} keep-alive connections")
    print(f"bare Starlette endpoint: {args.requests / bare:8.0f} req/s  {bare_statuses}")
    print(f"webhook receiver:        {args.requests / ours:8.0f} req/s  {our_statuses}  "
          f"stored in SQLite: {stored} (incl. 50 warm-up)")  # fmt: skip
    print(f"receiver throughput / bare throughput: {bare / ours:.2f} (target >= 1000 req/s)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
