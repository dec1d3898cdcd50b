"""
Blocking entry points for notebooks, scripts and ETL jobs.

Each function runs the async implementation on a private event loop in a worker thread
(anyio's blocking portal), so it works in a plain script, in a worker thread, and inside a
running event loop such as Jupyter's. Ctrl-C stops cleanly: a following run drains and
commits what completed; a one-shot read is cancelled.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import anyio
import anyio.from_thread

from ._runtime import closing
from .model import Post
from .pipeline import Pipeline, RunReport
from .typing import Source


__all__ = ["collect", "iter_posts", "run", "run_once"]

T = TypeVar("T")


def _block_on(fn: Callable[[], Awaitable[T]], /, *, timeout: float | None) -> T:
    async def bounded() -> T:
        with anyio.fail_after(timeout):
            return await fn()

    with anyio.from_thread.start_blocking_portal() as portal:
        return portal.call(bounded)


def run_once(pipeline: Pipeline, *, timeout: float | None = None) -> RunReport:
    """
    Blocking twin of :meth:`Pipeline.run_once`: read everything new, deliver, commit.

    Raises:
        TimeoutError: *timeout* seconds passed first (nothing unfinished is committed).
    """
    return _block_on(pipeline.run_once, timeout=timeout)


def run(pipeline: Pipeline, *, timeout: float | None = None) -> RunReport:
    """
    Blocking twin of :meth:`Pipeline.run` (following): runs until Ctrl-C or *timeout*,
    then drains, commits what completed and returns the report.
    """
    with anyio.from_thread.start_blocking_portal() as portal:
        stop = portal.call(anyio.Event)

        async def go() -> RunReport:
            async with anyio.create_task_group() as tg:
                if timeout is not None:

                    async def deadline() -> None:
                        await anyio.sleep(timeout)
                        stop.set()

                    tg.start_soon(deadline)
                report = await pipeline.run(follow=True, stop=stop)
                tg.cancel_scope.cancel()
            return report

        future = portal.start_task_soon(go)
        with _stop_on_ctrl_c(lambda: portal.start_task_soon(_set, stop)):
            try:
                return future.result()
            except KeyboardInterrupt:  # no handler of ours (not the main thread), or a 2nd
                portal.call(stop.set)
                return future.result()


async def _set(event: anyio.Event) -> None:
    event.set()


@contextlib.contextmanager
def _stop_on_ctrl_c(stop: Callable[[], object]) -> Iterator[None]:
    """
    In the main thread, with Python's own SIGINT handler in place: a first Ctrl-C calls
    *stop* (instead of raising KeyboardInterrupt wherever the main thread happens to be),
    a second one raises KeyboardInterrupt as usual.
    """
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stop()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def collect(
    source: Source, *, limit: int | None = None, timeout: float | None = 60.0
) -> list[Post]:
    """
    Read up to *limit* posts from *source* (everything there is with ``None``), from the
    beginning, and close it. Handy in notebooks.
    """

    async def go() -> list[Post]:
        posts: list[Post] = []
        try:
            async with closing(source.pages(None, follow=False)) as pages:
                async for page in pages:
                    posts.extend(page.posts)
                    if limit is not None and len(posts) >= limit:
                        break
        finally:
            await source.aclose()
        return posts if limit is None else posts[:limit]

    return _block_on(go, timeout=timeout)


def iter_posts(
    source: Source, *, limit: int | None = None, follow: bool = False
) -> Iterator[Post]:
    """
    Iterate a source synchronously, from the beginning; the private loop stays open while
    you iterate and closes (closing the source) when you stop.
    """
    with anyio.from_thread.start_blocking_portal() as portal:
        pages = source.pages(None, follow=follow)
        seen = 0
        try:
            while limit is None or seen < limit:
                try:
                    page = portal.call(pages.__anext__)
                except StopAsyncIteration:
                    return
                for post in page.posts:
                    if limit is not None and seen >= limit:
                        return
                    seen += 1
                    yield post
        finally:
            aclose = getattr(pages, "aclose", None)
            if aclose is not None:
                portal.call(aclose)
            portal.call(source.aclose)
