"""Slack webhooks and chat.postMessage against the validating imitation."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from socialplug.exceptions import DeliveryError
from socialplug.sinks.slack import SlackSink, SlackWebhookSink, slack_message
from socialplug.state import SQLiteStateStore
from socialplug.testing.outbound import SlackImitation, validate_slack_message

from .conftest import (
    HOSTILE,
    OWN_OUTBOUND,
    SHARED_OUTBOUND,
    deliveries,
    make_alert,
    make_post,
    need_shared,
)


pytestmark = pytest.mark.anyio


def test_validator_accepts_real_examples_and_refuses_broken_ones() -> None:
    own = json.loads((OWN_OUTBOUND / "slack__blockkit_view_home_002.json").read_text())
    assert validate_slack_message({"blocks": own["blocks"]})[0] == []
    webhook = json.loads(
        (OWN_OUTBOUND / "slack__incoming_webhook_attachments_template.json").read_text()
    )
    assert validate_slack_message(webhook)[0] == []
    problems, _ = validate_slack_message(
        {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x" * 151}}]}
    )
    assert any("150" in p for p in problems)
    assert any("plain_text" in p for p in problems)
    assert validate_slack_message({})[0] == ["no_text"]
    _, pings = validate_slack_message({"text": "hi <!channel> and <@U024BE7LH|bob>"})
    assert pings == ["!channel", "@U024BE7LH"]


def test_validator_accepts_every_shared_example() -> None:
    folder = need_shared(SHARED_OUTBOUND)
    for path in sorted(folder.glob("slack__blockkit_view_*.json")):
        view = json.loads(path.read_text())
        problems, _ = validate_slack_message({"blocks": view["blocks"]})
        assert problems == [], path.name


def test_layout_escapes_user_content_and_respects_limits() -> None:
    post = make_post(text=HOSTILE * 200, title=HOSTILE)
    message = slack_message(post)
    problems, pings = validate_slack_message(message)
    assert problems == []
    assert pings == []
    flat = json.dumps(message)
    assert "<!channel>" not in flat
    assert "<https://evil" not in flat
    assert message["blocks"][1]["text"]["text"].endswith("\u2026")


async def test_webhook_delivers_posts_and_alerts() -> None:
    async with SlackImitation() as slack:
        sink = SlackWebhookSink(slack.webhook_url)
        await sink.deliver(deliveries(make_post(text=HOSTILE), make_alert()))
        await sink.aclose()
    assert slack.problems == []
    assert len(slack.accepted) == 2
    assert slack.pings == []
    alert = slack.messages[1]
    assert alert["text"].startswith(":rotating_light: [P1]")
    assert any(b["type"] == "actions" for b in alert["blocks"])


async def test_webhook_errors_are_classified_and_url_is_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with SlackImitation() as slack:
        sink = SlackWebhookSink(slack.webhook_url)
        slack.fail_next(429, retry_after=3)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_post()))
        bad = SlackWebhookSink(slack.url + "/services/T0/B0/wrongsecretvalue")
        with pytest.raises(DeliveryError) as missing:
            await bad.deliver(deliveries(make_post()))
        custom = SlackWebhookSink(
            slack.webhook_url, render=lambda item: {"blocks": [{"type": "nope"}]}
        )
        with pytest.raises(DeliveryError) as invalid:
            await custom.deliver(deliveries(make_post()))
        for s in (sink, bad, custom):
            await s.aclose()
    assert limited.value.retryable
    assert limited.value.retry_after == 3
    assert not missing.value.retryable
    assert missing.value.status_code == 404
    assert not invalid.value.retryable
    secret = "XXXXXXXXXXXXXXXXXXXXXXXX"
    for shown in (repr(sink), str(limited.value), str(missing.value), caplog.text):
        assert secret not in shown
        assert "wrongsecretvalue" not in shown


async def test_chat_post_message_threads_by_incident() -> None:
    opened = make_alert("incident.opened")
    updated = make_alert("incident.updated", summary="Now 80 posts")
    resolved = make_alert("incident.resolved", summary="Trains run again")
    other = make_alert("incident.opened", incident="inc-2")
    async with SlackImitation() as slack:
        sink = SlackSink(slack.token, "C0123", base_url=slack.api_url)
        await sink.deliver(deliveries(opened, updated, make_post(), other, resolved))
        await sink.aclose()
    assert slack.problems == []
    root, update, post, second, resolve = slack.messages
    assert "thread_ts" not in root
    assert update["thread_ts"] == root["ts"]
    assert "thread_ts" not in post
    assert "thread_ts" not in second
    assert resolve["thread_ts"] == root["ts"]
    assert resolve["reply_broadcast"] is True
    assert root["unfurl_links"] is False


async def test_chat_threads_survive_a_restart_through_the_store(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "state.db")
    async with SlackImitation() as slack:
        first = SlackSink(slack.token, "C0123", base_url=slack.api_url, store=store)
        await first.deliver(deliveries(make_alert("incident.opened")))
        await first.aclose()
        second = SlackSink(slack.token, "C0123", base_url=slack.api_url, store=store)
        await second.deliver(deliveries(make_alert("incident.updated")))
        await second.aclose()
    await store.aclose()
    assert slack.messages[1]["thread_ts"] == slack.messages[0]["ts"]


async def test_chat_api_errors() -> None:
    async with SlackImitation() as slack:
        wrong = SlackSink("xoxb-wrong-token-123", "C0123", base_url=slack.api_url)
        with pytest.raises(DeliveryError) as auth:
            await wrong.deliver(deliveries(make_post()))
        sink = SlackSink(slack.token, "C0123", base_url=slack.api_url)
        slack.fail_next(429, retry_after=2)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_post()))
        await sink.deliver(deliveries(make_post()))
        for s in (wrong, sink):
            await s.aclose()
    assert not auth.value.retryable
    assert "invalid_auth" in str(auth.value)
    assert "xoxb-wrong" not in str(auth.value) + repr(wrong)
    assert limited.value.retryable
    assert limited.value.retry_after == 2
    assert len(slack.accepted) == 1
    assert re.fullmatch(r"\d+\.\d{6}", slack.messages[0]["ts"])
