"""
Observability: secrets redacted from logs, JSON log lines, live stats, Prometheus text, and
the health endpoints.
"""

from __future__ import annotations

import json
import logging

import anyio
import httpx
import pytest

from socialplug import Pipeline
from socialplug.exceptions import DeliveryError
from socialplug.observe import (
    JSONFormatter,
    RedactingFilter,
    Stats,
    configure_logging,
    instrument,
    prometheus_registry,
    redact,
    serve_http,
)
from socialplug.sinks import MemorySink
from socialplug.testing import StaticSource, make_post


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdefghijkl123", "abcdefghijkl123"),
        ('headers={"Authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz"),
        ("GET https://alice:pa55word@mastodon.example/api", "pa55word"),
        ("GET https://mastodon.example/api?access_token=tok123&limit=40", "tok123"),
        ("POST https://x.example/hook?api_key=K3Y&x=1", "K3Y"),
        ("login failed: password=hunter2", "hunter2"),
        ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "XXXXSECRET"),
    ],
)
def test_redact_masks_secrets(text, secret):
    masked = redact(text)
    assert secret not in masked
    assert "***" in masked


def test_redact_keeps_ordinary_text_and_literal_secrets():
    assert (
        redact("delivered 30 posts to support in 0.2s") == "delivered 30 posts to support in 0.2s"
    )
    assert "limit=40" in redact("https://m.example/api?access_token=t0k&limit=40")
    assert (
        redact("the value s3cr3t-v4lue leaked", secrets=["s3cr3t-v4lue"]) == "the value *** leaked"
    )


@pytest.fixture
def restore_logging():
    logger = logging.getLogger("socialplug")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_json_logs_are_redacted(capsys, restore_logging):
    configure_logging(level="INFO", json_lines=True, secrets=["my-app-password"])
    log = logging.getLogger("socialplug.test")
    log.info("fetching %s", "https://a.example/?token=abc123", extra={"source": "masto"})
    log.warning("login with my-app-password failed")
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "fetching https://a.example/?token=***"
    assert lines[0]["source"] == "masto"
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "socialplug.test"
    assert "my-app-password" not in lines[1]["message"]


def test_redacting_filter_covers_exception_text():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise RuntimeError("Authorization: Bearer sekrit-token-value")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert "sekrit-token-value" not in (record.exc_text or "")
    out = JSONFormatter().format(record)
    assert "sekrit-token-value" not in out


class Flaky:
    """Fails once (retryable), then works."""

    def __init__(self) -> None:
        self.calls = 0
        self.inner = MemorySink()

    async def deliver(self, batch):
        self.calls += 1
        if self.calls == 1:
            raise DeliveryError("busy", retryable=True)
        await self.inner.deliver(batch)

    async def aclose(self):
        pass


@pytest.mark.anyio
async def test_instrument_counts_stages_and_latency():
    from socialplug import RetryPolicy, SinkPolicy
    from socialplug.filters import where

    posts = [make_post(text=f"post {i}") for i in range(10)]
    stats = Stats()
    flaky = Flaky()
    pipeline = Pipeline(
        sources=[StaticSource(posts, page_size=4, name="static")],
        sinks={"out": flaky},
        filters=[where(lambda p: not p.text.endswith("3"))],
        policies={"out": SinkPolicy(retry=RetryPolicy(attempts=3, wait_initial=0, wait_jitter=0))},
    )
    report = await instrument(pipeline, stats).run_once()
    assert report.delivered == {"out": 9}
    assert stats.read == {"static": 10}
    assert stats.pages["static"] == 3
    assert sum(stats.passed.values()) == 9
    assert sum(stats.dropped.values()) == 1
    assert stats.delivered["out"] == 9
    assert stats.retryable_failures["out"] >= 1
    assert stats.commits["static"] >= 1
    assert stats.pages_in_flight() == {"static": 0}  # every page read was committed
    assert stats.latency["out"].n == flaky.calls
    text = _prometheus_text(stats)
    assert 'socialplug_posts_read_total{source="static"} 10.0' in text
    assert 'socialplug_delivered_total{sink="out"} 9.0' in text
    assert "socialplug_delivery_retryable_failures_total" in text
    assert 'socialplug_delivery_seconds_count{sink="out"}' in text
    assert 'socialplug_pages_in_flight{source="static"} 0.0' in text


