"""Discord, Teams and Mattermost webhooks against their validating imitations."""

from __future__ import annotations

import json
import logging

import pytest

from socialplug.exceptions import DeliveryError
from socialplug.sinks.discord import DiscordWebhookSink, discord_message
from socialplug.sinks.matrix import matrix_message
from socialplug.sinks.mattermost import MattermostWebhookSink, mattermost_message
from socialplug.sinks.teams import TeamsWebhookSink, teams_message
from socialplug.testing.outbound import (
    DiscordImitation,
    MattermostImitation,
    TeamsImitation,
    discord_pings,
    validate_adaptive_card,
    validate_discord_message,
)

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


def _own(name: str) -> object:
    return json.loads((OWN_OUTBOUND / name).read_text())


def test_discord_validator_and_pings_follow_the_documented_examples() -> None:
    suppressed = _own("discord__message_06_allowed_mentions_examples.json")
    assert validate_discord_message(suppressed) == []
    assert discord_pings(suppressed) == []  # type: ignore[arg-type]
    assert discord_pings({"content": "@here Hello <@&1234> and <@5678>"}) == ["<@5678>"]


def test_discord_validator_on_every_shared_example() -> None:
    folder = need_shared(SHARED_OUTBOUND)
    for path in sorted(folder.glob("discord__message_0[5689]*.json")):
        message = json.loads(path.read_text())
        problems = validate_discord_message(message)
        if "_09_" in path.name:  # documented as invalid
            assert any("mutually exclusive" in p for p in problems)
        else:
            assert problems == [], path.name
    parsed = json.loads(
        (folder / "discord__message_08_allowed_mentions_examples.json").read_text()
    )
    assert discord_pings(parsed) == ["@everyone", "<@1234>", "<@5678>"]


def test_teams_validator_accepts_official_samples() -> None:
    assert validate_adaptive_card(_own("teams__adaptivecard_StockUpdate.json")) == []
    folder = need_shared(SHARED_OUTBOUND)
    for path in sorted(folder.glob("teams__adaptivecard_*.json")):
        assert validate_adaptive_card(json.loads(path.read_text())) == [], path.name


def test_default_layouts_escape_and_fit() -> None:
    post = make_post(text=HOSTILE * 300, title=HOSTILE)
    alert = make_alert(posts=tuple(make_post(i, text=HOSTILE) for i in range(30)))
    for item in (post, alert):
        discord = discord_message(item)
        assert validate_discord_message(discord) == []
        assert discord["allowed_mentions"] == {"parse": []}
        flat = json.dumps(discord, ensure_ascii=False)
        assert "[https://good.example](https://evil.example)" not in flat
        teams = teams_message(item)
        assert validate_adaptive_card(teams["attachments"][0]["content"]) == []
        assert len(json.dumps(teams).encode()) <= 28 * 1024
        mm = json.dumps(mattermost_message(item), ensure_ascii=False)
        assert "@channel" not in mm
        assert "@here" not in mm
    assert "and 25 more" in json.dumps(discord_message(alert), ensure_ascii=False)


async def test_discord_delivers_without_pings() -> None:
    async with DiscordImitation() as discord:
        sink = DiscordWebhookSink(
            discord.webhook_url,
            username="Alerts",
            render=lambda item: {"content": getattr(item, "text", "")},  # raw text, no escaping
        )
        await sink.deliver(deliveries(make_post(text=HOSTILE)))
        plain = DiscordWebhookSink(discord.webhook_url)
        await plain.deliver(deliveries(make_alert(), make_post(text=HOSTILE)))
        for s in (sink, plain):
            await s.aclose()
    assert discord.problems == []
    assert len(discord.accepted) == 3
    assert discord.pings == []  # allowed_mentions is forced even for a custom layout
    assert discord.messages[0]["username"] == "Alerts"
    assert all(r.query["wait"] == "true" for r in discord.accepted)


async def test_discord_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with DiscordImitation() as discord:
        sink = DiscordWebhookSink(discord.webhook_url)
        discord.fail_next(429, retry_after=2.5)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_post()))
        empty = DiscordWebhookSink(discord.webhook_url, render=lambda item: {"content": ""})
        with pytest.raises(DeliveryError) as invalid:
            await empty.deliver(deliveries(make_post()))
        wrong = DiscordWebhookSink(discord.webhook_url[:-6] + "abcdef")
        with pytest.raises(DeliveryError) as auth:
            await wrong.deliver(deliveries(make_post()))
        for s in (sink, empty, wrong):
            await s.aclose()
    assert limited.value.retryable
    assert limited.value.retry_after == 2.5
    assert not invalid.value.retryable
    assert "Invalid Form Body" in str(invalid.value)
    assert auth.value.status_code == 401
    for shown in (repr(sink), str(limited.value), str(auth.value), caplog.text):
        assert discord.token[:40] not in shown


