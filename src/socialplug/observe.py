"""
Observability: structured logs with secrets redacted, live statistics of a running pipeline,
Prometheus metrics (the ``metrics`` extra) and ``/healthz``, ``/readyz`` and ``/metrics``
endpoints for a pipeline run as a service.

Live statistics come from wrapping the pipeline's components (:func:`instrument`): sources,
filters, transforms and sinks are wrapped in thin proxies that count what passes through them
and time every delivery, and the state store is wrapped to count dead letters and cursor
commits. The depths of the runtime's bounded channels are read from the runtime itself when
they are asked for (a metrics scrape), never counted per post. The final
:class:`~socialplug.RunReport` stays the authoritative summary of a run.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import attrs

from . import _runtime
from ._miniserver import LoopbackServer, Reply, Request
from .exceptions import DeliveryError, MissingExtraError
from .model import DeadLetter, Delivery, Page, Post
from .pipeline import Pipeline


__all__ = [
    "LATENCY_BUCKETS",
    "JSONFormatter",
    "RedactingFilter",
    "Stats",
    "configure_logging",
    "instrument",
    "prometheus_registry",
    "redact",
    "serve_http",
]

# -- redaction ----------------------------------------------------------------------------

SECRET_PARAMETERS = (
    "access_token",
    "api_key",
    "apikey",
    "app_password",
    "auth",
    "client_secret",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
    "token",
)
_MASK = "***"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer abc / Basic abc / token abc
    (
        re.compile(
            r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?[^\s\"',;]+"
        ),
        r"\1\2 " + _MASK,
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + _MASK),
    # URL userinfo: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+(?::[^/\s@]*)?@"), r"\1" + _MASK + "@"),
    # Secret query parameters and key=value / key: value pairs
    (
        re.compile(
            r"(?i)([?&;\s\"'{,]|^)((?:"
            + "|".join(SECRET_PARAMETERS)
            + r"|[a-z_]*(?:token|secret|password))[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;}]+"
        ),
        r"\1\2" + _MASK,
    ),
    # Slack/Discord-style webhook URL paths carry the secret in the path.
    (
        re.compile(
            r"(?i)(hooks\.slack\.com/services/|discord(?:app)?\.com/api/webhooks/)[^\s\"']+"
        ),
        r"\1" + _MASK,
    ),
)


def redact(text: str, /, *, secrets: Sequence[str] = ()) -> str:
    """
    Return *text* with secrets masked: ``Authorization`` values, bearer tokens, URL userinfo,
    secret query parameters (``token``, ``access_token``, ``api_key``, ``password``...),
    webhook URL paths, and every literal in *secrets*.
    """
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text.replace("  " + _MASK, " " + _MASK)


class RedactingFilter(logging.Filter):
    """
    A logging filter that masks secrets in every record's message and exception text (see
    :func:`redact`); *secrets* adds literal values to mask (e.g. tokens from a config file).
    """

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        record.msg = redact(message, secrets=self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets=self.secrets)
        return True


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` and extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Format *record* as JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(
    *, level: int | str = "INFO", json_lines: bool = False, secrets: Sequence[str] = ()
) -> logging.Handler:
    """
    Send ``socialplug`` logs to stderr (JSON lines with *json_lines*), secrets redacted.

    Returns:
        The handler installed on the ``socialplug`` logger (replacing one installed before).
    """
    logger = logging.getLogger("socialplug")
    for old in [h for h in logger.handlers if getattr(h, "_socialplug", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler()
    handler._socialplug = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(
        JSONFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(level if isinstance(level, int) else level.upper())
    logger.propagate = False
    return handler


# -- live statistics ------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the delivery latency histogram."""


