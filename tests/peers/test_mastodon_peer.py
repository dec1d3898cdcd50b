"""
socialplug's Mastodon source against ``mastodon_mock``, a third-party imitation of the
Mastodon client API: statuses posted through its REST API are read back through hashtag
timelines, notifications, v2 search and the streaming API, and a restart resumes from the
committed cursor.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from socialplug.exceptions import AuthenticationError
from socialplug.model import Page
from socialplug.sources.mastodon import MastodonSource, Timeline


pytestmark = [pytest.mark.peers, pytest.mark.anyio]

SINCE = datetime.now(UTC) - timedelta(hours=1)


def post_status(base: str, token: str, text: str) -> dict:
    response = httpx.post(
        f"{base}/api/v1/statuses",
        data={"status": text, "visibility": "public"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


async def read(source: MastodonSource, cursor: str | None = None) -> list[Page]:
    try:
        return [page async for page in source.pages(cursor, follow=False)]
    finally:
        await source.aclose()


def texts(pages: list[Page]) -> list[str]:
    return [p.text for page in pages for p in page.posts]


async def test_hashtag_timeline_and_resume_after_restart(mastodon_peer):
    tag = f"sp{uuid.uuid4().hex[:8]}"
    for i in range(5):
        post_status(mastodon_peer, "alice_token", f"first {i} #{tag}")

    def source() -> MastodonSource:
        return MastodonSource(
            servers=mastodon_peer, timelines=Timeline.tag(tag), since=SINCE, page_size=2
        )

    pages = await read(source())
    assert [f"first {i} #{tag}" for i in range(5)] == texts(pages)
    posts = [p for page in pages for p in page.posts]
    assert all(p.tags == (tag,) for p in posts)
    assert all(p.author.handle.startswith("alice@") for p in posts)
    cursor = pages[-1].cursor

    post_status(mastodon_peer, "bob_token", f"second #{tag}")
    resumed = await read(source(), cursor)  # a new source object: a restarted process

    assert [f"second #{tag}"] == texts(resumed)
    assert texts(await read(source(), resumed[-1].cursor)) == []


async def test_mentions_through_notifications_and_search(mastodon_peer):
    word = f"w{uuid.uuid4().hex[:8]}"
    status = post_status(mastodon_peer, "alice_token", f"@bob are trains late? {word}")
    notifications = MastodonSource(
        servers=mastodon_peer,
        timelines=Timeline.notifications(["mention"]),
        token="bob_token",
        since=SINCE,
    )
    search = MastodonSource(
        servers=mastodon_peer, timelines=Timeline.search(word), token="alice_token"
    )

    mentioned = [p for page in await read(notifications) for p in page.posts]
    found = [p for page in await read(search) for p in page.posts]

    assert status["id"] in [p.id for p in mentioned]
    assert all(p.annotations["notification"] == "mention" for p in mentioned)
    assert [status["id"]] == [p.id for p in found]


async def test_streaming_hashtag(mastodon_peer):
    tag = f"st{uuid.uuid4().hex[:8]}"
    post_status(mastodon_peer, "alice_token", f"before #{tag}")
    source = MastodonSource(
        servers=mastodon_peer, timelines=Timeline.tag(tag), token="alice_token", since=SINCE
    )
    got: list[str] = []

    async def consume() -> None:
        async for page in source.pages(None, follow=True):
            got.extend(p.text for p in page.posts)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        with anyio.fail_after(15):
            while not got:  # noqa: ASYNC110 - polling a test server
                await anyio.sleep(0.05)
            await anyio.sleep(0.5)  # the stream is open once the catch-up is done
            await anyio.to_thread.run_sync(post_status, mastodon_peer, "bob_token", f"live #{tag}")
            while len(got) < 2:  # noqa: ASYNC110 - polling a test server
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    await source.aclose()

    assert [f"before #{tag}", f"live #{tag}"] == got


async def test_bad_token_is_an_authentication_error(mastodon_peer):
    source = MastodonSource(servers=mastodon_peer, timelines=Timeline.home(), token="nope-secret")

    with pytest.raises(AuthenticationError) as ei:
        await read(source)

    assert "nope-secret" not in str(ei.value)
