"""Helpers for the data and event-bus sink tests: service checks, posts, deliveries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from socialplug.model import Alert, Author, Delivery, Engagement, Media, Post, delivery_key


SERVICES = {
    "postgres": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "mqtt": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
}


def skip_or_fail(reason: str) -> None:
    """Skip with *reason*; in CI (``CI=true``) fail instead, since CI must run everything."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require(service: str) -> None:
    """Skip (or fail in CI) unless *service* accepts TCP connections on loopback."""
    host, port = SERVICES[service]
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError:
        skip_or_fail(f"{service} is not running on {host}:{port}")


T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def make_post(i: int = 0, **overrides: object) -> Post:
    """A realistic post, numbered *i*, with non-ASCII text, nesting and annotations."""
    fields: dict[str, object] = {
        "platform": "mastodon",
        "id": f"1130{i:06d}",
        "key": f"mastodon:https://example.social/@rail/1130{i:06d}",
        "text": f"Zug {i} steckt im Tunnel fest — again 🚆 #bahn",
        "created_at": T0 + timedelta(seconds=i),
        "author": Author(id=f"a{i % 7}", handle=f"rider{i % 7}@example.social", name="Rider"),
        "url": f"https://example.social/@rail/1130{i:06d}",
        "lang": "de",
        "engagement": Engagement(likes=i % 5, reposts=1, replies=None),
        "tags": ("bahn",),
        "media": (Media(url="https://example.social/m.jpg", alt="Tunnel"),),
        "raw": {"id": f"1130{i:06d}", "nested": {"ok": True}},
        "annotations": {"sentiment": {"label": "negative", "score": -0.8}, "matched": ["rail"]},
        "source": "test",
    }
    fields.update(overrides)
    return Post(**fields)  # type: ignore[arg-type]


def deliveries(
    posts: list[Post] | list[Alert], *, route: str = "ops", sink: str = "db"
) -> list[Delivery]:
    """Wrap *posts* into deliveries with real idempotency keys."""
    return [
        Delivery(item=p, route=route, sink=sink, key=delivery_key(route, sink, p.key))
        for p in posts
    ]


CONSUMER = Path(__file__).with_name("_bus_consume.py")


def run_consumer(
    broker: str, config: dict[str, object], record: Path, expected: int, hang_after: int | None
) -> subprocess.Popen[bytes]:
    """Start the consumer process of the crash tests (see ``_bus_consume.py``)."""
    args = [sys.executable, str(CONSUMER), broker, json.dumps(config), str(record), str(expected)]
    if hang_after is not None:
        args.append(str(hang_after))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll *predicate* until it holds; fail the test after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def crash_and_resume(
    broker: str,
    first: dict[str, object],
    second: dict[str, object],
    keys: list[str],
    tmp_path: Path,
    *,
    hang_after: int = 2,
    timeout: float = 45,
) -> list[str]:
    """
    Consume *keys* in a process that is killed while a page is handled but not committed,
    then in a fresh process with *second*'s configuration; return every key recorded, in
    order, with repeats. Fails if a key is missing.
    """
    record = tmp_path / "record.txt"
    hung = Path(str(record) + ".hung")
    proc = run_consumer(broker, first, record, len(keys), hang_after)
    try:
        wait_for(lambda: hung.exists() or proc.poll() is not None, timeout=timeout, what="hang")
        if proc.poll() is not None:
            pytest.fail(f"first consumer exited early: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    before = record.read_text().splitlines()
    proc = run_consumer(broker, second, record, len(keys), None)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        got = set(record.read_text().splitlines())
        pytest.fail(
            f"second consumer hung; missing {len(set(keys) - got)}: {err.decode()[-2000:]}"
        )
    assert proc.returncode == 0, err.decode()[-2000:]
    recorded = record.read_text().splitlines()
    committed = Path(str(record) + ".committed").read_text().splitlines()
    assert set(keys) == set(recorded), f"lost: {sorted(set(keys) - set(recorded))[:5]}"
    assert set(keys) == set(committed), f"never acknowledged: {set(keys) - set(committed)}"
    assert len(before) >= int(hung.read_text())
    return recorded


WORKER = Path(__file__).with_name("_bus_worker.py")


def pipeline_crash(
    broker: str,
    config: dict[str, object],
    keys: list[str],
    tmp_path: Path,
    *,
    kill_after: int,
    timeout: float = 60,
) -> tuple[list[str], dict[str, object]]:
    """
    Run a real pipeline (bus source -> recording sink, SQLite state) in a process, SIGKILL it
    once *kill_after* keys were delivered, run a fresh one until every key was delivered;
    return every recorded key (with repeats) and the second run's report.
    """
    record, state = tmp_path / "delivered.txt", tmp_path / "state.db"

    def start(delay: float) -> subprocess.Popen[bytes]:
        args = [sys.executable, str(WORKER), broker, json.dumps(config), str(record)]
        args += [str(state), str(len(keys)), str(delay)]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def delivered() -> int:
        return len(record.read_text().splitlines()) if record.exists() else 0

    first = start(0.05)
    try:
        wait_for(
            lambda: delivered() >= kill_after or first.poll() is not None,
            timeout=timeout,
            what=f"{kill_after} deliveries",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        _, err = first.communicate()
    assert first.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert delivered() < len(keys), "the first worker finished before it was killed"
    second = start(0.0)
    try:
        out, err = second.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        second.kill()
        _, err = second.communicate()
        pytest.fail(f"second worker did not finish: {err.decode()[-2000:]}")
    assert second.returncode == 0, err.decode()[-3000:]
    recorded = record.read_text().splitlines()
    assert set(keys) == set(recorded), f"lost: {sorted(set(keys) - set(recorded))[:5]}"
    return recorded, json.loads(out.decode().strip().splitlines()[-1])