@attrs.define
class _Histogram:
    counts: list[int] = attrs.Factory(lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value
        self.n += 1


@attrs.define
class Stats:
    """
    Counters of a running pipeline, by stage and component; cheap to update, read by the
    progress display, ``/readyz`` and the Prometheus collector.
    """

    pages: Counter[str] = attrs.Factory(Counter)
    read: Counter[str] = attrs.Factory(Counter)
    malformed: Counter[str] = attrs.Factory(Counter)
    source_errors: Counter[str] = attrs.Factory(Counter)
    passed: Counter[str] = attrs.Factory(Counter)
    dropped: Counter[str] = attrs.Factory(Counter)
    delivered: Counter[str] = attrs.Factory(Counter)
    failed: Counter[str] = attrs.Factory(Counter)
    retryable_failures: Counter[str] = attrs.Factory(Counter)
    dead_letters: Counter[str] = attrs.Factory(Counter)
    commits: Counter[str] = attrs.Factory(Counter)
    in_flight: Counter[str] = attrs.Factory(Counter)
    #: Requests to the approval callbacks of reply sinks, by outcome: ``approved``,
    #: ``rejected``, ``refused`` (a bad link token or signature: never acted on), ``conflict``
    #: (already decided otherwise), ``repeated`` (the same decision again), ``not_found``.
    approvals: Counter[str] = attrs.Factory(Counter)
    uncommitted: dict[str, deque[str | None]] = attrs.Factory(dict)
    latency: dict[str, _Histogram] = attrs.Factory(dict)
    newest: dict[str, datetime] = attrs.Factory(dict)
    started: float = attrs.Factory(time.time)
    ready: bool = False
    last_page_at: float | None = None
    _pipelines: list[Pipeline] = attrs.Factory(list)

    def pages_in_flight(self) -> dict[str, int]:
        """Pages read but not yet committed, per source (queued, processed or delivered)."""
        return {name: len(q) for name, q in self.uncommitted.items()}

    def watch(self, pipeline: Pipeline, /) -> None:
        """Report the queue depths of *pipeline*'s runs (:func:`instrument` calls this)."""
        if not any(p is pipeline for p in self._pipelines):
            self._pipelines.append(pipeline)

    def queue_depths(self) -> dict[tuple[str, str], tuple[int, int]]:
        """
        Items waiting in the runtime's bounded channels now, as ``(items, capacity)`` by
        ``(stage, sink)``: ``("process", "")`` counts pages waiting for the processing stage,
        ``("sink", KEY)`` page-sized chunks of deliveries waiting for sink KEY. Read from the
        channels of the watched pipelines' runs when called; ``0`` when they are not running.
        """
        found: dict[tuple[str, str], tuple[int, int]] = {}
        for pipeline in self._pipelines:
            for key, (used, capacity) in _runtime.queue_depths(pipeline).items():
                before = found.get(key, (0, 0))
                found[key] = (before[0] + used, before[1] + capacity)
        return found

    def page_read(self, source: str, cursor: str | None) -> None:
        """Note a page read by *source* (its cursor is committed later)."""
        self.uncommitted.setdefault(source, deque()).append(cursor)

    def committed(self, source: str, cursor: str) -> None:
        """Note that *cursor* of *source* was committed: its page and every earlier one."""
        self.commits[source] += 1
        pending = self.uncommitted.get(source)
        if not pending or cursor not in pending:
            return
        while pending:
            if pending.popleft() == cursor:
                break

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "pages": dict(self.pages),
            "read": dict(self.read),
            "malformed": dict(self.malformed),
            "source_errors": dict(self.source_errors),
            "passed": dict(self.passed),
            "dropped": dict(self.dropped),
            "delivered": dict(self.delivered),
            "failed": dict(self.failed),
            "dead_letters": dict(self.dead_letters),
            "commits": dict(self.commits),
            "in_flight": dict(self.in_flight),
            "approvals": dict(self.approvals),
            "pages_in_flight": self.pages_in_flight(),
            "queue_depth": {
                (f"{stage}:{sink}" if sink else stage): used
                for (stage, sink), (used, _) in sorted(self.queue_depths().items())
            },
            "newest": {k: v.isoformat() for k, v in self.newest.items()},
            "uptime": round(time.time() - self.started, 3),
            "ready": self.ready,
        }


@attrs.define(eq=False)
class _Source:
    inner: Any
    stats: Stats
    on_page: Callable[[str, Page], None] | None = None

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def __getattr__(self, attr: str) -> Any:
        if attr == "commit":
            commit = getattr(self.inner, "commit", None)
            if commit is None:
                raise AttributeError(attr)
            return commit
        return getattr(self.inner, attr)

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        name = self.name
        stats = self.stats
        try:
            async for page in self.inner.pages(cursor, follow=follow):
                stats.pages[name] += 1
                stats.read[name] += len(page.posts)
                stats.malformed[name] += len(page.malformed)
                stats.last_page_at = time.time()
                stats.page_read(name, page.cursor)
                if page.posts:
                    newest = max(p.created_at for p in page.posts)
                    if name not in stats.newest or newest > stats.newest[name]:
                        stats.newest[name] = newest
                if self.on_page is not None:
                    self.on_page(name, page)
                yield page
        except Exception:
            stats.source_errors[name] += 1
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.define(eq=False)
class _Sink:
    inner: Any
    key: str
    stats: Stats

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        stats = self.stats
        key = self.key
        stats.in_flight[key] += len(batch)
        t0 = time.perf_counter()
        try:
            await self.inner.deliver(batch)
        except Exception as exc:
            stats.failed[key] += len(batch)
            if isinstance(exc, DeliveryError) and exc.retryable:
                stats.retryable_failures[key] += len(batch)
            raise
        else:
            stats.delivered[key] += len(batch)
        finally:
            stats.in_flight[key] -= len(batch)
            stats.latency.setdefault(key, _Histogram()).observe(time.perf_counter() - t0)

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.define(eq=False)
class _State:
    inner: Any
    stats: Stats

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    async def add_dead_letters(self, letters: Sequence[DeadLetter], /) -> None:
        await self.inner.add_dead_letters(letters)
        for letter in letters:
            self.stats.dead_letters[letter.origin] += 1

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        await self.inner.set_cursor(source, cursor)
        self.stats.committed(source, cursor)