async def test_teams_delivers_cards() -> None:
    async with TeamsImitation() as teams:
        sink = TeamsWebhookSink(teams.webhook_url)
        await sink.deliver(deliveries(make_post(text=HOSTILE), make_alert()))
        teams.fail_next(429, retry_after=4)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_post(3)))
        bad = TeamsWebhookSink(
            teams.webhook_url,
            render=lambda item: {
                "type": "message",
                "attachments": [
                    {
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "content": {"type": "AdaptiveCard", "version": "1.6", "body": []},
                    }
                ],
            },
        )
        with pytest.raises(DeliveryError) as invalid:
            await bad.deliver(deliveries(make_post()))
        await sink.aclose()
        await bad.aclose()
    assert len(teams.cards) == 2
    alert_card = teams.cards[1]
    assert alert_card["actions"][0]["url"] == "https://status.example.com/incidents/1"
    assert alert_card["body"][0]["color"] == "Attention"
    assert limited.value.retryable
    assert limited.value.retry_after == 4
    assert not invalid.value.retryable
    assert teams.signature not in repr(sink) + str(limited.value)


async def test_mattermost_delivers_without_mentions() -> None:
    async with MattermostImitation() as mm:
        sink = MattermostWebhookSink(mm.webhook_url, username="socialplug")
        await sink.deliver(deliveries(make_post(text=HOSTILE + " @alice"), make_alert()))
        raw = MattermostWebhookSink(mm.webhook_url, render=lambda item: {"text": "@channel look"})
        await raw.deliver(deliveries(make_post()))
        mm.fail_next(503)
        with pytest.raises(DeliveryError) as down:
            await sink.deliver(deliveries(make_post(9)))
        for s in (sink, raw):
            await s.aclose()
    assert mm.problems == []
    assert mm.pings == ["@channel"]  # only the raw layout pinged: the default one defuses
    assert mm.posts[0]["username"] == "socialplug"
    assert down.value.retryable
    assert mm.key not in repr(sink) + str(down.value)


def test_matrix_layout_is_plain_and_escaped() -> None:
    content = matrix_message(make_post(text=HOSTILE))
    assert content["msgtype"] == "m.notice"
    assert content["m.mentions"] == {}
    assert "<script>" not in content["formatted_body"]
    assert "&lt;script&gt;" in content["formatted_body"]
    assert "<script>" in content["body"]  # the plain body is text, not markup
    assert "@room" not in content["body"]


def test_huge_alerts_still_fit_every_layout() -> None:
    from socialplug.sinks.github import github_issue
    from socialplug.sinks.jira import jira_fields
    from socialplug.sinks.pagerduty import pagerduty_event
    from socialplug.sinks.slack import slack_message
    from socialplug.testing.outbound import validate_adf, validate_slack_message

    huge = make_alert(
        title=HOSTILE * 50,
        summary=HOSTILE * 500,
        data={f"metric {i} {HOSTILE}": HOSTILE * 20 for i in range(200)},
        posts=tuple(make_post(i, text=HOSTILE * 50) for i in range(100)),
    )
    assert validate_slack_message(slack_message(huge))[0] == []
    assert validate_discord_message(discord_message(huge)) == []
    teams = teams_message(huge)
    assert validate_adaptive_card(teams["attachments"][0]["content"]) == []
    assert len(json.dumps(teams).encode()) <= 28 * 1024
    assert len(json.dumps(mattermost_message(huge))) < 64_000
    assert len(json.dumps(matrix_message(huge)).encode()) < 65_536
    assert validate_adf(jira_fields(huge)["description"]) == []
    assert len(github_issue(huge)["body"]) <= 65_536
    assert len(json.dumps(pagerduty_event(huge)).encode()) < 512 * 1024


def test_a_post_url_cannot_smuggle_a_markdown_link() -> None:
    from socialplug.sinks.github import github_body

    spoof = "https://x.example/a)[click](https://evil.example"
    alert = make_alert(posts=(make_post(1, url=spoof),))
    for rendered in (
        json.dumps(discord_message(alert)),
        json.dumps(mattermost_message(alert)),
        github_body(alert),
    ):
        assert "[click](https://evil" not in rendered
        assert "x.example/a%29%5Bclick" in rendered
