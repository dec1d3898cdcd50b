"""MQTT sink and source against the machine's Mosquitto."""

from __future__ import annotations

from collections import Counter

import pytest
from _sinks_support import crash_and_resume, deliveries, make_post, require

from socialplug.exceptions import ConfigurationError, DeliveryError
from socialplug.model import Post
from socialplug.sinks.mqtt import MQTTSink
from socialplug.sources.mqtt import MQTTSource


pytestmark = [pytest.mark.anyio, pytest.mark.service]


@pytest.fixture(name="topic")
def _topic(unique):
    require("mqtt")
    return f"socialplug/test/{unique}"


async def drain(source: MQTTSource) -> list[Post]:
    got: list[Post] = []
    async for page in source.pages(None, follow=False):
        got.extend(page.posts)
        await source.commit(page.cursor)
    return got


async def open_session(topic: str, client_id: str) -> None:
    """Create the persistent session (and its subscription) before anything is published."""
    source = MQTTSource(topic, client_id, idle=0.1)
    await drain(source)
    await source.aclose()


async def test_round_trip_through_a_persistent_session(topic, unique):
    """Messages published while the consumer is offline wait in its session and arrive intact."""
    await open_session(topic, unique)
    sink = MQTTSink(topic)
    posts = [make_post(i) for i in range(30)]
    await sink.deliver(deliveries(posts))
    await sink.aclose()
    source = MQTTSource(topic, unique, idle=0.5)

    got = await drain(source)
    await source.aclose()
    again = MQTTSource(topic, unique, idle=0.3)
    rest = await drain(again)
    await again.aclose()

    assert posts == got
    assert rest == []


async def test_unacknowledged_messages_are_resent_on_reconnect(topic, unique):
    """A page handled but never acknowledged comes back when the session reconnects."""
    await open_session(topic, unique)
    sink = MQTTSink(topic)
    await sink.deliver(deliveries([make_post(i) for i in range(6)]))
    await sink.aclose()
    first = MQTTSource(topic, unique, batch_size=4, idle=0.5)
    pages = first.pages(None, follow=False)
    page1 = await anext(pages)
    await first.commit(page1.cursor)
    page2 = await anext(pages)
    await pages.aclose()
    await first.aclose()

    second = MQTTSource(topic, unique, idle=0.5)
    got = await drain(second)
    await second.aclose()

    assert {p.key for p in page2.posts} <= {p.key for p in got}
    assert not {p.key for p in page1.posts} & {p.key for p in got}


async def test_foreign_payload_is_malformed(topic, unique):
    """A payload that is not a post becomes a Malformed item, acknowledged with its page."""
    import aiomqtt

    await open_session(topic, unique)
    async with aiomqtt.Client("127.0.0.1", 1883) as raw:
        await raw.publish(topic, b"hello", qos=1)
    source = MQTTSource(topic, unique, idle=0.5)
    pages = [p async for p in source.pages(None, follow=False)]
    for page in pages:
        await source.commit(page.cursor)
    await source.aclose()

    assert [m.payload for page in pages for m in page.malformed] == ["hello"]


async def test_errors_and_configuration(unused_tcp_port):
    """A refused broker is retryable and the password stays out; QoS 0 is refused."""
    sink = MQTTSink("t", port=unused_tcp_port, username="u", password="pw5ecret")
    with pytest.raises(DeliveryError) as refused:
        await sink.deliver(deliveries([make_post(1)]))
    await sink.aclose()

    assert refused.value.retryable
    assert "pw5ecret" not in str(refused.value) + repr(sink)
    with pytest.raises(ConfigurationError):
        MQTTSink("t", qos=0)
    with pytest.raises(ConfigurationError):
        MQTTSink("a/+/b")


@pytest.mark.slow
def test_consumer_killed_mid_page_loses_nothing(topic, unique, tmp_path):
    """
    Produce through the sink, consume in another process, kill it between handling a page
    and acknowledging it; the restarted session receives that page again.
    """
    import anyio

    posts = [make_post(i) for i in range(200)]

    async def produce() -> None:
        await open_session(topic, unique)
        sink = MQTTSink(topic)
        for i in range(0, len(posts), 50):
            await sink.deliver(deliveries(posts[i : i + 50]))
        await sink.aclose()

    anyio.run(produce)
    config = {"topic": topic, "client_id": unique, "batch_size": 10, "batch_timeout": 0.1}
    recorded = crash_and_resume("mqtt", config, config, [p.key for p in posts], tmp_path)

    assert sum(1 for n in Counter(recorded).values() if n > 1) >= 10


async def test_a_publish_failing_mid_batch_is_one_delivery_error(topic, monkeypatch):
    """A failure of some publishes of a batch surfaces as one DeliveryError, not a group."""
    import aiomqtt

    sink = MQTTSink(topic)
    await sink.deliver(deliveries([make_post(0)]))  # connected
    real = aiomqtt.Client.publish
    calls = 0

    async def flaky(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise aiomqtt.MqttCodeError(4, "connection lost")  # MQTT_ERR_NO_CONN
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(aiomqtt.Client, "publish", flaky)
    with pytest.raises(DeliveryError) as info:
        await sink.deliver(deliveries([make_post(i) for i in range(5)]))
    monkeypatch.setattr(aiomqtt.Client, "publish", real)
    await sink.deliver(deliveries([make_post(9)]))  # reconnects
    await sink.aclose()

    assert "code:4" in str(info.value)
    assert info.value.retryable
