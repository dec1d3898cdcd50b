"""
Sink benchmarks: the webhook sink against a hand-written httpx loop doing the same signed
requests to the same loopback receiver (concurrency 32), and a 1,000-alert email digest
rendered and sent to aiosmtpd.

Run: ``python benchmarks/sinks_bench.py [--deliveries 2000] [--rounds 3]``.
The receiver runs in a subprocess so it does not share the client's interpreter.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import anyio
import httpx

from socialplug._signing import SIGNATURE_HEADER, sign
from socialplug.model import Alert, Author, Delivery, Post, delivery_key
from socialplug.sinks.email import EmailSink
from socialplug.sinks.webhook import WebhookSink, default_body


SECRET = "bench-secret"
CONCURRENCY = 32
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

_SERVER = """
import anyio, sys
from socialplug.testing.outbound import WebhookReceiver
async def main():
    async with WebhookReceiver(secret=sys.argv[1]) as r:
        print(r.hook_url, flush=True)
        await anyio.sleep_forever()
anyio.run(main)
"""


def _batch(n: int, tag: str) -> list[Delivery]:
    out = []
    for i in range(n):
        post = Post(
            platform="mastodon",
            id=f"{tag}-{i}",
            text=f"Post {i}: the 8:15 train is stuck in the tunnel again #trains",
            created_at=T0,
            author=Author(id="1", handle="ann@example.social", name="Ann"),
            url=f"https://example.social/@ann/{i}",
        )
        out.append(
            Delivery(item=post, route="r", sink="hook", key=delivery_key("r", "hook", post.key))
        )
    return out


async def _baseline(url: str, batch: list[Delivery]) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits) as client:
        limiter = anyio.Semaphore(CONCURRENCY)

        async def one(d: Delivery) -> None:
            async with limiter:
                body = json.dumps(default_body(d), ensure_ascii=False, separators=(",", ":"))
                content = body.encode()
                response = await client.post(
                    url,
                    content=content,
                    headers={
                        "Content-Type": "application/json",
                        "Idempotency-Key": d.key,
                        SIGNATURE_HEADER: sign(SECRET, content),
                    },
                )
                response.raise_for_status()

        async with anyio.create_task_group() as tg:
            for d in batch:
                tg.start_soon(one, d)


async def _sink(url: str, batch: list[Delivery]) -> None:
    sink = WebhookSink(url, secret=SECRET, concurrency=CONCURRENCY)
    try:
        await sink.deliver(batch)
    finally:
        await sink.aclose()


async def bench_webhook(n: int, rounds: int) -> dict[str, float]:
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
        [sys.executable, "-c", _SERVER, SECRET], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        best = {"sink": 0.0, "baseline": 0.0}
        for r in range(rounds):
            for name, fn in (("baseline", _baseline), ("sink", _sink)):
                batch = _batch(n, f"{name}-{r}")
                started = time.perf_counter()
                await fn(url, batch)
                rate = n / (time.perf_counter() - started)
                best[name] = max(best[name], rate)
        return {**best, "ratio": best["sink"] / best["baseline"]}
    finally:
        proc.terminate()
        proc.wait(5)


async def bench_digest(n: int) -> float:
    from aiosmtpd.controller import Controller

    class Handler:
        count = 0

        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: object, session: object, envelope: object
        ) -> str:
            Handler.count += 1
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        alerts = [
            Alert(
                kind="spike",
                key=f"a{i}",
                title=f"Spike {i}: trains delayed ✓",
                created_at=T0,
                summary="42 posts in 5 minutes mention delays <b>now</b>",
                severity=("P1", "P2", "P3", "P4")[i % 4],
                incident=f"inc-{i}",
                url=f"https://status.example.com/{i}",
            )
            for i in range(n)
        ]
        batch = [Delivery(item=a, route="r", sink="mail", key=a.key) for a in alerts]
        sink = EmailSink("127.0.0.1", port, tls="none", to=["ops@example.com"], digest=True)
        started = time.perf_counter()
        await sink.deliver(batch)
        elapsed = time.perf_counter() - started
        assert Handler.count == 1
        return elapsed
    finally:
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    web = anyio.run(bench_webhook, args.deliveries, args.rounds)
    print(
        f"webhook sink, concurrency {CONCURRENCY}: {web['sink']:.0f} deliveries/s; "
        f"hand-written httpx loop: {web['baseline']:.0f}/s; ratio {web['ratio']:.2f}"
    )
    digest = anyio.run(bench_digest, 1000)
    print(f"email digest of 1,000 alerts rendered and sent to aiosmtpd in {digest:.3f} s")


if __name__ == "__main__":
    main()
