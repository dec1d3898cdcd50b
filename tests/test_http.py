"""
HTTP plumbing: the retry policy and loop, Retry-After parsing, response classification for
sources and sinks, secrets kept out of messages, and the shared request budget.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from socialplug import ManualClock, MemoryStateStore, Pipeline, RetryPolicy, SinkPolicy
from socialplug._http import (
    delivery_error,
    fetch_error,
    retry_after,
    transport_delivery_error,
    transport_fetch_error,
)
from socialplug._pacing import Budget, budget_for
from socialplug._retry import call_with_retry, is_retryable, parse_retry_after
from socialplug.exceptions import (
    AuthenticationError,
    DeliveryError,
    FetchError,
    RateLimitedError,
)
from socialplug.testing import FailingSink, StaticSource, make_post


pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-t0k3n"
NOW = 1_800_000_000.0


def response(
    status: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> httpx.Response:
    request = httpx.Request("POST", f"https://hooks.example/services/T0/B0?token={SECRET}")
    return httpx.Response(status, headers=headers, content=body, request=request)


class Sleeps:
    """An injected sleep recording the delays."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class TestParseRetryAfter:
    def test_seconds(self):
        """Delta seconds, decimals and surrounding spaces parse; negatives clamp to zero."""
        assert parse_retry_after("120") == 120.0
        assert parse_retry_after(" 1.5 ") == 1.5
        assert parse_retry_after("-3") == 0.0

    def test_http_date(self):
        """An HTTP date becomes the seconds from now until then; a past date is zero."""
        when = email.utils.formatdate(NOW + 90, usegmt=True)
        assert parse_retry_after(when, now=NOW) == pytest.approx(90.0)
        past = email.utils.formatdate(NOW - 90, usegmt=True)
        assert parse_retry_after(past, now=NOW) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "Mon, 99 Foo 2026"])
    def test_absent_or_bad(self, value):
        """Missing or unparseable values give None, never an exception."""
        assert parse_retry_after(value) is None


