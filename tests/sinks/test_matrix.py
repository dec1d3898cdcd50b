"""The Matrix sink against a real matrix-synapse homeserver on loopback."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from socialplug.exceptions import DeliveryError
from socialplug.sinks.matrix import MatrixSink, matrix_message

from ._synapse import Homeserver, running_synapse, synapse_python
from .conftest import HOSTILE, deliveries, make_alert, make_post


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    python = synapse_python()
    if python is None:
        reason = (
            "matrix-synapse not installed: python3 -m venv .peers/synapse/venv && "
            ".peers/synapse/venv/bin/pip install matrix-synapse (or set SYNAPSE_PYTHON)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with running_synapse(python, tmp_path_factory.mktemp("synapse")) as hs:
        yield hs


@pytest.fixture(scope="module")
def room(homeserver: Homeserver) -> tuple[str, str]:
    token = homeserver.register("alertbot", "alertbot-password-1")
    answer = httpx.post(
        f"{homeserver.url}/_matrix/client/v3/createRoom",
        json={"preset": "private_chat", "name": "ops"},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return token, answer.json()["room_id"]


def _events(hs: Homeserver, token: str, room_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{hs.url}/_matrix/client/v3/rooms/{room_id}/messages",
        params={"dir": "f", "limit": "100", "filter": '{"types":["m.room.message"]}'},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return list(answer.json()["chunk"])


pytestmark = [pytest.mark.anyio, pytest.mark.peers]


async def test_messages_threads_and_transaction_ids(
    homeserver: Homeserver, room: tuple[str, str]
) -> None:
    token, room_id = room
    opened, updated = (
        make_alert("incident.opened", incident="m-1"),
        make_alert("incident.updated", incident="m-1"),
    )
    batch = deliveries(make_post(text=HOSTILE), opened, updated)
    sink = MatrixSink(homeserver.url, token, room_id)
    await sink.deliver(batch)
    again = MatrixSink(homeserver.url, token, room_id)  # a restarted process resends all
    again._roots.update(sink._roots)
    await again.deliver(batch)
    await sink.aclose()
    await again.aclose()
    events = _events(homeserver, token, room_id)
    assert len(events) == 3  # the homeserver deduplicated the resend by transaction id
    post, root, reply = (e["content"] for e in events)
    assert post["m.mentions"] == {}
    assert "<script>" not in post["formatted_body"]
    assert "&lt;script&gt;" in post["formatted_body"]
    assert "@room" not in post["body"]
    assert "@channel" not in post["body"]
    assert reply["m.relates_to"]["rel_type"] == "m.thread"
    assert reply["m.relates_to"]["event_id"] == events[1]["event_id"]
    assert "m.relates_to" not in root


async def test_bad_token_is_permanent_and_hidden(
    homeserver: Homeserver, room: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, room_id = room
    sink = MatrixSink(homeserver.url, "syt_not_a_real_token_xyz", room_id)
    with pytest.raises(DeliveryError) as info:
        await sink.deliver(deliveries(make_post()))
    await sink.aclose()
    assert not info.value.retryable
    assert "M_UNKNOWN_TOKEN" in str(info.value)
    for shown in (repr(sink), str(info.value), caplog.text):
        assert "syt_not_a_real_token_xyz" not in shown


def test_layout_is_plain_and_escaped() -> None:
    content = matrix_message(make_post(text=HOSTILE))
    assert content["msgtype"] == "m.notice"
    assert content["m.mentions"] == {}
    assert "<script>" not in content["formatted_body"]
    assert "<script>" in content["body"]  # the plain body is text, not markup
