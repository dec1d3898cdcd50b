"""Replies with human approval: drafts, the callback, the audit trail and exactly-once posting."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from socialplug._miniserver import LoopbackServer, Reply, Request
from socialplug._signing import sign
from socialplug.exceptions import ConfigurationError
from socialplug.sinks.replies import (
    ApprovalQueue,
    ApprovalServer,
    BlueskyReplier,
    Draft,
    MastodonReplier,
    ReplySink,
    ReplyTemplate,
    publish_approved,
    tid_for,
)
from socialplug.sinks.slack import SlackWebhookSink
from socialplug.state import MemoryStateStore
from socialplug.testing.mastodon import MastodonServer
from socialplug.testing.outbound import SlackImitation

from .conftest import deliveries, make_alert, make_post


pytestmark = pytest.mark.anyio

SECRET = "approval-secret-0123"


def _compose(item: Any) -> str | None:
    return "We know, trains are being rerouted. Updates on status.example.com"


async def test_drafts_once_per_delivery_and_notifies_chat() -> None:
    queue = ApprovalQueue(MemoryStateStore())
    batch = deliveries(make_post(1), make_post(2))
    async with SlackImitation() as slack:
        sink = ReplySink(
            queue,
            _compose,
            notify=SlackWebhookSink(slack.webhook_url),
            callback_url="https://ops.example.com/socialplug",
            secret=SECRET,
        )
        await sink.deliver(batch)
        await sink.deliver(batch)  # a replay: no new drafts, no new notices
        await sink.aclose()
    drafts = await queue.pending()
    assert [d.id for d in drafts] == [d.key for d in batch]
    assert drafts[0].text.startswith("@ann@example.social We know")
    assert drafts[0].reply_to == "1"
    assert len(slack.messages) == 2
    text = json.dumps(slack.messages[0])
    assert "Reply awaiting approval" in text
    assert f"/drafts/{drafts[0].id}/approve?token=" in text
    assert SECRET not in text
    assert [e.action for e in await queue.audit(drafts[0].id)] == ["drafted"]


async def test_alert_needs_a_platform() -> None:
    queue = ApprovalQueue(MemoryStateStore())
    sink = ReplySink(queue, _compose)
    with pytest.raises(Exception, match="platform"):
        await sink.deliver(deliveries(make_alert()))
    status = ReplySink(queue, _compose, platform="mastodon")
    await status.deliver(deliveries(make_alert()))
    (draft,) = await queue.pending()
    assert draft.reply_to is None  # a standalone status update to customers


def test_template_renders_post_and_alert_fields() -> None:
    """A template fills the post's (or alert's) fields; what an item lacks renders empty."""
    template = ReplyTemplate(
        "Hi @{author.handle} ({author.name}) at {created_at:%H:%M} on {platform}: "
        "{annotations.sentiment} #{tags} {{ref}} {summary}"
    )
    post = make_post(1, tags=("trains", "delay")).annotate(sentiment="negative")
    assert template(post) == (
        "Hi @ann@example.social (Ann) at 12:00 on mastodon: negative #trains, delay {ref}"
    )
    alert = ReplyTemplate("{severity} {title}: {summary} ({data.count}) {author.handle}")
    assert (
        alert(make_alert())
        == "P1 Spike: trains delayed: 42 posts in 5 minutes mention delays (42)"
    )
    assert ReplyTemplate("{annotations.nothing}  ")(post) is None  # blank: no draft


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hi {autor.handle}", "did you mean {author.handle}"),
        ("Hi {}", "needs a name"),
        ("Hi {text!r}", "drop '!'"),
        ("Hi {text", "invalid reply template"),
        ("Hi {annotations}", "unknown reply template field"),
    ],
)
def test_template_errors_are_found_at_once(text: str, message: str) -> None:
    """A template is checked when it is made, not when the first post arrives."""
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        ReplyTemplate(text)


async def test_from_store_drafts_into_the_store_and_publishes() -> None:
    """The factory of pipeline files: the queue lives in the given store; publish() posts."""
    store = MemoryStateStore()
    with MastodonServer(token="brand-token") as server:
        sink = ReplySink.from_store(
            state=store,
            compose="Sorry {author.name}, we are on it",
            secret=SECRET,
            mastodon=MastodonReplier(server.url, "brand-token"),
        )
        assert SECRET not in repr(sink)
        assert "brand-token" not in repr(sink)
        await sink.deliver(deliveries(make_post(7)))
        (draft,) = await ApprovalQueue(store).pending()
        assert draft.text == "@ann@example.social Sorry Ann, we are on it"
        assert await sink.publish() == []  # nothing approved yet
        await sink.queue.approve(draft.id, by="dana")
        (posted,) = await sink.publish()
        await sink.aclose()
        assert posted.status == "posted"
        status = server.requests[-1].json()
        assert status["in_reply_to_id"] == "7"
    assert await ReplySink.from_store(state=store, compose="x").publish() == []


async def test_decisions_are_final_and_audited() -> None:
    queue = ApprovalQueue(MemoryStateStore())
    await ReplySink(queue, _compose).deliver(deliveries(make_post(1), make_post(2)))
    first, second = await queue.pending()
    await queue.approve(first.id, by="dana", text="Edited reply")
    await queue.reject(second.id, by="eli", reason="off-topic")
    with pytest.raises(ConfigurationError, match="already approved"):
        await queue.reject(first.id, by="eli")
    with pytest.raises(ConfigurationError, match="no draft"):
        await queue.approve("nope", by="eli")
    approved = await queue.get(first.id)
    assert approved is not None
    assert approved.text == "Edited reply"
    assert approved.decided_by == "dana"
    trail = [(e.draft, e.action, e.actor) for e in await queue.audit()]
    assert (first.id, "approved", "dana") in trail
    assert (second.id, "rejected", "eli") in trail


async def test_signed_json_api_rejects() -> None:
    queue = ApprovalQueue(MemoryStateStore())
    await ReplySink(queue, _compose).deliver(deliveries(make_post(1)))
    (draft,) = await queue.pending()
    async with ApprovalServer(queue, SECRET) as server, httpx.AsyncClient() as http:
        listing = await http.get(
            server.url + "/drafts", headers={"X-Socialplug-Signature": sign(SECRET, b"")}
        )
        assert [d["id"] for d in listing.json()] == [draft.id]
        assert (await http.get(server.url + "/drafts")).status_code == 401
        body = json.dumps({"by": "ops-bot", "reason": "duplicate"}).encode()
        unsigned = await http.post(
            server.url + f"/drafts/{draft.id}/reject",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert unsigned.status_code == 401
        signed = await http.post(
            server.url + f"/drafts/{draft.id}/reject",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Socialplug-Signature": sign(SECRET, body),
            },
        )
        assert signed.json()["status"] == "rejected"
    assert await publish_approved(queue, []) == []
    rejected = await queue.get(draft.id)
    assert rejected is not None
    assert rejected.reason == "duplicate"


def test_tid_is_valid_and_stable() -> None:
    draft = Draft(
        id="abc", platform="bluesky", text="x", created_at=datetime(2026, 11, 26, tzinfo=UTC)
    )
    tid = tid_for(draft)
    assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", tid)
    assert tid == tid_for(draft)
    assert tid != tid_for(
        Draft(id="abd", platform="bluesky", text="x", created_at=draft.created_at)
    )


class _Pds:
    """A PDS stand-in that checks createSession, getRecord and putRecord like the lexicons."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {
            "parent": {
                "$type": "app.bsky.feed.post",
                "text": "stuck",
                "createdAt": "2026-11-26T10:00:00Z",
                "reply": {
                    "root": {"uri": "at://did:plc:bob/app.bsky.feed.post/root", "cid": "bafyroot"},
                    "parent": {
                        "uri": "at://did:plc:bob/app.bsky.feed.post/root",
                        "cid": "bafyroot",
                    },
                },
            },
        }
        self.writes: list[dict[str, Any]] = []

    async def __call__(self, request: Request) -> Reply:
        if request.path == "/xrpc/com.atproto.server.createSession":
            body = request.json()
            if body != {"identifier": "ops.test", "password": "app-pass-1234"}:
                return Reply(
                    status=401,
                    body={
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            return Reply(
                body={
                    "did": "did:plc:ops",
                    "handle": "ops.test",
                    "accessJwt": "jwt-access-xyz",
                    "refreshJwt": "jwt-refresh-xyz",
                }
            )
        if request.headers.get("authorization") != "Bearer jwt-access-xyz":
            return Reply(status=401, body={"error": "AuthMissing"})
        if request.path == "/xrpc/com.atproto.repo.getRecord":
            rkey = request.query["rkey"]
            return Reply(
                body={
                    "uri": f"at://{request.query['repo']}/{request.query['collection']}/{rkey}",
                    "cid": f"bafy{rkey}",
                    "value": self.records[rkey],
                }
            )
        if request.path == "/xrpc/com.atproto.repo.putRecord":
            body = request.json()
            record = body["record"]
            ok = (
                re.fullmatch(r"[234567a-j][234567a-z]{12}", body["rkey"])
                and body["collection"] == "app.bsky.feed.post"
                and record["$type"] == "app.bsky.feed.post"
                and len(record["text"]) <= 300
                and record["createdAt"].endswith("Z")
            )
            if not ok:
                return Reply(
                    status=400, body={"error": "InvalidRequest", "message": "Invalid record"}
                )
            self.writes.append(body)
            self.records[body["rkey"]] = record
            return Reply(
                body={
                    "uri": f"at://did:plc:ops/app.bsky.feed.post/{body['rkey']}",
                    "cid": "bafynew",
                }
            )
        return Reply(status=404, body={"error": "MethodNotImplemented"})


async def test_bluesky_replier_threads_and_is_idempotent() -> None:
    pds = _Pds()
    async with LoopbackServer(pds) as server:
        replier = BlueskyReplier(server.url, "ops.test", "app-pass-1234")
        draft = Draft(
            id="d1",
            platform="bluesky",
            text="We know. " * 50,
            created_at=datetime(2026, 11, 26, 12, tzinfo=UTC),
            reply_to="at://did:plc:bob/app.bsky.feed.post/parent",
        )
        first = await replier.post(draft)
        second = await replier.post(draft)
        await replier.aclose()
    assert first == second
    assert len({w["rkey"] for w in pds.writes}) == 1  # the same record, never a second post
    reply = pds.writes[0]["record"]["reply"]
    assert reply["parent"] == {
        "uri": "at://did:plc:bob/app.bsky.feed.post/parent",
        "cid": "bafyparent",
    }
    assert reply["root"]["cid"] == "bafyroot"
    assert "app-pass-1234" not in repr(replier)


async def test_callbacks_of_several_sinks_share_a_server_and_post_with_their_own_account() -> None:
    """Two reply sinks with their own secret and Mastodon account, on one server: each link
    reaches its own sink, is posted with that sink's account, and a failing replier answers
    500 without stopping the server."""
    from collections import Counter

    from socialplug.sinks.replies import _ApprovalRoutes

    store = MemoryStateStore()
    outcomes: Counter[str] = Counter()
    with (
        MastodonServer(token="support-token") as support,
        MastodonServer(token="brand-token") as brand,
    ):
        sinks = {
            "support": ReplySink.from_store(
                state=store, compose="Support here", callback_url="https://ops.example.com/a",
                secret="support-secret", mastodon=MastodonReplier(support.url, "support-token"),
            ),
            "brand": ReplySink.from_store(
                state=store, compose="Brand here", callback_url="https://ops.example.com/a/",
                secret="brand-secret", mastodon=MastodonReplier(brand.url, "brand-token"),
            ),
            "quiet": ReplySink.from_store(state=store, compose="no links"),
        }  # fmt: skip
        routes = _ApprovalRoutes.of(sinks, outcomes)
        assert routes is not None
        assert routes.served == (("/a", ("support",)), ("/a", ("brand",)))
        await sinks["support"].deliver(deliveries(make_post(1), sink="support"))
        await sinks["brand"].deliver(deliveries(make_post(2), sink="brand"))
        (d1,) = [
            d for d in await ApprovalQueue(store).pending() if d.text.endswith("Support here")
        ]
        (d2,) = [d for d in await ApprovalQueue(store).pending() if d.text.endswith("Brand here")]
        async with LoopbackServer(routes.handle) as server, httpx.AsyncClient() as http:

            async def click(sink: str, draft: Draft) -> httpx.Response:
                link, _ = sinks[sink].links(draft.id)
                assert link is not None
                url = link.replace("https://ops.example.com", server.url)
                token = url.rsplit("=", 1)[1]
                return await http.post(url, data={"token": token, "by": "dana"})

            assert (await click("brand", d2)).json()["status"] == "posted"
            assert (await click("support", d1)).json()["status"] == "posted"
            assert (await http.get(server.url + "/elsewhere")).status_code == 404
            # The wrong sink's token for a draft is refused.
            brand_link, _ = sinks["brand"].links(d1.id)
            assert brand_link is not None
            swapped = brand_link.replace("https://ops.example.com", server.url)
            swapped = swapped.rsplit("=", 1)[0] + "=" + "0" * 32
            assert (await http.get(swapped)).status_code == 403

            await sinks["support"].deliver(deliveries(make_post(3), sink="support"))
            (d3,) = await ApprovalQueue(store).pending()
            support.fail(422, path="/api/v1/statuses")  # a permanent refusal
            assert (await click("support", d3)).json()["status"] == "failed"

            class Broken:
                platform = "mastodon"

                async def post(self, draft: Draft) -> Any:
                    raise RuntimeError("the replier broke")

                async def aclose(self) -> None:
                    pass

            await sinks["support"].deliver(deliveries(make_post(4), sink="support"))
            (d4,) = await ApprovalQueue(store).pending()
            working = routes.servers[0].repliers["mastodon"]  # type: ignore[index]
            routes.servers[0].repliers["mastodon"] = Broken()  # type: ignore[index]
            assert (await click("support", d4)).status_code == 500
            assert (await http.get(server.url + "/a/drafts/x/approve")).status_code == 403
        await routes.aclose()
        await working.aclose()
    assert [r.headers["idempotency-key"] for r in brand.requests if r.method == "POST"] == [d2.id]
    posted = [r.headers["idempotency-key"] for r in support.requests if r.method == "POST"]
    assert posted == [d1.id, d3.id]
    assert outcomes == Counter(approved=3, refused=2)
