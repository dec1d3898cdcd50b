"""Replies with approval posted to a real Mastodon API stand-in (mastodon_mock) on loopback."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from socialplug.model import Author, Delivery, Post, delivery_key
from socialplug.sinks.replies import ApprovalQueue, ApprovalServer, MastodonReplier, ReplySink
from socialplug.state import MemoryStateStore


pytestmark = [pytest.mark.anyio, pytest.mark.peers]

SECRET = "approval-secret-0123"


def _compose(item: Any) -> str | None:
    return "We know, trains are being rerouted. Updates on status.example.com"


def make_post(n: int, *, id: str, url: str) -> Post:
    return Post(
        platform="mastodon",
        id=id,
        text="My train is stuck",
        url=url,
        created_at=datetime(2026, 11, 26, 12, tzinfo=UTC),
        author=Author(handle="bob", name="Bob"),
    )


def deliveries(*posts: Post) -> list[Delivery]:
    return [
        Delivery(item=p, route="r", sink="replies", key=delivery_key("r", "replies", p.key))
        for p in posts
    ]


async def test_callback_approves_and_posts_exactly_once(mastodon_peer: str) -> None:
    store = MemoryStateStore()
    queue = ApprovalQueue(store)
    async with httpx.AsyncClient() as http:
        original = (
            await http.post(
                f"{mastodon_peer}/api/v1/statuses",
                json={"status": "My train is stuck"},
                headers={"Authorization": "Bearer bob_token"},
            )
        ).json()
        post = make_post(1, id=original["id"], url=original["url"])
        sink = ReplySink(queue, _compose, callback_url="http://unused", secret=SECRET)
        await sink.deliver(deliveries(post))
        (draft,) = await queue.pending()
        replier = MastodonReplier(mastodon_peer, "alice_token")
        async with ApprovalServer(queue, SECRET, repliers=[replier]) as server:
            approve_link, _ = sink.links(draft.id)
            assert approve_link is not None
            path = approve_link.removeprefix("http://unused")
            page = await http.get(server.url + path)
            assert page.status_code == 200
            assert "<form" in page.text
            assert (await queue.get(draft.id)).status == "pending"  # type: ignore[union-attr]
            token = re.search(r'name="token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
            forged = await http.post(
                server.url + path.split("?")[0], data={"token": "0" * 32, "by": "x"}
            )
            assert forged.status_code == 403
            answer = await http.post(
                server.url + path.split("?")[0], data={"token": token, "by": "dana"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "posted"
            again = await http.post(
                server.url + path.split("?")[0], data={"token": token, "by": "dana"}
            )
            # A repeated click is answered, not acted on: nothing is posted twice.
            assert again.status_code == 200, again.text
            assert again.json()["repeated"] is True
        posted = await queue.get(draft.id)
        assert posted is not None
        assert posted.posted_id
        # A crash after posting but before recording: posting again is deduplicated.
        assert (await replier.post(posted)).id == posted.posted_id
        await replier.aclose()
        status = (await http.get(f"{mastodon_peer}/api/v1/statuses/{posted.posted_id}")).json()
    assert status["in_reply_to_id"] == original["id"]
    assert "We know" in status["content"]
    assert [e.action for e in await queue.audit(draft.id)] == ["drafted", "approved", "posted"]
