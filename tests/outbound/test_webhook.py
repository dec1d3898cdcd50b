"""The generic webhook sink against a validating loopback receiver."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from socialplug._signing import verify
from socialplug.exceptions import DeliveryError
from socialplug.sinks.webhook import WebhookSink
from socialplug.testing.outbound import WebhookReceiver

from .conftest import deliveries, make_alert, make_post


pytestmark = pytest.mark.anyio

SECRET = "whsec_0123456789abcdef"


async def test_posts_signed_json_with_idempotency_keys() -> None:
    batch = deliveries(make_post(1), make_post(2), make_alert())
    async with WebhookReceiver(secret=SECRET) as receiver:
        sink = WebhookSink(receiver.hook_url, secret=SECRET)
        try:
            await sink.deliver(batch)
        finally:
            await sink.aclose()
    assert receiver.problems == []
    assert set(receiver.keys) == {d.key for d in batch}
    for request in receiver.accepted:
        assert verify(SECRET, request.body, request.headers["x-socialplug-signature"])
        body = request.json()
        assert body["key"] == request.headers["idempotency-key"]
        assert body["item"]["type"] in ("post", "alert")
    assert sink.idempotent is True


async def test_custom_body_and_headers() -> None:
    async with WebhookReceiver() as receiver, httpx.AsyncClient() as client:
        sink = WebhookSink(
            receiver.hook_url,
            body=lambda d: {"id": d.key, "text": getattr(d.item, "text", "")},
            headers={"Authorization": "Bearer s3cr3t-token"},
            client=client,
        )
        await sink.deliver(deliveries(make_post(1, text="héllo")))
        await sink.aclose()
        assert not client.is_closed  # an injected client stays open
    request = receiver.accepted[0]
    assert request.json()["text"] == "héllo"
    assert request.headers["authorization"] == "Bearer s3cr3t-token"
    assert "x-socialplug-signature" not in request.headers


async def test_retryable_failure_then_retry_skips_what_got_through() -> None:
    batch = deliveries(*(make_post(i) for i in range(4)))
    async with WebhookReceiver() as receiver:
        sink = WebhookSink(receiver.hook_url, concurrency=1)
        receiver.script()  # nothing scripted for the first two
        await sink.deliver(batch[:2])
        receiver.fail_next(429, retry_after=7)
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(batch)
        assert info.value.retryable
        assert info.value.retry_after == 7
        await sink.deliver(batch)  # the retry
        await sink.aclose()
    assert receiver.duplicates == 0
    assert len(receiver.accepted) == 4
    assert len(receiver.requests) == 5  # 2 + the 429 + 2 remaining


async def test_permanent_and_transport_failures_are_classified() -> None:
    async with WebhookReceiver() as receiver:
        sink = WebhookSink(receiver.url + "/wrong-path")
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries(make_post()))
        assert not info.value.retryable
        assert info.value.status_code == 404
        await sink.aclose()
        port = receiver.url.rsplit(":", 1)[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook")
    with pytest.raises(DeliveryError) as info:
        await sink.deliver(deliveries(make_post()))
    assert info.value.retryable
    await sink.aclose()


async def test_bad_signature_is_refused_permanently() -> None:
    async with WebhookReceiver(secret=SECRET) as receiver:
        sink = WebhookSink(receiver.hook_url, secret="another-secret")
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries(make_post()))
        await sink.aclose()
    assert info.value.status_code == 401
    assert receiver.problems == ["webhook: signature does not verify"]


@pytest.mark.parametrize("injected", [False, True])
async def test_secrets_stay_out_of_reprs_errors_and_logs(
    caplog: pytest.LogCaptureFixture, injected: bool
) -> None:
    token = "tok_SUPERSECRET_123456"
    caplog.set_level(logging.DEBUG)
    async with WebhookReceiver(path=f"/hooks/{token}") as receiver, httpx.AsyncClient() as client:
        sink = WebhookSink(
            receiver.hook_url,
            secret=SECRET,
            headers={"X-Api-Key": token},
            client=client if injected else None,
        )
        await sink.deliver(deliveries(make_post()))
        receiver.fail_next(500)
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries(make_post(2)))
        await sink.aclose()
    if injected:
        assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # httpx logged the URL...
    for shown in (repr(sink), str(info.value), caplog.text):
        assert token not in shown  # ...without the secret path
        assert SECRET not in shown


def test_body_is_compact_utf8_json() -> None:
    sink = WebhookSink("http://127.0.0.1:1/hook")
    body, headers = sink.encode(deliveries(make_post(text="naïve ☃"))[0])
    assert "naïve ☃".encode() in body
    assert json.loads(body)["item"]["text"] == "naïve ☃"
    assert headers["Content-Type"] == "application/json"