def _label(obj: Any, index: int, kind: str) -> str:
    text = getattr(obj, "text", None)
    if isinstance(text, str):
        return f"{kind}{index}:query"
    owner = getattr(obj, "__self__", None)
    named = owner if owner is not None else obj
    return f"{kind}{index}:{getattr(named, '__name__', type(named).__name__)}"


def _counted_filter(
    fn: Callable[[Post], bool], label: str, stats: Stats
) -> Callable[[Post], bool]:
    def counted(post: Post, /) -> bool:
        keep = bool(fn(post))
        (stats.passed if keep else stats.dropped)[label] += 1
        return keep

    return counted


def _counted_transform(
    fn: Callable[[Post], Any], label: str, stats: Stats
) -> Callable[[Post], Any]:
    def count(result: Post | None) -> Post | None:
        (stats.passed if result is not None else stats.dropped)[label] += 1
        return result

    async def later(pending: Awaitable[Post | None]) -> Post | None:
        return count(await pending)

    def counted(post: Post, /) -> Any:
        result = fn(post)
        if result is None or isinstance(result, Post):
            return count(result)
        return later(result)

    return counted


def instrument(
    pipeline: Pipeline,
    stats: Stats,
    /,
    *,
    on_page: Callable[[str, Page], None] | None = None,
) -> Pipeline:
    """
    Return a copy of *pipeline* whose components update *stats* as they work; *on_page* is
    called with each source page (for progress displays).
    """
    instrumented = attrs.evolve(
        pipeline,
        sources=[_Source(s, stats, on_page) for s in pipeline.sources],
        sinks={k: _Sink(s, k, stats) for k, s in pipeline.sinks.items()},
        filters=[
            _counted_filter(f, _label(f, i, "filter"), stats)
            for i, f in enumerate(pipeline.filters)
        ],
        transforms=[
            _counted_transform(t, _label(t, i, "transform"), stats)
            for i, t in enumerate(pipeline.transforms)
        ],
        state=_State(pipeline.state, stats),
    )
    stats.watch(instrumented)
    return instrumented


# -- Prometheus ---------------------------------------------------------------------------


