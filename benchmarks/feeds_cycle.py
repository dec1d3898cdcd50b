"""
Feeds benchmark: 1,000 feeds on a loopback server, polled in one cycle, then a second cycle
in which every feed answers 304.

Targets: first cycle <= 3 s with <= 50 MB extra memory; second cycle <= 1/5 of the first.
The baseline is plain concurrent GETs of the same URLs with one httpx client (no parsing, no
state), in the same run. The source polls with ``parse_workers`` worker processes (default:
one fewer than the cores); the feed server runs in a process of its own. The memory and CPU
time of the worker processes are reported apart.

    python benchmarks/feeds_cycle.py [--feeds 1000] [--items 10] [--parse-workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import socket
import sys
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _feed(n: int, items: int) -> bytes:
    entries = "".join(
        f"<item><title>Feed {n} item {i}: delays on line {i % 7}</title>"
        f'<link>/feeds/{n}/items/{i}</link><guid isPermaLink="false">f{n}-i{i}</guid>'
        f"<pubDate>Wed, 25 Nov 2026 {i % 24:02d}:{n % 60:02d}:00 GMT</pubDate>"
        f'<description>&lt;p&gt;Passengers report &lt;a href="/status/{i}"&gt;delays&lt;/a&gt; '
        f"at station {i} of feed {n}.&lt;/p&gt;</description></item>"
        for i in range(items, 0, -1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>/feeds/{n}</link>{entries}</channel></rss>"
    ).encode()


def _serve(port: int, feeds: int, items: int, ready: multiprocessing.synchronize.Event) -> None:
    bodies = {f"/feeds/{n}.xml": _feed(n, items) for n in range(feeds)}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = bodies.get(path)
                etag = f'"{path}-v1"'
                if body is None:
                    out = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
                elif headers.get("if-none-match") == etag:
                    out = f"HTTP/1.1 304 Not Modified\r\netag: {etag}\r\n\r\n".encode()
                else:
                    out = (
                        f"HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\netag: {etag}\r\n"
                        f"content-length: {len(body)}\r\n\r\n"
                    ).encode() + body
                writer.write(out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _rss_mb(pid: int | str = "self") -> tuple[float, float]:
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(exclude: int) -> list[int]:
    """Live child processes of this one (worker processes), the feed server excluded."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[1]) == me and pid != exclude:
            found.append(pid)
    return found


async def _run(port: int, feeds: int, per_host: int, workers: int, server: int) -> None:
    import httpx

    from socialplug.sources.feeds import FeedsSource

    urls = [f"http://127.0.0.1:{port}/feeds/{n}.xml" for n in range(feeds)]

    # Baseline: bare concurrent GETs, same concurrency, no parsing.
    limits = httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host)
    async with httpx.AsyncClient(limits=limits) as client:
        sem = asyncio.Semaphore(per_host)

        async def get(url: str) -> int:
            async with sem:
                return len((await client.get(url)).content)

        t0 = time.perf_counter()
        await asyncio.gather(*(get(u) for u in urls))
        baseline = time.perf_counter() - t0

    rss0, _ = _rss_mb()
    source = FeedsSource(urls=urls, per_host=per_host, concurrency=32, parse_workers=workers)
    sampling, total_peak = threading.Event(), [0.0]

    def sample() -> None:
        # The memory of all processes together: this one's extra RSS and the workers' PSS
        # (their share of the pages they have in common with others), at its highest. Ten
        # times a second; the worker processes are looked for once a second.
        kids: list[int] = []
        for n in itertools.count():
            if sampling.wait(0.1):
                return
            if n % 10 == 0:
                kids = _children(exclude=server)
            try:
                now = _rss_mb()[0] - rss0 + sum(_pss_mb(k) for k in kids)
            except OSError:
                continue
            total_peak[0] = max(total_peak[0], now)

    sampler = threading.Thread(target=sample, daemon=True)
    if workers:
        sampler.start()
    t0, c0, s0 = time.perf_counter(), time.process_time(), _cpu_s(server)
    posts = 0
    cursor = None
    async for page in source.pages(None, follow=False):
        posts += len(page.posts)
        cursor = page.cursor
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    sampling.set()
    if workers:
        sampler.join()
    first_server = _cpu_s(server) - s0
    _, peak = _rss_mb()
    kids = _children(exclude=server)
    kids_cpu = sum(_cpu_s(k) for k in kids)
    kids_hwm = sum(_rss_mb(k)[1] for k in kids)
    kids_pss = sum(_pss_mb(k) for k in kids)
    t0, c0, s0 = time.perf_counter(), time.process_time(), _cpu_s(server)
    k0 = sum(_cpu_s(k) for k in kids)
    again = 0
    async for page in source.pages(cursor, follow=False):
        again += len(page.posts)
    second, second_cpu = time.perf_counter() - t0, time.process_time() - c0
    second_server = _cpu_s(server) - s0
    second_kids = sum(_cpu_s(k) for k in kids) - k0
    await source.aclose()

    print(
        f"feeds: {feeds}, parse_workers: {workers}, posts first cycle: {posts}, "
        f"posts second cycle: {again}"
    )
    print(f"baseline bare GETs:      {baseline:6.3f} s")
    print(
        f"first cycle (200+parse): {first:6.3f} s  (target <= 3 s; {first / baseline:.1f}x baseline)"
    )
    print(
        f"second cycle (all 304):  {second:6.3f} s  (target <= {first / 5:.3f} s; ratio {second / first:.3f})"
    )
    print(
        f"memory: RSS before {rss0:.1f} MB, peak {peak:.1f} MB, extra {peak - rss0:.1f} MB (target <= 50 MB)"
    )
    if kids:
        print(
            f"worker processes: {len(kids)}, peak RSS {kids_hwm:.1f} MB, "
            f"PSS after the first cycle {kids_pss:.1f} MB"
        )
        print(
            f"memory with the workers: extra {peak - rss0 + kids_pss:.1f} MB (extra RSS + "
            f"workers' PSS after the cycle), {total_peak[0]:.1f} MB at the highest sampled "
            f"during it (target <= 50 MB)"
        )
    print(f"cursor size: {len(cursor or '') / 1024:.0f} KiB")
    print(
        f"CPU time: this process first {first_cpu:.3f} s, second {second_cpu:.3f} s; "
        f"workers first {kids_cpu:.3f} s, second {second_kids:.3f} s; "
        f"feed server first {first_server:.3f} s, second {second_server:.3f} s"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--parse-workers", type=int, default=max(0, (os.cpu_count() or 1) - 1))
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(
        target=_serve, args=(port, args.feeds, args.items, ready), daemon=True
    )
    proc.start()
    ready.wait(10)
    try:
        asyncio.run(_run(port, args.feeds, args.per_host, args.parse_workers, proc.pid or 0))
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