class TestRetryAfterOfResponse:
    def test_prefers_retry_after(self):
        """Retry-After wins over the rate-limit reset headers."""
        r = response(429, {"Retry-After": "5", "X-RateLimit-Reset": "60"})
        assert retry_after(r) == 5.0

    def test_reset_delta_and_epoch(self):
        """A reset header is delta seconds when small, epoch seconds when large."""
        assert retry_after(response(429, {"RateLimit-Reset": "42"})) == 42.0
        epoch = str(int(time.time()) + 100)
        assert retry_after(response(429, {"x-rate-limit-reset": epoch})) == pytest.approx(
            100, abs=2
        )

    def test_reset_as_iso_timestamp(self):
        """Mastodon sends X-RateLimit-Reset as an ISO 8601 time; it counts too."""
        reset = (datetime.now(UTC) + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
        assert retry_after(response(429, {"X-RateLimit-Reset": reset})) == pytest.approx(60, abs=2)

    def test_nothing_said(self):
        """No header, no delay."""
        assert retry_after(response(503)) is None


class TestRetrying:
    async def test_honours_retry_after_then_succeeds(self):
        """A retryable failure with retry_after waits exactly that long, then retries."""
        sleeps = Sleeps()
        failures = [DeliveryError("busy", retryable=True, retry_after=7.0)]

        async def attempt() -> str:
            if failures:
                raise failures.pop()
            return "ok"

        policy = RetryPolicy(attempts=3, wait_jitter=0.0)
        assert await call_with_retry(policy, attempt, sleep=sleeps) == "ok"
        assert sleeps.delays == [7.0]

    async def test_retry_after_is_capped(self):
        """A Retry-After beyond max_retry_after waits only max_retry_after."""
        sleeps = Sleeps()
        calls = 0

        async def attempt() -> None:
            nonlocal calls
            calls += 1
            raise RateLimitedError("slow down", source="s", retry_after=3600.0)

        policy = RetryPolicy(attempts=3, max_retry_after=10.0, timeout=None)
        with pytest.raises(RateLimitedError):
            await call_with_retry(policy, attempt, sleep=sleeps)
        assert (calls, sleeps.delays) == (3, [10.0, 10.0])

    async def test_exponential_backoff_capped_at_wait_max(self):
        """Without Retry-After the waits double from wait_initial up to wait_max."""
        sleeps = Sleeps()
        told: list[float] = []

        async def attempt() -> None:
            raise FetchError("down", source="s", retryable=True)

        policy = RetryPolicy(
            attempts=6, wait_initial=1.0, wait_max=5.0, wait_jitter=0.0, timeout=None
        )
        with pytest.raises(FetchError):
            await call_with_retry(
                policy, attempt, sleep=sleeps, on_retry=lambda exc, delay: told.append(delay)
            )
        assert sleeps.delays == [1.0, 2.0, 4.0, 5.0, 5.0]
        assert told == sleeps.delays

    async def test_exhausted_retries_are_counted_once_each(self):
        """A sink failing every attempt is retried attempts-1 times; the report and the
        dead letter count real attempts, not the wait computed for the last one."""
        clock = ManualClock()
        store = MemoryStateStore()
        sink = FailingSink(times=None)
        policy = RetryPolicy(attempts=3, wait_jitter=0.0, timeout=None)
        pipeline = Pipeline(
            sources=[StaticSource([make_post()])],
            sinks={"s": sink},
            state=store,
            clock=clock,
            policies={"s": SinkPolicy(batch_wait=0, retry=policy)},
        )
        report = await pipeline.run_once()
        (letter,) = await store.dead_letters()

        assert sink.calls == 3
        assert len(clock.sleeps) == 2
        assert dict(report.retried) == {"s": 2}
        assert letter.attempts == 3

    async def test_jitter_stays_within_bounds(self):
        """Jitter adds between zero and wait_jitter seconds."""
        sleeps = Sleeps()

        async def attempt() -> None:
            raise FetchError("down", source="s", retryable=True)

        policy = RetryPolicy(attempts=20, wait_initial=1.0, wait_max=1.0, wait_jitter=0.5)
        with pytest.raises(FetchError):
            await call_with_retry(policy, attempt, sleep=sleeps)
        assert all(1.0 <= d <= 1.5 for d in sleeps.delays)
        assert len(set(sleeps.delays)) > 1

    @pytest.mark.parametrize(
        "error",
        [
            DeliveryError("bad request", retryable=False),
            FetchError("gone", source="s", retryable=False),
            AuthenticationError("no", source="s", status_code=401),
            ValueError("a bug"),
        ],
    )
    async def test_only_retryable_errors_are_retried(self, error):
        """Permanent failures and foreign exceptions are raised at once, not retried."""
        sleeps = Sleeps()
        calls = 0

        async def attempt() -> None:
            nonlocal calls
            calls += 1
            raise error

        with pytest.raises(type(error)):
            await call_with_retry(RetryPolicy(), attempt, sleep=sleeps)
        assert (calls, sleeps.delays) == (1, [])
        assert not is_retryable(error)

    async def test_disabled_policy_tries_once(self):
        """RetryPolicy.disabled() makes one attempt even for retryable failures."""
        calls = 0

        async def attempt() -> None:
            nonlocal calls
            calls += 1
            raise DeliveryError("busy", retryable=True)

        with pytest.raises(DeliveryError):
            await call_with_retry(RetryPolicy.disabled(), attempt, sleep=Sleeps())
        assert calls == 1


class TestDeliveryError:
    @pytest.mark.parametrize(
        ("status", "retryable"),
        [(408, True), (409, True), (425, True), (429, True), (500, True), (502, True),
         (503, True), (400, False), (401, False), (403, False), (404, False), (422, False)],
    )  # fmt: skip
    def test_classification(self, status, retryable):
        """408, 409, 425, 429 and 5xx are retryable; other 4xx are permanent."""
        err = delivery_error(response(status, {"Retry-After": "3"}), what="Slack webhook")
        assert (err.retryable, err.status_code) == (retryable, status)
        assert err.retry_after == (3.0 if retryable else None)
        assert str(err).startswith(f"Slack webhook answered HTTP {status}")

    def test_body_snippet_is_short_and_single_line(self):
        """The message carries at most 200 characters of the body, on one line."""
        err = delivery_error(response(400, body=b"line one\nline two" + b"x" * 500), what="API")
        assert "line one line two" in str(err)
        assert "\n" not in str(err)
        assert len(str(err)) < 250


class TestFetchError:
    def test_rate_limited(self):
        """429 becomes RateLimitedError with the advertised delay."""
        err = fetch_error(
            response(429, {"Retry-After": "30"}), source="m", server="social.example"
        )
        assert isinstance(err, RateLimitedError)
        assert (err.retryable, err.retry_after, err.source) == (True, 30.0, "m")

    @pytest.mark.parametrize("status", [401, 403])
    def test_authentication(self, status):
        """401 and 403 are AuthenticationError, never retried."""
        err = fetch_error(response(status), source="m", server="social.example")
        assert isinstance(err, AuthenticationError)
        assert not err.retryable

    @pytest.mark.parametrize(
        ("status", "retryable"),
        [(408, True), (425, True), (500, True), (503, True), (400, False), (404, False),
         (409, False), (410, False)],
    )  # fmt: skip
    def test_classification(self, status, retryable):
        """408, 425 and 5xx are retryable for a source; other 4xx are not."""
        err = fetch_error(response(status), source="m", server="social.example")
        assert type(err) is FetchError
        assert (err.retryable, err.status_code) == (retryable, status)
        assert str(err) == f"m: social.example answered HTTP {status}"


class TestNoSecretsInMessages:
    @pytest.mark.parametrize("status", [400, 401, 429, 500])
    def test_response_errors(self, status):
        """Neither a source's nor a sink's error names the URL's query token."""
        r = response(status, {"Retry-After": "1"})
        for err in (
            delivery_error(r, what="webhook"),
            fetch_error(r, source="m", server="hooks.example"),
        ):
            assert SECRET not in str(err)
            assert SECRET not in repr(err)

    def test_transport_errors(self):
        """Connect errors whose text holds the URL are reduced to their type name."""
        exc = httpx.ConnectError(f"cannot reach https://hooks.example/?token={SECRET}")
        sink_err = transport_delivery_error(exc, what="webhook")
        source_err = transport_fetch_error(exc, source="m", server="hooks.example")

        assert str(sink_err) == "webhook: ConnectError"
        assert sink_err.retryable
        assert str(source_err) == "m: hooks.example: ConnectError"
        assert source_err.retryable


class FakeTime:
    """A monotonic clock and a sleep that advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TestBudget:
    async def test_burst_then_steady_rate(self):
        """Up to capacity requests go at once; then one every 1/rate seconds."""
        t = FakeTime()
        budget = Budget(rate=2.0, capacity=3.0, clock=t.clock, sleep=t.sleep)
        for _ in range(5):
            await budget.acquire()
        assert t.sleeps == [0.5, 0.5]

    async def test_waits_until_reset_once_exhausted(self):
        """When the server says nothing is left, the next request waits for the reset."""
        t = FakeTime()
        budget = Budget(rate=100.0, capacity=100.0, clock=t.clock, sleep=t.sleep)
        await budget.acquire()
        budget.observe({"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "30"})
        await budget.acquire()

        assert t.sleeps == [pytest.approx(30.0)]
        await budget.acquire()  # the hold is over
        assert len(t.sleeps) == 1 or t.sleeps[1] < 0.1

    async def test_waits_after_429_retry_after(self):
        """A 429 with Retry-After holds every user of the budget for that long."""
        t = FakeTime()
        budget = Budget(clock=t.clock, sleep=t.sleep)
        budget.observe({"Retry-After": "12"}, status=429)
        await budget.acquire()
        assert t.sleeps == [pytest.approx(12.0)]

    async def test_waits_until_an_iso_reset(self):
        """Mastodon's ISO 8601 X-RateLimit-Reset holds the budget until that time."""
        t = FakeTime()
        budget = Budget(clock=t.clock, sleep=t.sleep)
        reset = (datetime.now(UTC) + timedelta(seconds=45)).isoformat().replace("+00:00", "Z")
        budget.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
        await budget.acquire()
        assert t.sleeps == [pytest.approx(45.0, abs=2)]

    async def test_remaining_budget_is_not_a_hold(self):
        """A response saying budget remains does not make anyone wait."""
        t = FakeTime()
        budget = Budget(clock=t.clock, sleep=t.sleep)
        budget.observe({"x-ratelimit-remaining": "250", "x-ratelimit-reset": "300"})
        await budget.acquire()
        assert t.sleeps == []

    def test_shared_per_host_and_credential_without_storing_it(self):
        """One budget per (host, credential); the credential itself is not kept."""
        a = budget_for("shared.example", SECRET)
        assert budget_for("shared.example", SECRET) is a
        assert budget_for("shared.example", "other") is not a
        assert budget_for("elsewhere.example", SECRET) is not a

        from socialplug import _pacing

        assert SECRET not in repr(list(_pacing._budgets))
