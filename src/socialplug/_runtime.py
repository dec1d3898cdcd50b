"""
The engine: moves pages from sources through the stages to the sinks, concurrently, with
bounded channels, and commits each source's cursor only after its pages were handled.

Shape of a run::

    source pumps ──page──▶ process ──chunks──▶ batcher (one per sink) ──batch──▶ deliver
         ▲                                                                         │
         └──────────── cursor committed, in page order, once every delivery ◀──────┘
                       of the page was acknowledged, skipped as a duplicate,
                       or dead-lettered

Every page carries a tracker whose count holds one token for the processing stage plus one
per delivery. A page is complete when the count reaches zero; a source's cursor advances to
the last of its *consecutive* complete pages, so a crash at any moment re-reads at most the
pages that were in flight, and the state store's seen keys (or the sink's own idempotency)
keep the replay from delivering anything twice.

This is the only module that spawns tasks.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import json
import logging
import signal
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._retry import call_with_retry
from .exceptions import (
    DeliveryError,
    FetchError,
    RoutingError,
    SinkError,
    SocialplugError,
    SourceError,
)
from .model import Alert, DeadLetter, Delivery, Item, Malformed, Page, Post, item_to_dict
from .model import delivery_key as _delivery_key


if TYPE_CHECKING:
    from .pipeline import Pipeline, RunReport
    from .typing import Source

__all__ = ["closing", "queue_depths", "replay_dead_letters", "run_pipeline"]

log = logging.getLogger("socialplug.runtime")

T = TypeVar("T")


@contextlib.asynccontextmanager
async def closing(it: AsyncIterator[T], /) -> AsyncIterator[AsyncIterator[T]]:
    """
    Like :func:`contextlib.aclosing`, for any async iterator: close it deterministically if
    it can be closed (async generators can), so ``finally`` blocks in sources run on
    cancellation, not at garbage collection.
    """
    try:
        yield it
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()


@attrs.define(eq=False)
class _SourceState:
    source: Source
    name: str
    queue: deque[_Track] = attrs.Factory(deque)
    lock: anyio.Lock = attrs.Factory(anyio.Lock)
    last_read: str | None = None


@attrs.define(eq=False, slots=True)
class _Track:
    """One page in flight: a processing token plus one per delivery."""

    owner: _SourceState | None
    cursor: str | None
    pending: int = 1
    done: bool = False


_Entry = tuple[Delivery, _Track]


@attrs.define(eq=False)
class _Counters:
    read: int = 0
    kept: int = 0
    filtered: int = 0
    malformed: int = 0
    unrouted: int = 0
    routed: Counter[str] = attrs.Factory(Counter)
    delivered: Counter[str] = attrs.Factory(Counter)
    duplicates: int = 0
    retried: Counter[str] = attrs.Factory(Counter)
    dead_lettered: Counter[str] = attrs.Factory(Counter)
    alerts: int = 0
    pages: int = 0
    commits: int = 0
    errors: list[str] = attrs.Factory(list)


def _page_filters(filters: Sequence[Any]) -> dict[int, Callable[[Sequence[Post]], Any]]:
    """
    The filters that decide whole pages with I/O (``async def filter(posts)``), by id.

    Such a filter must not persist what it saw by itself (``flush=False`` where it takes
    that option): the runtime flushes it once the pages are committed.
    """
    found: dict[int, Callable[[Sequence[Post]], Any]] = {}
    for f in filters:
        method = getattr(f, "filter", None)
        if method is None or not inspect.iscoroutinefunction(method):
            continue
        if "flush" in inspect.signature(method).parameters:
            method = functools.partial(method, flush=False)
        found[id(f)] = method
    return found


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class _Run:
    """The state of one run of one pipeline."""

    def __init__(self, pipeline: Pipeline, *, follow: bool) -> None:
        self.p = pipeline
        self.follow = follow
        self.store = pipeline.state
        self.clock = pipeline.clock
        self.c = _Counters()
        self.route_of = pipeline.route_of()
        self.filters = tuple(pipeline.filters)
        self.transforms = tuple(pipeline.transforms)
        self.detectors = tuple(pipeline.detectors)
        self.sources = [_SourceState(source=s, name=s.name) for s in pipeline.sources]
        self._targets: dict[str, tuple[str, ...]] = {}
        self._page_filters = _page_filters(self.filters)
        self._sink_sends: dict[str, MemoryObjectSendStream[list[_Entry]]] = {}
        self._page_send: MemoryObjectSendStream[tuple[_Track, Page]] | None = None
        self._source_scope = anyio.CancelScope()
        self._work_scope = anyio.CancelScope()
        self.stopped_by = "end"

    # -- routing ------------------------------------------------------------------------

    def _targets_of(self, route: str) -> tuple[str, ...]:
        found = self._targets.get(route)
        if found is None:
            found = tuple(self.p.targets(route))
            for sink in found:
                if sink not in self.p.sinks:
                    known = ", ".join(sorted(self.p.sinks)) or "none"
                    msg = (
                        f"route {route!r} targets sink {sink!r}, which is not configured ({known})"
                    )
                    raise RoutingError(msg, target=sink)
            self._targets[route] = found
        return found

    def _fan(
        self,
        item: Item,
        routes: Iterable[str],
        track: _Track,
        out: dict[str, list[_Entry]],
    ) -> None:
        routed = self.c.routed
        key = item.key
        for route in routes:
            routed[route] += 1
            for sink in self._targets_of(route):
                delivery = Delivery(
                    item=item, route=route, sink=sink, key=_delivery_key(route, sink, key)
                )
                entries = out.get(sink)
                if entries is None:
                    out[sink] = [(delivery, track)]
                else:
                    entries.append((delivery, track))
                track.pending += 1

    async def _send_out(self, out: dict[str, list[_Entry]]) -> None:
        for sink, entries in out.items():
            await self._sink_sends[sink].send(entries)

    # -- acknowledgement and commit -----------------------------------------------------

    async def _ack(self, track: _Track, count: int = 1) -> None:
        track.pending -= count
        if track.pending == 0:
            track.done = True
            owner = track.owner
            if owner is not None:
                await self._commit(owner)

    async def _commit(self, st: _SourceState) -> None:
        async with st.lock:
            cursors: list[str] = []
            queue = st.queue
            while queue and queue[0].done:
                track = queue.popleft()
                if track.cursor is not None:
                    cursors.append(track.cursor)
            if not cursors:
                return
            with anyio.CancelScope(shield=True):
                await self.store.set_cursor(st.name, cursors[-1])
                self.c.commits += 1
                commit = getattr(st.source, "commit", None)
                if commit is not None:
                    # Every page's cursor, in order: a broker source acknowledges the
                    # messages each one names (the last alone would leave the others).
                    for cursor in cursors:
                        await commit(cursor)
                await self._flush_stateful()

    # -- dead letters -------------------------------------------------------------------

    async def _dead_letter_malformed(self, items: Sequence[Malformed], origin: str) -> None:
        now = self.clock.now()
        await self.store.add_dead_letters(
            [
                DeadLetter(
                    kind="malformed",
                    origin=m.source or origin,
                    reason=m.reason,
                    payload=m.payload,
                    created_at=now,
                )
                for m in items
            ]
        )
        self.c.malformed += len(items)
        log.warning("%s: skipped %d malformed item(s): %s", origin, len(items), items[0].reason)

    async def _dead_letter_post(self, post: Post, origin: str, reason: str) -> None:
        letter = DeadLetter(
            kind="malformed",
            origin=origin,
            reason=reason,
            payload=json.dumps(item_to_dict(post), ensure_ascii=False),
            created_at=self.clock.now(),
        )
        await self.store.add_dead_letters([letter])
        self.c.malformed += 1
        self.c.errors.append(f"{origin}: {reason}")
        log.error("%s: %s (post %s dead-lettered)", origin, reason, post.key)

    # -- stages -------------------------------------------------------------------------

    async def _pump(
        self, st: _SourceState, send: MemoryObjectSendStream[tuple[_Track, Page]]
    ) -> None:
        cursor = await self.store.get_cursor(st.name)
        failures = 0
        while True:
            try:
                async with closing(st.source.pages(cursor, follow=self.follow)) as pages:
                    async for page in pages:
                        failures = 0
                        track = _Track(st, page.cursor)
                        st.queue.append(track)
                        self.c.pages += 1
                        self.c.read += len(page.posts)
                        try:
                            if page.malformed:
                                await self._dead_letter_malformed(page.malformed, st.name)
                            await send.send((track, page))
                        except BaseException:
                            st.queue.remove(track)
                            raise
                        if page.cursor is not None:
                            st.last_read = cursor = page.cursor
                return
            except SourceError as exc:
                self.c.errors.append(f"{st.name}: {exc}")
                log.error("source %s failed: %s", st.name, exc)
                retryable = isinstance(exc, FetchError) and exc.retryable
                if not (self.follow and retryable):
                    return
                failures += 1
                delay = min(300.0, 2.0 ** min(failures, 8))
                log.info("restarting source %s in %.0fs", st.name, delay)
                await self.clock.sleep(delay)
                cursor = st.last_read if st.last_read is not None else cursor

    async def _sources(self, send: MemoryObjectSendStream[tuple[_Track, Page]]) -> None:
        async with send:
            with self._source_scope:
                async with anyio.create_task_group() as tg:
                    for st in self.sources:
                        tg.start_soon(self._pump, st, send, name=f"source:{st.name}")
                    if self.follow and self.detectors:
                        tg.start_soon(self._ticker, name="detectors:tick")

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(self.p.tick_interval)
            await self._tick_once()

    async def _tick_once(self) -> None:
        now = self.clock.now()
        track = _Track(None, None)
        out: dict[str, list[_Entry]] = {}
        for detector in self.detectors:
            for alert in await detector.tick(now):
                self._route_alert(alert, track, out)
        await self._send_out(out)
        await self._ack(track)

    def _route_alert(self, alert: Alert, track: _Track, out: dict[str, list[_Entry]]) -> None:
        self.c.alerts += 1
        routes = tuple(self.route_of(alert))
        if routes:
            self._fan(alert, routes, track, out)
        else:
            self.c.unrouted += 1

    async def _process(self, receive: MemoryObjectReceiveStream[tuple[_Track, Page]]) -> None:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(receive)
            for send in self._sink_sends.values():
                stack.push_async_callback(send.aclose)
            async for track, page in receive:
                out: dict[str, list[_Entry]] = {}
                posts: Sequence[Post] = page.posts
                if self._page_filters:
                    posts = await self._filter_page(posts)
                await self._process_posts(posts, track, out)
                await self._send_out(out)
                await self._ack(track)
            if not self.follow and self.detectors and self.stopped_by == "end":
                # One last tick once every page was processed, so digests and resolutions
                # that are due include the last posts.
                await self._tick_once()

    async def _filter_page(self, posts: Sequence[Post]) -> Sequence[Post]:
        """
        Apply the filters to a whole page, in order: used when a filter decides pages at
        once with I/O (``async def filter(posts)``, e.g. a dedupe asking the state store).
        """
        c = self.c
        for keep in self.filters:
            before = len(posts)
            page_filter = self._page_filters.get(id(keep))
            if page_filter is not None:
                posts = await page_filter(posts)
            else:
                kept: list[Post] = []
                for post in posts:
                    try:
                        if keep(post):
                            kept.append(post)
                    except SocialplugError:
                        raise
                    except Exception as exc:
                        before -= 1
                        await self._dead_letter_post(post, post.source or "pipeline", _reason(exc))
                posts = kept
            c.filtered += before - len(posts)
        return posts

    async def _process_posts(
        self, posts: Sequence[Post], track: _Track, out: dict[str, list[_Entry]]
    ) -> None:
        """
        Filters, transforms, routing and detectors for the posts of one page.

        One loop for the page (not a coroutine per post): this is the hot path.
        """
        c = self.c
        filters = () if self._page_filters else self.filters
        transforms = self.transforms
        route_of = self.route_of
        detectors = self.detectors
        for original in posts:
            post: Post | None = original
            try:
                for keep in filters:
                    if not keep(original):
                        post = None
                        break
                for transform in transforms:
                    if post is None:
                        break
                    result = transform(post)
                    if result is not None and not isinstance(result, Post):
                        result = await result
                    post = result
            except SocialplugError:
                raise
            except Exception as exc:
                await self._dead_letter_post(original, original.source or "pipeline", _reason(exc))
                continue
            if post is None:
                c.filtered += 1
                continue
            c.kept += 1
            routes = tuple(route_of(post))
            if not routes:
                c.unrouted += 1
                continue
            if detectors:
                post = post.annotate(routes=list(routes))
            self._fan(post, routes, track, out)
            for detector in detectors:
                for alert in await detector.observe(post):
                    self._route_alert(alert, track, out)

    async def _batcher(self, name: str, receive: MemoryObjectReceiveStream[list[_Entry]]) -> None:
        policy = self.p.policy(name)
        size, wait = policy.batch_size, policy.batch_wait
        limiter = anyio.Semaphore(policy.concurrency)
        async with receive, anyio.create_task_group() as tg:

            async def dispatch(batch: list[_Entry]) -> None:
                await limiter.acquire()
                tg.start_soon(self._deliver, name, batch, limiter)

            buf: list[_Entry] = []
            ended = False
            while not ended:
                if not buf:
                    try:
                        buf.extend(await receive.receive())
                    except anyio.EndOfStream:
                        break
                    deadline = anyio.current_time() + wait
                while len(buf) >= size:
                    await dispatch(buf[:size])
                    del buf[:size]
                if not buf:
                    continue
                with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                    try:
                        buf.extend(await receive.receive())
                        continue
                    except anyio.EndOfStream:
                        ended = True
                await dispatch(buf)
                buf = []
            if buf:
                await dispatch(buf)

    async def _deliver(self, name: str, entries: list[_Entry], limiter: anyio.Semaphore) -> None:
        try:
            await self._deliver_batch(name, entries)
        finally:
            limiter.release()

    async def _deliver_batch(self, name: str, entries: list[_Entry]) -> None:
        sink = self.p.sinks[name]
        policy = self.p.policy(name)
        idempotent = bool(getattr(sink, "idempotent", False))
        if not idempotent:
            seen = await self.store.seen([d.key for d, _ in entries])
            if seen:
                fresh = [e for e in entries if e[0].key not in seen]
                self.c.duplicates += len(entries) - len(fresh)
                await self._ack_all([e for e in entries if e[0].key in seen])
                entries = fresh
        if not entries:
            return
        batch = [d for d, _ in entries]
        attempts = 1

        def on_retry(exc: BaseException, delay: float) -> None:
            nonlocal attempts
            attempts += 1
            self.c.retried[name] += 1
            log.warning("sink %s: retrying in %.2fs after %s", name, delay, _reason(exc))

        try:
            await call_with_retry(
                policy.retry,
                lambda: sink.deliver(batch),
                sleep=self.clock.sleep,
                on_retry=on_retry,
            )
        except Exception as exc:
            if isinstance(exc, SinkError) and exc.sink is None:
                exc.sink = name
            done = set(exc.delivered) if isinstance(exc, DeliveryError) else set()
            accepted = [d for d in batch if d.key in done]
            if accepted:  # the sink says these got through: never dead-letter them
                if not idempotent:
                    await self.store.mark_seen([d.key for d in accepted], ttl=policy.seen_ttl)
                self.c.delivered[name] += len(accepted)
                batch = [d for d in batch if d.key not in done]
            await self._dead_letter_batch(name, batch, exc, attempts)
        else:
            if not idempotent:
                await self.store.mark_seen([d.key for d in batch], ttl=policy.seen_ttl)
            self.c.delivered[name] += len(batch)
        await self._ack_all(entries)

    async def _ack_all(self, entries: Sequence[_Entry]) -> None:
        """Acknowledge *entries*: once per page with its count, pages in first-seen order."""
        counts: dict[_Track, int] = {}
        for _, track in entries:
            counts[track] = counts.get(track, 0) + 1
        for track, count in counts.items():
            await self._ack(track, count)

    async def _dead_letter_batch(
        self, name: str, batch: Sequence[Delivery], exc: BaseException, attempts: int
    ) -> None:
        reason = _reason(exc)
        now = self.clock.now()
        await self.store.add_dead_letters(
            [
                DeadLetter(
                    kind="delivery",
                    origin=name,
                    route=d.route,
                    key=d.key,
                    reason=reason,
                    payload=json.dumps(item_to_dict(d.item), ensure_ascii=False),
                    attempts=attempts,
                    created_at=now,
                )
                for d in batch
            ]
        )
        self.c.dead_lettered[name] += len(batch)
        log.error("sink %s: dead-lettered %d item(s): %s", name, len(batch), reason)

    # -- observation --------------------------------------------------------------------

    def queue_depths(self) -> dict[tuple[str, str], tuple[int, int]]:
        """
        What waits in the bounded channels now, as ``(items, capacity)`` by ``(stage,
        sink)``: ``("process", "")`` holds pages read and not yet processed, ``("sink",
        KEY)`` page-sized chunks of deliveries not yet taken by that sink's batcher. Read
        from the channels' own statistics when asked (a metrics scrape): nothing is counted
        per post.
        """
        found: dict[tuple[str, str], tuple[int, int]] = {}
        channels: list[tuple[tuple[str, str], MemoryObjectSendStream[Any] | None]] = [
            (("process", ""), self._page_send),
            *((("sink", name), send) for name, send in self._sink_sends.items()),
        ]
        for key, send in channels:
            if send is not None:
                stats = send.statistics()
                found[key] = (stats.current_buffer_used, int(stats.max_buffer_size))
        return found

    # -- lifecycle ----------------------------------------------------------------------

    def request_stop(self, why: str) -> None:
        if self.stopped_by == "end":
            self.stopped_by = why
        self._source_scope.cancel()

    async def _watch(self, stop: anyio.Event | None, handle_signals: bool) -> None:  # noqa: FBT001
        async with anyio.create_task_group() as tg:
            if stop is not None:

                async def on_event() -> None:
                    await stop.wait()
                    self.request_stop("stop")
                    tg.cancel_scope.cancel()

                tg.start_soon(on_event)
            if handle_signals and threading.current_thread() is threading.main_thread():

                async def on_signal() -> None:
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        async for signum in signals:
                            self.request_stop(signal.Signals(signum).name)
                            tg.cancel_scope.cancel()
                            return

                tg.start_soon(on_signal)
        # Asked to stop: give in-flight work its deadline, then abandon it (not committed).
        await anyio.sleep(self.p.drain_timeout)
        log.warning(
            "drain deadline of %.0fs passed; abandoning in-flight work", self.p.drain_timeout
        )
        self._work_scope.cancel()

    def _stateful(self) -> list[Any]:
        """Filters and transforms that keep state in the store (``bind``/``flush``)."""
        return [s for s in (*self.filters, *self.transforms) if callable(getattr(s, "bind", None))]

    async def _flush_stateful(self) -> None:
        """
        Persist what stateful filters learned, but only when every page read so far is
        committed: a key saved for a page that is then lost in a crash would make the
        re-read drop that page's posts.
        """
        if any(st.queue for st in self.sources):
            return
        for stage in self._stateful():
            flush = getattr(stage, "flush", None)
            if flush is not None:
                await flush()

    async def run(self, *, stop: anyio.Event | None, handle_signals: bool) -> None:
        for detector in self.detectors:
            await detector.bind(self.store)
        for stage in self._stateful():
            await stage.bind(self.store)
        page_send, page_receive = anyio.create_memory_object_stream[tuple[_Track, Page]](
            self.p.buffer
        )
        self._page_send = page_send
        receivers = {}
        for name in self.p.sinks:
            send, receive = anyio.create_memory_object_stream[list[_Entry]](self.p.buffer)
            self._sink_sends[name], receivers[name] = send, receive
        async with anyio.create_task_group() as outer:
            if stop is not None or handle_signals:
                outer.start_soon(self._watch, stop, handle_signals, name="watch")
            with self._work_scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._process, page_receive, name="process")
                    for name, receive in receivers.items():
                        tg.start_soon(self._batcher, name, receive, name=f"sink:{name}")
                    tg.start_soon(self._sources, page_send, name="sources")
            outer.cancel_scope.cancel()

    def report(self, started: datetime, duration: float) -> RunReport:
        from .pipeline import RunReport  # noqa: PLC0415

        c = self.c
        return RunReport(
            read=c.read,
            kept=c.kept,
            filtered=c.filtered,
            malformed=c.malformed,
            unrouted=c.unrouted,
            routed=dict(c.routed),
            delivered=dict(c.delivered),
            duplicates=c.duplicates,
            retried=dict(c.retried),
            dead_lettered=dict(c.dead_lettered),
            alerts=c.alerts,
            pages=c.pages,
            commits=c.commits,
            errors=tuple(c.errors),
            duration=duration,
            started_at=started,
            stopped_by=self.stopped_by,
        )


async def _close_all(pipeline: Pipeline) -> None:
    with anyio.move_on_after(10.0, shield=True):
        for component in (*pipeline.sources, *pipeline.sinks.values(), pipeline.state):
            aclose: Callable[[], Any] | None = getattr(component, "aclose", None)
            if aclose is None:
                continue
            try:
                await aclose()
            except Exception:
                log.exception("closing %r failed", type(component).__name__)


_frozen_runs = 0
_frozen_lock = threading.Lock()


@contextlib.contextmanager
def _gc_frozen(*, enabled: bool) -> Iterator[None]:
    """
    Move every object that exists before the run (configuration, compiled queries, imported
    modules) out of the cyclic garbage collector's way while the run lasts (``gc.freeze``),
    so its collections scan only what the run allocates; undone when the last run ends.
    """
    global _frozen_runs  # noqa: PLW0603 - one process-wide count of frozen runs
    if not enabled:
        yield
        return
    with _frozen_lock:
        if _frozen_runs == 0:
            gc.freeze()
        _frozen_runs += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_runs -= 1
            if _frozen_runs == 0:
                gc.unfreeze()


#: The runs in progress, for :func:`queue_depths`.
_active_runs: weakref.WeakSet[_Run] = weakref.WeakSet()


def queue_depths(pipeline: Pipeline, /) -> dict[tuple[str, str], tuple[int, int]]:
    """
    The depths of *pipeline*'s bounded channels now (see :meth:`_Run.queue_depths`), summed
    over its runs in progress; every channel reads ``0`` while it is not running.
    """
    depths = {("process", ""): (0, pipeline.buffer)}
    depths.update({("sink", name): (0, pipeline.buffer) for name in pipeline.sinks})
    for run in list(_active_runs):
        if run.p is pipeline:
            for key, (used, capacity) in run.queue_depths().items():
                depths[key] = (depths.get(key, (0, 0))[0] + used, capacity)
    return depths


async def run_pipeline(
    pipeline: Pipeline, *, follow: bool, stop: anyio.Event | None, handle_signals: bool
) -> RunReport:
    """Run *pipeline* once (see :meth:`Pipeline.run`)."""
    run = _Run(pipeline, follow=follow)
    started = pipeline.clock.now()
    t0 = time.perf_counter()
    _active_runs.add(run)
    try:
        with _gc_frozen(enabled=pipeline.freeze_gc):
            await run.run(stop=stop, handle_signals=handle_signals)
    finally:
        _active_runs.discard(run)
        await _close_all(pipeline)
    report = run.report(started, time.perf_counter() - t0)
    log.info("%s: %s", pipeline.name, report.summary())
    return report


async def replay_dead_letters(
    pipeline: Pipeline, *, sink: str | None, limit: int | None
) -> RunReport:
    """Deliver delivery dead letters again (see :meth:`Pipeline.replay_dead_letters`)."""
    run = _Run(pipeline, follow=False)
    started = pipeline.clock.now()
    t0 = time.perf_counter()
    store = pipeline.state
    try:
        letters = [
            letter
            for letter in await store.dead_letters(origin=sink, limit=limit)
            if letter.kind == "delivery" and letter.origin in pipeline.sinks
        ]
        for letter in letters:
            target = pipeline.sinks[letter.origin]
            idempotent = getattr(target, "idempotent", False)
            gone = [letter.id] if letter.id is not None else []
            if not idempotent and letter.key and await store.seen([letter.key]):
                # Delivered since (a re-read page, another replay): sending it again would
                # repeat it.
                await store.remove_dead_letters(gone)
                run.c.duplicates += 1
                continue
            delivery = Delivery(
                item=letter.item(),
                route=letter.route or "",
                sink=letter.origin,
                key=letter.key or "",
            )
            policy = pipeline.policy(letter.origin)
            attempts = 1

            def on_retry(exc: BaseException, delay: float) -> None:
                nonlocal attempts
                attempts += 1

            try:
                await call_with_retry(
                    policy.retry,
                    functools.partial(target.deliver, [delivery]),
                    sleep=pipeline.clock.sleep,
                    on_retry=on_retry,
                )
            except Exception as exc:
                run.c.dead_lettered[letter.origin] += 1
                run.c.errors.append(f"{letter.origin}: {_reason(exc)}")
                # Kept with the attempts added and the latest reason (the new letter first,
                # so that a crash in between leaves two letters, never none).
                await store.add_dead_letters(
                    [
                        attrs.evolve(
                            letter,
                            id=None,
                            reason=_reason(exc),
                            attempts=letter.attempts + attempts,
                        )
                    ]
                )
                await store.remove_dead_letters(gone)
                continue
            if not idempotent and delivery.key:
                await store.mark_seen([delivery.key], ttl=policy.seen_ttl)
            await store.remove_dead_letters(gone)
            run.c.delivered[letter.origin] += 1
    finally:
        await _close_all(pipeline)
    return run.report(started, time.perf_counter() - t0)
