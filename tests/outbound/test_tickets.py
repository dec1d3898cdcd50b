"""GitHub Issues, Jira, Zendesk and Opsgenie against their validating imitations."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from socialplug.exceptions import DeliveryError
from socialplug.sinks.github import GitHubIssuesSink, github_issue
from socialplug.sinks.jira import JiraSink, adf_document
from socialplug.sinks.opsgenie import OpsgenieSink, opsgenie_alert
from socialplug.sinks.zendesk import ZendeskSink
from socialplug.state import SQLiteStateStore
from socialplug.testing.outbound import (
    GitHubImitation,
    JiraImitation,
    OpsgenieImitation,
    ZendeskImitation,
    validate_adf,
)

from .conftest import HOSTILE, SHARED_OUTBOUND, deliveries, make_alert, make_post, need_shared


pytestmark = pytest.mark.anyio

LIFECYCLE = (
    make_alert("incident.opened", incident="inc-9"),
    make_alert("incident.updated", incident="inc-9", summary="Now 80 posts"),
    make_alert("incident.resolved", incident="inc-9", summary="Trains run again"),
)


async def test_github_issue_per_incident_with_comments_and_close(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")
    async with GitHubImitation() as gh:
        sink = GitHubIssuesSink(gh.token, gh.repo, base_url=gh.url, labels=["social"], store=store)
        await sink.deliver(deliveries(LIFECYCLE[0], make_post(text=HOSTILE + " @octocat #1")))
        await sink.aclose()
        restarted = GitHubIssuesSink(gh.token, gh.repo, base_url=gh.url, store=store)
        await restarted.deliver(deliveries(*LIFECYCLE[1:]))
        await restarted.aclose()
    await store.aclose()
    assert gh.problems == []
    incident, post = gh.issues[1], gh.issues[2]
    assert incident["title"] == "[P1] Spike: trains delayed"
    assert [label["name"] for label in incident["labels"]] == ["social", "severity:P1"]
    assert len(incident["comments"]) == 2  # the update, then the resolution
    assert incident["state"] == "closed"
    assert incident["state_reason"] == "completed"
    assert "@octocat" not in post["body"]
    assert "[https://good.example](https://evil.example)" not in post["body"]


async def test_github_rate_limit_is_retryable_and_token_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with GitHubImitation() as gh:
        sink = GitHubIssuesSink(gh.token, gh.repo, base_url=gh.url)
        gh.fail_next(403, retry_after=30)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_post()))
        bad = GitHubIssuesSink(
            gh.token, gh.repo, base_url=gh.url, render=lambda item: {"title": ""}
        )
        with pytest.raises(DeliveryError) as invalid:
            await bad.deliver(deliveries(make_post()))
        wrong = GitHubIssuesSink("ghp_wrongwrongwrong", gh.repo, base_url=gh.url)
        with pytest.raises(DeliveryError) as auth:
            await wrong.deliver(deliveries(make_post()))
        for s in (sink, bad, wrong):
            await s.aclose()
    assert limited.value.retryable
    assert 25 <= (limited.value.retry_after or 0) <= 31
    assert not invalid.value.retryable
    assert invalid.value.status_code == 422
    assert not auth.value.retryable
    for shown in (repr(sink), repr(wrong), str(auth.value), caplog.text):
        assert gh.token not in shown
        assert "ghp_wrongwrongwrong" not in shown


def test_github_issue_layout_fits() -> None:
    issue = github_issue(make_post(text="x" * 70_000, title="t" * 300))
    assert len(issue["title"]) == 256
    assert len(issue["body"]) <= 65_536


async def test_jira_issue_comment_and_transition() -> None:
    async with JiraImitation() as jira:
        sink = JiraSink(jira.url, jira.email, jira.api_token, "OPS", resolve_transition="31")
        await sink.deliver(deliveries(*LIFECYCLE, make_post(text=HOSTILE + "\n\nsecond line")))
        await sink.aclose()
    assert jira.problems == []
    incident = jira.issues["OPS-1"]
    assert incident["fields"]["priority"] == {"name": "Highest"}
    assert len(incident["comments"]) == 2
    assert incident["status"] == "Done"
    post_doc = jira.issues["OPS-2"]["fields"]["description"]
    texts = [n["text"] for n in post_doc["content"][0]["content"] if n["type"] == "text"]
    assert texts[0] == HOSTILE  # text nodes hold user text verbatim: ADF has no markup


async def test_jira_errors() -> None:
    async with JiraImitation() as jira:
        wrong_project = JiraSink(jira.url, jira.email, jira.api_token, "NOPE")
        with pytest.raises(DeliveryError) as invalid:
            await wrong_project.deliver(deliveries(make_post()))
        sink = JiraSink(jira.url, jira.email, jira.api_token, "OPS")
        jira.fail_next(429, retry_after=5)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_post()))
        wrong = JiraSink(jira.url, jira.email, "not-the-token-123", "OPS")
        with pytest.raises(DeliveryError) as auth:
            await wrong.deliver(deliveries(make_post()))
        for s in (wrong_project, sink, wrong):
            await s.aclose()
    assert not invalid.value.retryable
    assert "project" in str(invalid.value)
    assert limited.value.retryable
    assert limited.value.retry_after == 5
    assert auth.value.status_code == 401
    assert jira.api_token not in repr(sink)
    assert "not-the-token-123" not in str(auth.value)


def test_adf_of_every_kind_validates() -> None:
    for item in (make_post(text=""), make_post(text="a\n\nb"), make_alert(posts=()), make_alert()):
        assert validate_adf(adf_document(item)) == []
    assert validate_adf(
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
        }
    )


async def test_zendesk_ticket_idempotent_create_notes_and_solve() -> None:
    async with ZendeskImitation() as zd:
        sink = ZendeskSink(zd.url, zd.email, zd.api_token, tags=["social"])
        batch = deliveries(LIFECYCLE[0])
        await sink.deliver(batch)
        again = ZendeskSink(
            zd.url, zd.email, zd.api_token, tags=["social"]
        )  # replay after a crash
        await again.deliver(batch)
        await sink.deliver(deliveries(*LIFECYCLE[1:]))
        await sink.aclose()
        await again.aclose()
    assert zd.problems == []
    assert len(zd.tickets) == 1  # the replayed create hit the idempotency key
    ticket = zd.tickets[1]
    assert ticket["priority"] == "urgent"
    assert ticket["status"] == "solved"
    assert ticket["external_id"] == "inc-9"
    assert "social" in ticket["tags"]
    assert len(ticket["comments"]) == 3
    assert ticket["comments"][1]["public"] is False


async def test_zendesk_errors() -> None:
    async with ZendeskImitation() as zd:
        sink = ZendeskSink(
            zd.url,
            zd.email,
            zd.api_token,
            render=lambda item: {"subject": "x", "comment": {"body": ""}},
        )
        with pytest.raises(DeliveryError) as invalid:
            await sink.deliver(deliveries(make_post()))
        ok = ZendeskSink(zd.url, zd.email, zd.api_token)
        zd.fail_next(429, retry_after=9)
        with pytest.raises(DeliveryError) as limited:
            await ok.deliver(deliveries(make_post()))
        for s in (sink, ok):
            await s.aclose()
    assert invalid.value.status_code == 422
    assert not invalid.value.retryable
    assert limited.value.retryable
    assert limited.value.retry_after == 9
    assert zd.api_token not in repr(ok) + str(limited.value)


async def test_opsgenie_alias_lifecycle() -> None:
    async with OpsgenieImitation() as og:
        sink = OpsgenieSink(
            og.api_key, base_url=og.url, responders=[{"type": "team", "name": "ops"}]
        )
        opened = deliveries(LIFECYCLE[0])
        await sink.deliver(opened)
        replay = OpsgenieSink(og.api_key, base_url=og.url)  # another process, after a crash
        await replay.deliver(opened)
        await replay.aclose()
        await sink.deliver(
            deliveries(make_alert("incident.acknowledged", incident="inc-9"), *LIFECYCLE[1:])
        )
        await sink.deliver(deliveries(make_post(text=HOSTILE * 100, title="t" * 400)))
        await sink.aclose()
    assert og.problems == []
    alert = og.alerts["inc-9"]
    assert alert["count"] == 2  # Opsgenie deduplicated the replay on the alias
    assert alert["acknowledged"]
    assert alert["status"] == "closed"
    assert len(alert["notes"]) == 1
    assert alert["alert"]["responders"] == [{"type": "team", "name": "ops"}]
    assert alert["alert"]["priority"] == "P1"
    assert len(og.alerts) == 2


async def test_opsgenie_errors() -> None:
    async with OpsgenieImitation() as og:
        wrong = OpsgenieSink("wrong-key-0000", base_url=og.url)
        with pytest.raises(DeliveryError) as auth:
            await wrong.deliver(deliveries(make_post()))
        sink = OpsgenieSink(og.api_key, base_url=og.url, render=lambda item: {"message": ""})
        with pytest.raises(DeliveryError) as invalid:
            await sink.deliver(deliveries(make_post()))
        for s in (wrong, sink):
            await s.aclose()
    assert auth.value.status_code == 401
    assert not auth.value.retryable
    assert invalid.value.status_code == 422
    assert not invalid.value.retryable
    assert "wrong-key-0000" not in str(auth.value) + repr(wrong)


def test_opsgenie_layout_fits() -> None:
    alert = opsgenie_alert(
        make_alert(title="x" * 500, data={f"k{i}": "v" * 600 for i in range(30)})
    )
    assert len(alert["message"]) == 130
    assert sum(len(k) + len(v) for k, v in alert["details"].items()) <= 8000


def test_github_validator_matches_the_recorded_error_shape() -> None:
    folder = need_shared(SHARED_OUTBOUND)
    recorded = json.loads((folder / "github__errors__00.json").read_text())
    assert set(recorded) == {"message", "errors", "documentation_url"}
    assert recorded["message"] == "Validation Failed"