def test_pages_in_flight_follow_commits():
    stats = Stats()
    for cursor in ("1", None, "3", "4"):
        stats.page_read("s", cursor)
    assert stats.pages_in_flight() == {"s": 4}
    stats.committed("s", "3")  # the commit covers the pages before it
    assert stats.pages_in_flight() == {"s": 1}
    stats.committed("s", "unknown")
    assert stats.pages_in_flight() == {"s": 1}
    stats.committed("s", "4")
    assert stats.pages_in_flight() == {"s": 0}


def _prometheus_text(stats: Stats) -> str:
    from prometheus_client import generate_latest

    return generate_latest(prometheus_registry(stats)).decode()


@pytest.mark.anyio
async def test_health_endpoints():
    stats = Stats()
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_http, "127.0.0.1", 0, stats)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 503
            stats.ready = True
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/stats")).json()["ready"] is True
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "socialplug_up 1.0" in metrics.text
        tg.cancel_scope.cancel()


class HeldSink:
    """A sink that holds every delivery until it is let go: the slowest sink there is."""

    def __init__(self) -> None:
        self.go = anyio.Event()
        self.delivered = 0

    async def deliver(self, batch):
        await self.go.wait()
        self.delivered += len(batch)

    async def aclose(self):
        pass


class EndlessSource:
    """*pages* one-post pages, then quiet until the run stops (a followed source)."""

    name = "endless"

    def __init__(self, pages: int) -> None:
        self.count = pages

    async def pages(self, cursor, /, *, follow):
        from socialplug.model import Page

        for i in range(self.count):
            yield Page(posts=[make_post(text=f"post {i}")], cursor=str(i))
        await anyio.sleep_forever()

    async def aclose(self):
        pass


def _gauges(text: str, name: str) -> dict[tuple[str, str], float]:
    """``{(stage, sink): value}`` of a ``socialplug_queue_*`` gauge in Prometheus text."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            pairs = dict(part.split("=", 1) for part in labels.split(","))
            found[pairs["stage"].strip('"'), pairs["sink"].strip('"')] = float(value)
    return found


@pytest.mark.anyio
async def test_queue_depth_is_read_from_the_runtime_channels():
    """A held sink fills the bounded channels to their bound, which /metrics shows; once the
    sink catches up they read 0 again, while the pipeline still runs."""
    from socialplug import SinkPolicy

    stats = Stats()
    sink = HeldSink()
    pipeline = Pipeline(
        sources=[EndlessSource(20)],
        sinks={"held": sink, "quick": MemorySink()},
        policies={
            "held": SinkPolicy(batch_size=1, batch_wait=0, concurrency=1),
            "quick": SinkPolicy(batch_wait=0),
        },
        buffer=3,
    )
    running = instrument(pipeline, stats)
    stop = anyio.Event()
    reports = []

    async def run() -> None:
        reports.append(await running.run(stop=stop))

    full = {("process", ""): 3.0, ("sink", "held"): 3.0, ("sink", "quick"): 0.0}
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_http, "127.0.0.1", 0, stats)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
            anyio.create_task_group() as runs,
        ):
            runs.start_soon(run)
            await anyio.wait_all_tasks_blocked()  # the held sink has backed everything up
            metrics = (await client.get("/metrics")).text
            # Each channel is at its bound: 3 pages wait for the process stage, 3 chunks for
            # the held sink (one more is in its batcher's hand, one being delivered).
            assert _gauges(metrics, "socialplug_queue_depth") == full
            assert _gauges(metrics, "socialplug_queue_capacity") == dict.fromkeys(full, 3.0)
            assert (await client.get("/stats")).json()["queue_depth"] == {
                "process": 3,
                "sink:held": 3,
                "sink:quick": 0,
            }

            sink.go.set()
            await anyio.wait_all_tasks_blocked()  # drained: the source waits for more
            assert sink.delivered == 20
            assert stats.pages_in_flight() == {"endless": 0}
            metrics = (await client.get("/metrics")).text
            assert _gauges(metrics, "socialplug_queue_depth") == dict.fromkeys(full, 0.0)
            stop.set()
        tg.cancel_scope.cancel()
    assert reports[0].delivered == {"held": 20, "quick": 20}
    assert stats.queue_depths() == dict.fromkeys(full, (0, 3))  # not running: all 0
