"""
Throughput of the PostgreSQL sink and of the Redis Streams and NATS JetStream sinks and
sources, each against the bare client library doing the same work in the same run.

    python benchmarks/bench_datasinks.py [--posts 20000] [--batch 1000] [--only pg,redis,nats]

Needs the machine services (PostgreSQL 5432 db ``test``, Redis 6379, NATS 4222) and the
``postgres``, ``redis`` and ``nats`` extras. Every run uses fresh tables, streams and consumers
and removes them afterwards. Figures are posts (messages) per second; the ratio is
socialplug / baseline (1.0 = no overhead).

The NATS source is compared with two bare consumers doing the same work (decode each batch into
posts, ack each message explicitly): the nats-py ``fetch`` loop, and a hand-written loop of
pull requests on an inbox with the next request sent ahead, as the source reads. Every
consumer loop stops once it has read every message, so no idle wait is timed. With
``--repeat 3`` or more, the median and this process's CPU time per message are shown too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from socialplug.model import Author, Delivery, Engagement, Post, delivery_key, item_from_dict


PG = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
NATS = "nats://127.0.0.1:4222"


def dumps(value: Any) -> bytes:
    """The JSON encoder the baselines use: the same one socialplug picks (orjson if there)."""
    from socialplug._fastjson import dumps

    return dumps(value)


def loads(value: bytes) -> Any:
    from socialplug._fastjson import loads

    return loads(value)


def make_posts(n: int, prefix: str = "u") -> list[Delivery]:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        post = Post(
            platform="mastodon",
            id=str(i),
            key=f"mastodon:https://example.social/@{prefix}/{i}",
            text=f"Train {i} stuck in the tunnel again, third time this week #rail",
            created_at=t0 + timedelta(seconds=i),
            author=Author(id=str(i % 97), handle=f"user{i % 97}@example.social", name="User"),
            url=f"https://example.social/@u/{i}",
            lang="en",
            engagement=Engagement(likes=i % 7, reposts=i % 3),
            tags=("rail",),
            annotations={"sentiment": -0.6, "matched": ["rail"]},
            source="bench",
        )
        out.append(
            Delivery(item=post, route="ops", sink="b", key=delivery_key("ops", "b", post.key))
        )
    return out


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def report(name: str, n: int, ours: float, base: float) -> None:
    print(
        f"{name:<30} socialplug {n / ours:>10,.0f}/s   baseline {n / base:>10,.0f}/s   "
        f"ratio {base / ours:.2f}"
    )


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- PostgreSQL ------------------------------------------------------------------------------


async def bench_pg(batch: list[Delivery], size: int, repeat: int) -> None:
    import psycopg

    from socialplug.sinks._rows import COLUMNS, row_of
    from socialplug.sinks.sql import PostgresSink

    names = [n for n, _ in COLUMNS]
    cols = ", ".join(f'"{n}"' for n in names)
    warmup = make_posts(1, prefix="warmup")
    conn = await psycopg.AsyncConnection.connect(PG)
    best_ours = best_base = float("inf")
    for round_ in range(repeat):  # fresh tables each round, the faster round of each counts
        ours_t, base_t = f"bench_{uuid.uuid4().hex[:8]}", f"bench_{uuid.uuid4().hex[:8]}"
        sink = PostgresSink(PG, table=ours_t)
        await sink.deliver(warmup)  # connect and create the table outside the timing
        await conn.execute(f'CREATE TABLE "{base_t}" (LIKE "{ours_t}" INCLUDING ALL)')
        await conn.commit()

        async def ours(sink: PostgresSink = sink) -> None:
            for part in chunks(batch, size):
                await sink.deliver(part)

        async def baseline(table: str = base_t) -> None:
            # The same rows, built the same way, COPYed by hand in the same batches, one
            # transaction each, into a table with the same indexes (but no upsert).
            for part in chunks(batch, size):
                sql = f'COPY "{table}" ({cols}) FROM STDIN'
                async with conn.cursor() as cur, cur.copy(sql) as copy:
                    for d in part:
                        row = row_of(d)
                        await copy.write_row([row[n] for n in names])
                await conn.commit()

        if round_ % 2:  # alternate which goes first
            best_ours = min(best_ours, await timed(ours))
            best_base = min(best_base, await timed(baseline))
        else:
            best_base = min(best_base, await timed(baseline))
            best_ours = min(best_ours, await timed(ours))
        await conn.execute(f'DROP TABLE "{ours_t}", "{base_t}"')
        await conn.commit()
        await sink.aclose()
    report(f"PostgreSQL sink (batch {size})", len(batch), best_ours, best_base)
    await conn.close()


# -- Redis Streams ----------------------------------------------------------------------------


class Best:
    """
    The times of each contender over several rounds, run in rotating order; the best counts,
    the median is shown beside it.
    """

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    async def pair(self, name: str, round_: int, ours: Any, bare: Any, **more: Any) -> None:
        order = [("ours", ours), ("bare", bare), *more.items()]
        shift = round_ % len(order)
        for who, fn in order[shift:] + order[:shift]:
            cpu = time.process_time()
            self.times.setdefault(f"{name}/{who}", []).append(await timed(fn))
            self.cpu.setdefault(f"{name}/{who}", []).append(time.process_time() - cpu)

    def report(self, name: str, n: int, bare: str = "bare", label: str | None = None) -> None:
        ours, base = self.times[f"{name}/ours"], self.times[f"{name}/{bare}"]
        report(label or name, n, min(ours), min(base))
        if len(ours) > 2:  # the median, and this process's CPU time per message (least)
            cpu_ours = min(self.cpu[f"{name}/ours"]) / n * 1e6
            cpu_base = min(self.cpu[f"{name}/{bare}"]) / n * 1e6
            print(
                f"{'  median, CPU per message':<30} {n / statistics.median(ours):>10,.0f}/s"
                f" {cpu_ours:3.0f} us  {n / statistics.median(base):>10,.0f}/s {cpu_base:3.0f} us"
            )


async def bench_redis(batch: list[Delivery], size: int, repeat: int) -> None:
    import redis.asyncio

    from socialplug.sinks.redis import RedisStreamSink
    from socialplug.sources.redis import RedisStreamSource

    client = redis.asyncio.Redis.from_url(REDIS)
    best = Best()
    for round_ in range(repeat):
        ours_s, base_s = f"bench_{uuid.uuid4().hex[:8]}", f"bench_{uuid.uuid4().hex[:8]}"
        sink = RedisStreamSink(ours_s, client=client, maxlen=None)

        async def produce_ours(sink: RedisStreamSink = sink) -> None:
            for part in chunks(batch, size):
                await sink.deliver(part)

        async def produce_bare(stream: str = base_s) -> None:
            for part in chunks(batch, size):
                pipe = client.pipeline(transaction=False)
                for d in part:
                    fields = {
                        "item": dumps({"type": "post", **d.item.to_dict()}),
                        "socialplug-key": d.item.key,
                        "socialplug-delivery-key": d.key,
                        "socialplug-route": d.route,
                    }
                    pipe.xadd(stream, fields)
                await pipe.execute()

        await best.pair("Redis Streams sink", round_, produce_ours, produce_bare)
        source = RedisStreamSource(ours_s, group="g", consumer="c", client=client, batch_size=size)

        async def consume_ours(source: RedisStreamSource = source) -> None:
            n = 0
            async for page in source.pages(None, follow=False):
                n += len(page.posts)
                await source.commit(page.cursor)
            assert n == len(batch), n

        async def consume_bare(stream: str = base_s) -> None:
            await client.xgroup_create(stream, "g", id="0", mkstream=True)
            n = 0
            while True:
                reply = await client.xreadgroup("g", "c", {stream: ">"}, count=size)
                if not reply:
                    break
                ids = []
                for entry_id, fields in reply[0][1]:
                    item_from_dict(loads(fields[b"item"]))  # the same decoding work
                    ids.append(entry_id)
                    n += 1
                await client.xack(stream, "g", *ids)
            assert n == len(batch), n

        await best.pair("Redis Streams source", round_, consume_ours, consume_bare)
        await client.delete(ours_s, base_s)
    best.report("Redis Streams sink", len(batch))
    best.report("Redis Streams source", len(batch))
    await client.aclose()


# -- NATS JetStream ---------------------------------------------------------------------------


async def bench_nats(batch: list[Delivery], size: int, repeat: int) -> None:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

    from socialplug.sinks.nats import NatsJetStreamSink
    from socialplug.sources.nats import NatsJetStreamSource

    nc = await nats.connect(NATS)
    js = nc.jetstream()
    best = Best()
    n_msgs = len(batch)
    for round_ in range(repeat):
        ours_s, base_s = f"bench_{uuid.uuid4().hex[:8]}", f"bench_{uuid.uuid4().hex[:8]}"
        await js.add_stream(StreamConfig(name=ours_s, subjects=[f"{ours_s}.p"]))
        await js.add_stream(StreamConfig(name=base_s, subjects=[f"{base_s}.p"]))
        sink = NatsJetStreamSink(f"{ours_s}.p", client=nc)

        async def produce_ours(sink: NatsJetStreamSink = sink) -> None:
            for part in chunks(batch, size):
                await sink.deliver(part)

        async def produce_bare(stream: str = base_s) -> None:
            for part in chunks(batch, size):
                futures = []
                for d in part:
                    payload = dumps({"type": "post", **d.item.to_dict()})
                    headers = {
                        "Nats-Msg-Id": d.key,
                        "socialplug-key": d.item.key,
                        "socialplug-route": d.route,
                    }
                    futures.append(await js.publish_async(f"{stream}.p", payload, headers=headers))
                for f in futures:
                    await f

        await best.pair("NATS JetStream sink", round_, produce_ours, produce_bare)
        source = NatsJetStreamSource(ours_s, durable="c", client=nc, batch_size=size, idle=0.2)

        async def consume_ours(source: NatsJetStreamSource = source) -> None:
            n = 0
            async for page in source.pages(None, follow=False):
                n += len(page.posts)
                await source.commit(page.cursor)
                if n == n_msgs:
                    break
            assert n == n_msgs, n

        async def consume_fetch(stream: str = base_s) -> None:
            # The nats-py way: fetch a batch, decode it into the posts a pipeline would be
            # handed (kept until the batch is acked, as a page is), ack each message.
            config = ConsumerConfig(durable_name="f", ack_policy=AckPolicy.EXPLICIT)
            sub = await js.pull_subscribe(f"{stream}.p", durable="f", stream=stream, config=config)
            n = 0
            while n < n_msgs:
                msgs = await sub.fetch(size, timeout=1)
                posts = [item_from_dict(loads(m.data)) for m in msgs]
                for m in msgs:
                    await m.ack()
                n += len(posts)
            await nc.flush()
            await sub.unsubscribe()
            assert n == n_msgs, n

        async def consume_pull(stream: str = base_s) -> None:
            # By hand, the way the source reads: pull requests on an inbox, the next one sent
            # before the current batch is decoded and acked, one flush per batch.
            config = ConsumerConfig(
                durable_name="p", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4 * size
            )
            await js.add_consumer(stream, config)
            got: list[Any] = []
            done = asyncio.Event()

            async def on_message(m: Any) -> None:
                if m.data:
                    got.append(m)
                    if len(got) >= size:
                        done.set()
                else:  # a status: the request ended
                    done.set()

            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox, cb=on_message)
            request = json.dumps({"batch": size, "expires": 1_000_000_000, "no_wait": True})
            subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.p"
            await nc.publish(subject, request.encode(), reply=inbox)
            n = 0
            while n < n_msgs:
                await done.wait()
                done.clear()
                msgs, got[:] = got[:], []
                await nc.publish(subject, request.encode(), reply=inbox)
                posts = [item_from_dict(loads(m.data)) for m in msgs]
                for m in msgs:
                    await m.ack()
                await nc.flush()
                n += len(posts)
            await sub.unsubscribe()
            assert n == n_msgs, n

        # Each loop stops once it has read every message (no idle wait at the end).
        await best.pair(
            "NATS JetStream source", round_, consume_ours, consume_fetch, pull=consume_pull
        )
        await js.delete_stream(ours_s)
        await js.delete_stream(base_s)
    best.report("NATS JetStream sink", len(batch))
    best.report("NATS JetStream source", len(batch), label="NATS JetStream source (fetch)")
    best.report("NATS JetStream source", len(batch), "pull", "NATS JetStream source (pull)")
    await nc.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--only", default="pg,redis,nats")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best of each counts")
    args = parser.parse_args()
    batch = make_posts(args.posts)
    only = set(args.only.split(","))
    print(f"{args.posts:,} posts, batches of {args.batch}")
    if "pg" in only:
        await bench_pg(batch, args.batch, args.repeat)
    if "redis" in only:
        await bench_redis(batch, args.batch, args.repeat)
    if "nats" in only:
        await bench_nats(batch, args.batch, args.repeat)


if __name__ == "__main__":
    anyio.run(main)
