"""Approved replies posted to Bluesky's own ``@atproto/dev-env`` PDS, exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from socialplug.model import Author, Delivery, Post, delivery_key
from socialplug.sinks.replies import ApprovalQueue, BlueskyReplier, ReplySink, publish_approved
from socialplug.state import MemoryStateStore


pytestmark = [pytest.mark.anyio, pytest.mark.peers]


def _account(pds: str, name: str) -> dict[str, Any]:
    handle = f"{name}{uuid.uuid4().hex[:6]}.test"
    password = f"pw-{name}-123"
    answer = httpx.post(
        f"{pds}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "email": f"{handle}@example.test", "password": password},
        timeout=30,
    )
    answer.raise_for_status()
    return {**answer.json(), "password": password}


def _post(pds: str, who: dict[str, Any], text: str) -> dict[str, Any]:
    record = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    answer = httpx.post(
        f"{pds}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {who['accessJwt']}"},
        json={"repo": who["did"], "collection": "app.bsky.feed.post", "record": record},
        timeout=30,
    )
    answer.raise_for_status()
    return dict(answer.json())


async def test_approved_reply_is_threaded_and_posted_once(bluesky_peer: dict[str, str]) -> None:
    pds = bluesky_peer["pds"]
    customer, brand = _account(pds, "rider"), _account(pds, "acmerail")
    parent = _post(pds, customer, "Still waiting at the platform")
    queue = ApprovalQueue(MemoryStateStore())
    post = Post(
        platform="bluesky", id=parent["uri"], text="Still waiting at the platform",
        created_at=datetime.now(UTC), author=Author(id=customer["did"], handle=customer["handle"]),
    )  # fmt: skip
    sink = ReplySink(queue, lambda item: "Sorry! A replacement bus leaves at 8:30.")
    await sink.deliver(
        [
            Delivery(
                item=post, route="r", sink="replies", key=delivery_key("r", "replies", post.key)
            )
        ]
    )
    (draft,) = await queue.pending()
    assert draft.text == "Sorry! A replacement bus leaves at 8:30."  # no @handle on Bluesky
    await queue.approve(draft.id, by="dana")
    replier = BlueskyReplier(pds, brand["handle"], brand["password"])
    (done,) = await publish_approved(queue, [replier])
    assert done.status == "posted"
    assert done.posted_id is not None
    again = await replier.post(done)  # a crash before the outcome was recorded: same record
    await replier.aclose()
    assert again.id == done.posted_id
    repo, collection, rkey = done.posted_id.removeprefix("at://").split("/", 2)
    async with httpx.AsyncClient(base_url=pds) as http:
        record = (
            await http.get(
                "/xrpc/com.atproto.repo.getRecord",
                params={"repo": repo, "collection": collection, "rkey": rkey},
            )
        ).json()
        listing = (
            await http.get(
                "/xrpc/com.atproto.repo.listRecords",
                params={"repo": brand["did"], "collection": "app.bsky.feed.post"},
            )
        ).json()
    assert record["value"]["reply"]["parent"]["uri"] == parent["uri"]
    assert record["value"]["reply"]["root"]["uri"] == parent["uri"]  # the parent is a root
    assert len(listing["records"]) == 1  # posted once