def prometheus_registry(stats: Stats, /) -> Any:
    """
    A ``prometheus_client`` registry exposing *stats* (needs the ``metrics`` extra).

    Metrics: ``socialplug_source_pages_total``, ``socialplug_posts_read_total``,
    ``socialplug_malformed_total``, ``socialplug_source_errors_total`` (by ``source``);
    ``socialplug_stage_passed_total`` / ``socialplug_stage_dropped_total`` (by ``stage``);
    ``socialplug_delivered_total``, ``socialplug_delivery_failures_total``,
    ``socialplug_delivery_retryable_failures_total`` (retries), ``socialplug_in_flight``
    (deliveries being sent) and the histogram
    ``socialplug_delivery_seconds`` (by ``sink``); ``socialplug_dead_letters_total`` (by
    ``origin``); ``socialplug_commits_total`` and ``socialplug_pages_in_flight`` (pages read
    and not yet committed; by ``source``); ``socialplug_queue_depth`` and
    ``socialplug_queue_capacity`` (what waits in each bounded channel of the runtime, and its
    bound, by ``stage`` and ``sink``: ``stage="process"`` counts pages, ``stage="sink"``
    page-sized chunks of deliveries); ``socialplug_approval_requests_total`` (requests to
    the approval callbacks, by ``outcome``); ``socialplug_up``.

    Raises:
        MissingExtraError: prometheus-client is not installed.
    """
    try:
        from prometheus_client import CollectorRegistry  # noqa: PLC0415
        from prometheus_client.core import (  # noqa: PLC0415
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
    except ImportError as exc:
        raise MissingExtraError("prometheus-client", extra="metrics") from exc

    def counters(name: str, doc: str, label: str, values: Mapping[str, int]) -> Any:
        family = CounterMetricFamily(f"socialplug_{name}", doc, labels=[label])
        for key, value in sorted(values.items()):
            family.add_metric([key], value)
        return family

    class Collector:
        def collect(self) -> Any:
            s = stats
            yield GaugeMetricFamily("socialplug_up", "1 while the pipeline runs", value=1)
            yield counters("source_pages", "Pages read", "source", s.pages)
            yield counters("posts_read", "Posts read", "source", s.read)
            yield counters("malformed", "Undecodable items", "source", s.malformed)
            yield counters("source_errors", "Source failures", "source", s.source_errors)
            yield counters("stage_passed", "Posts a stage kept", "stage", s.passed)
            yield counters("stage_dropped", "Posts a stage dropped", "stage", s.dropped)
            yield counters("delivered", "Deliveries acknowledged", "sink", s.delivered)
            yield counters("delivery_failures", "Failed delivery attempts", "sink", s.failed)
            yield counters(
                "delivery_retryable_failures",
                "Failed attempts that will be retried",
                "sink",
                s.retryable_failures,
            )
            yield counters("dead_letters", "Dead letters written", "origin", s.dead_letters)
            yield counters("commits", "Cursor commits", "source", s.commits)
            yield counters(
                "approval_requests",
                "Requests to the approval callbacks of reply sinks",
                "outcome",
                s.approvals,
            )
            gauge = GaugeMetricFamily(
                "socialplug_in_flight", "Deliveries being sent", labels=["sink"]
            )
            for key, value in sorted(s.in_flight.items()):
                gauge.add_metric([key], value)
            yield gauge
            pages = GaugeMetricFamily(
                "socialplug_pages_in_flight",
                "Pages read and not yet committed (queued or being delivered)",
                labels=["source"],
            )
            for key, value in sorted(s.pages_in_flight().items()):
                pages.add_metric([key], value)
            yield pages
            depth = GaugeMetricFamily(
                "socialplug_queue_depth",
                "Items waiting in a bounded channel of the runtime (pages for the process "
                "stage, page-sized chunks of deliveries for a sink)",
                labels=["stage", "sink"],
            )
            capacity = GaugeMetricFamily(
                "socialplug_queue_capacity",
                "The bound of that channel",
                labels=["stage", "sink"],
            )
            for labels, (used, limit) in sorted(s.queue_depths().items()):
                depth.add_metric(list(labels), used)
                capacity.add_metric(list(labels), limit)
            yield depth
            yield capacity
            hist = HistogramMetricFamily(
                "socialplug_delivery_seconds", "Delivery latency", labels=["sink"]
            )
            for key, h in sorted(s.latency.items()):
                cumulative, buckets = 0, []
                for bound, count in zip((*LATENCY_BUCKETS, float("inf")), h.counts, strict=True):
                    cumulative += count
                    buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
                hist.add_metric([key], buckets, h.total)
            yield hist

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return registry


# -- HTTP endpoints -----------------------------------------------------------------------


_PATHS = frozenset({"/healthz", "/readyz", "/stats", "/metrics"})


async def serve_http(
    host: str,
    port: int,
    stats: Stats,
    /,
    *,
    handler: Callable[[Request], Awaitable[Reply]] | None = None,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """
    Serve ``/healthz`` (the process is up), ``/readyz`` (the pipeline has started its
    sources; 503 before), ``/metrics`` (Prometheus text, with the ``metrics`` extra) and
    ``/stats`` (JSON) on *host*:*port* until cancelled. *handler* answers every other path
    (``socialplug run`` serves the approval links of reply sinks with it). Reports the bound
    port through *task_status* (pass port 0 for any free port).
    """
    registry: Any = None
    with contextlib.suppress(MissingExtraError):
        registry = prometheus_registry(stats)

    async def respond(request: Request) -> Reply:
        if handler is not None and request.path not in _PATHS:
            return await handler(request)
        status, ctype, body = _respond(request.path, stats, registry)
        return Reply(status=status, body=body, headers={"Content-Type": ctype})

    async with LoopbackServer(respond, host=host, port=port, timeout=30.0) as server:
        task_status.started(server.port)
        await anyio.sleep_forever()


def _respond(path: str, stats: Stats, registry: Any) -> tuple[int, str, bytes]:
    text = "text/plain; charset=utf-8"
    if path == "/healthz":
        return 200, text, b"ok\n"
    if path == "/readyz":
        if stats.ready:
            return 200, text, b"ready\n"
        return 503, text, b"starting\n"
    if path == "/stats":
        return 200, "application/json", json.dumps(stats.snapshot()).encode()
    if path == "/metrics":
        if registry is None:
            body = b"prometheus-client is not installed: pip install 'socialplug[metrics]'\n"
            return 501, text, body
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)
    return 404, text, b"not found\n"
