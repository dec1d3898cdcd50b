"""
Conformance checks that third-party sources and sinks run in their own test suites.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from .._runtime import closing
from ..model import Delivery, Page, delivery_key
from ..typing import Sink, Source
from ._kit import make_post


__all__ = ["ConformanceError", "check_sink", "check_source"]


class ConformanceError(AssertionError):
    """A component does not keep the contract; the message says which part."""


def _require(condition: bool, message: str) -> None:  # noqa: FBT001
    if not condition:
        raise ConformanceError(message)


async def _read(source: Source, cursor: str | None, max_pages: int) -> list[Page]:
    pages: list[Page] = []
    async with closing(source.pages(cursor, follow=False)) as it:
        async for page in it:
            _require(
                isinstance(page, Page), f"{source.name}: pages() yielded {page!r}, not a Page"
            )
            pages.append(page)
            if len(pages) >= max_pages:
                break
    return pages


async def check_source(source: Source, *, max_pages: int = 3) -> list[Page]:
    """
    Check that *source* keeps the :class:`~socialplug.typing.Source` contract and return the
    pages it read.

    Checks: a non-empty, stable ``name``; pages of posts with a platform, an id and a key;
    cursors that are JSON-safe text; resuming from a page's cursor does not repeat that
    page's posts; ``aclose()`` is idempotent and not terminal (the source reads again).

    Raises:
        ConformanceError: What is broken.
    """
    name = source.name
    _require(
        bool(name) and name.strip() == name,
        f"source name must be non-empty text without surrounding spaces, got {name!r}",
    )
    _require(source.name == name, f"source name changed between reads: {name!r}")
    pages = await _read(source, None, max_pages)
    first = next((p for p in pages if p.cursor is not None and p.posts), None)
    commit = getattr(source, "commit", None)
    if first is not None and commit is not None:
        # A source that acknowledges in commit() (a broker) resumes from what was
        # acknowledged: acknowledge the first page, as the runtime would once it is handled.
        await commit(first.cursor)
    for page in pages:
        if page.cursor is not None:
            _require(isinstance(page.cursor, str), f"{name}: cursor {page.cursor!r} is not a str")
            json.dumps(page.cursor)
        for post in page.posts:
            _require(
                bool(post.platform and post.id and post.key),
                f"{name}: post without platform/id/key: {post!r}",
            )
            _require(
                post.created_at.utcoffset() is not None, f"{name}: naive created_at in {post.key}"
            )
    await source.aclose()
    await source.aclose()
    again = await _read(source, None, 1)
    _require(
        not pages or bool(again),
        f"{name}: reading after aclose() returned nothing; aclose() must not be terminal",
    )
    if first is not None:
        resumed = await _read(source, first.cursor, max_pages)
        repeated = {p.key for p in first.posts} & {p.key for page in resumed for p in page.posts}
        _require(
            not repeated, f"{name}: resuming from a page's cursor repeated {sorted(repeated)}"
        )
    await source.aclose()
    return pages


async def check_sink(sink: Sink, *, deliveries: Sequence[Delivery] | None = None) -> None:
    """
    Check that *sink* keeps the :class:`~socialplug.typing.Sink` contract.

    Checks: an empty batch is accepted; a batch of posts is accepted; ``aclose()`` is
    idempotent and the sink delivers again after it.

    Raises:
        ConformanceError: What is broken.
    """
    batch = list(deliveries) if deliveries is not None else []
    if not batch:
        for _ in range(3):
            post = make_post()
            batch.append(
                Delivery(
                    item=post,
                    route="check",
                    sink="check",
                    key=delivery_key("check", "check", post.key),
                )
            )
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("an empty batch", lambda: sink.deliver([])),
        ("a batch of posts", lambda: sink.deliver(batch[:1])),
        ("aclose()", sink.aclose),
        ("a second aclose()", sink.aclose),
        ("a batch after aclose()", lambda: sink.deliver(batch[1:])),
        ("aclose() after delivering again", sink.aclose),
    ]
    for what, step in steps:
        try:
            await step()
        except Exception as exc:
            msg = f"{type(sink).__name__} failed on {what}: {type(exc).__name__}: {exc}"
            raise ConformanceError(msg) from exc
