"""Platform sinks inside a real pipeline run: retries honour Retry-After, permanent refusals
are dead-lettered, replays deliver nothing twice."""

from __future__ import annotations

import pytest

from socialplug import Pipeline, RetryPolicy, SinkPolicy
from socialplug.sinks.pagerduty import PagerDutySink
from socialplug.sinks.slack import SlackWebhookSink
from socialplug.sinks.webhook import WebhookSink
from socialplug.state import MemoryStateStore
from socialplug.testing import StaticSource, check_sink
from socialplug.testing.outbound import PagerDutyImitation, SlackImitation, WebhookReceiver

from .conftest import make_post


pytestmark = pytest.mark.anyio

POLICY = SinkPolicy(
    batch_size=5, batch_wait=0.0, retry=RetryPolicy(attempts=4, wait_initial=0.01, wait_jitter=0)
)


async def test_run_retries_429_and_replay_sends_nothing_twice() -> None:
    items = [make_post(i) for i in range(12)]
    store = MemoryStateStore()
    async with WebhookReceiver(secret="s3cret-key") as hook, SlackImitation() as slack:
        webhook = WebhookSink(hook.hook_url, secret="s3cret-key")
        chat = SlackWebhookSink(slack.webhook_url)
        hook.fail_next(429, retry_after=0.05)
        slack.fail_next(503)

        def pipeline(
            source: StaticSource, webhook: WebhookSink, chat: SlackWebhookSink
        ) -> Pipeline:
            return Pipeline(
                sources=[source],
                sinks={"hook": webhook, "chat": chat},
                policies={"hook": POLICY, "chat": POLICY},
                state=store,
            )

        first = await pipeline(StaticSource(items, page_size=4), webhook, chat).run_once()
        await webhook.aclose()
        await chat.aclose()
        # A restarted process: fresh sinks, same state store.
        webhook = WebhookSink(hook.hook_url, secret="s3cret-key")
        chat = SlackWebhookSink(slack.webhook_url)
        # The same posts again from scratch (a new source name has no cursor): the webhook
        # receiver dedupes on Idempotency-Key, the runtime's seen keys stop the chat messages.
        again = StaticSource(items, page_size=4, name="static-again")
        replay = await pipeline(again, webhook, chat).run_once()
        await webhook.aclose()
        await chat.aclose()
    assert first.ok, first.summary()
    assert replay.ok, replay.summary()
    assert len(hook.keys) == 12
    assert len(hook.accepted) == 12
    assert hook.duplicates == 12
    assert len(slack.messages) == 12
    assert slack.problems == []


async def test_permanent_refusal_is_dead_lettered() -> None:
    async with PagerDutyImitation() as pd:
        sink = PagerDutySink("too-short", url=pd.events_url)
        p = Pipeline(
            sources=[StaticSource([make_post(1)])], sinks={"pd": sink}, policies={"pd": POLICY}
        )
        report = await p.run_once()
        await sink.aclose()
        letters = await p.state.dead_letters()
    assert report.dead_lettered == {"pd": 1}
    assert len(pd.requests) == 1  # not retried
    assert "routing_key" in letters[0].reason
    assert "too-short" not in letters[0].reason


async def test_sinks_keep_the_sink_contract() -> None:
    async with WebhookReceiver() as hook, SlackImitation() as slack:
        await check_sink(WebhookSink(hook.hook_url))
        await check_sink(SlackWebhookSink(slack.webhook_url))
    assert len(hook.accepted) == 3
    assert len(slack.accepted) == 3


async def test_only_the_refused_delivery_is_dead_lettered() -> None:
    items = [make_post(i) for i in range(5)]
    async with WebhookReceiver() as hook:
        sink = WebhookSink(hook.hook_url, concurrency=1)
        hook.fail_next(400)  # the first request is refused for good
        p = Pipeline(
            sources=[StaticSource(items, page_size=5)],
            sinks={"hook": sink},
            policies={"hook": POLICY},
        )
        report = await p.run_once()
        await sink.aclose()
        letters = await p.state.dead_letters()
    assert report.dead_lettered == {"hook": 1}
    assert report.delivered == {"hook": 4}
    assert len(hook.accepted) == 4
    assert [letter.key for letter in letters] == [hook.requests[0].headers["idempotency-key"]]
