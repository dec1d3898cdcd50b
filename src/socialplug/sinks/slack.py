"""
Slack: incoming webhooks (:class:`SlackWebhookSink`) and the Web API ``chat.postMessage``
(:class:`SlackSink`), which keeps one thread per incident through ``thread_ts``.

Both send Block Kit messages built by :func:`slack_message`; pass ``render=`` to use your own
layout (a function ``Post | Alert -> dict`` returning ``text`` and/or ``blocks``, escape user
text with :func:`escape`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .._http import retry_after
from ..exceptions import DeliveryError
from ..model import Alert, Delivery, Item
from ..typing import StateStore
from ._base import HttpSinkBase, deliver_each, host_of, register_secrets, url_secrets
from ._render import card, more_line, one_line, slack_escape, status_of, truncate


__all__ = ["SlackSink", "SlackWebhookSink", "escape", "slack_message"]

#: Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
BLOCKS_MAX = 50
SAMPLES_MAX = 5
FALLBACK_MAX = 3000

_EMOJI = {"P1": ":rotating_light:", "P2": ":warning:", "P3": ":large_yellow_circle:"}


def escape(text: str) -> str:
    """Escape user text for ``mrkdwn``: entities for ``& < >``, broadcast words defused."""
    return slack_escape(text)


def _link(url: str, label: str) -> str:
    return f"<{url.replace('&', '&amp;')}|{escape(label)}>"


def slack_message(item: Item) -> dict[str, Any]:
    """
    The default Block Kit layout of a post or alert: a header, the text, facts as fields,
    sample posts, a context line and a link button.
    """
    c = card(item)
    prefix = f"{_EMOJI.get(c.severity, '')} [{c.severity}] " if c.severity else ""
    title = one_line(c.title) or c.kind
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(slack_escape(prefix.strip() + " " + title).strip(), HEADER_MAX),
                "emoji": True,
            },
        }
    ]
    if c.text:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(escape(c.text), SECTION_TEXT_MAX)},
            }
        )
    if c.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": truncate(f"*{escape(name)}*\n{escape(value)}", FIELD_MAX),
                    }
                    for name, value in c.fields[:FIELDS_MAX]
                ],
            }
        )
    shown = c.samples[:SAMPLES_MAX]
    for sample in shown:
        link = f" {_link(sample.url, 'open')}" if sample.url else ""
        text = f"*{escape(one_line(sample.author))}*: {escape(sample.text)}"
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(text, SECTION_TEXT_MAX - len(link)) + link,
                },
            }
        )
    context = [x for x in (c.footer, more_line(len(shown), len(c.samples))) if x]
    if context:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": truncate(escape(x), FIELD_MAX)}
                    for x in context[:CONTEXT_ELEMENTS_MAX]
                ],
            }
        )
    if c.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open"},
                        "url": c.url,
                    }
                ],
            }
        )
    fallback = truncate(escape(prefix + title), FALLBACK_MAX)
    return {"text": fallback, "blocks": blocks[:BLOCKS_MAX]}


@attrs.define(eq=False)
class SlackWebhookSink(HttpSinkBase):
    """
    Post to a Slack incoming webhook (``https://hooks.slack.com/services/...``).

    Args:
        url: The webhook URL; it is a secret and never shown.
        render: ``Post | Alert -> payload``; :func:`slack_message` by default.
        client: An ``httpx.AsyncClient`` to use; otherwise the sink owns one.
    """

    url: str = attrs.field(repr=False)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=slack_message, kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, *url_secrets(self.url))

    async def _send(self, delivery: Delivery) -> None:
        await self._request(
            "POST", self.url, what=f"Slack webhook {host_of(self.url)}",
            json=dict(self.render(delivery.item)),
        )  # fmt: skip

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Post every delivery, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)


#: Slack Web API errors worth retrying; every other ``"error"`` is permanent.
_RETRYABLE = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


@attrs.define(eq=False)
class SlackSink(HttpSinkBase):
    """
    Post with the Web API ``chat.postMessage``, one thread per incident.

    The first alert of an incident starts a message; later alerts of the same incident
    (``Alert.incident``) reply in its thread (``thread_ts``), and the resolution is also
    broadcast to the channel. Thread roots are kept in *store* (namespace ``slack.threads``)
    so they survive restarts; without a store they live in memory.

    Args:
        token: A bot token (``xoxb-...``); never shown.
        channel: Channel id (``C0123...``) or name.
        render: ``Post | Alert -> payload``; :func:`slack_message` by default.
        store: Where thread roots live.
        base_url: The Web API root.
    """

    token: str = attrs.field(repr=False)
    channel: str
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=slack_message, kw_only=True)
    store: StateStore | None = attrs.field(default=None, kw_only=True, repr=False)
    base_url: str = attrs.field(default="https://slack.com/api", kw_only=True)
    broadcast_resolved: bool = attrs.field(default=True, kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)
    _threads: dict[str, str] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.token)

    async def _thread_of(self, incident: str) -> str | None:
        key = f"{self.channel}\x1f{incident}"
        if key in self._threads:
            return self._threads[key]
        if self.store is not None:
            value = await self.store.get_record("slack.threads", key)
            if isinstance(value, str):
                self._threads[key] = value
                return value
        return None

    async def _remember_thread(self, incident: str, ts: str) -> None:
        key = f"{self.channel}\x1f{incident}"
        self._threads[key] = ts
        if self.store is not None:
            await self.store.put_record("slack.threads", key, ts)

    async def post_message(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``chat.postMessage`` with *payload* (``channel`` added); return the answer."""
        response = await self._request(
            "POST",
            f"{self.base_url.rstrip('/')}/chat.postMessage",
            what="Slack chat.postMessage",
            json={"channel": self.channel, **payload},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        try:
            answer = response.json()
        except ValueError as exc:
            raise DeliveryError(
                "Slack chat.postMessage answered non-JSON", retryable=True
            ) from exc
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = str(answer.get("error", "unknown")) if isinstance(answer, dict) else "unknown"
            retryable = error in _RETRYABLE
            raise DeliveryError(
                f"Slack chat.postMessage refused the message: {error}",
                retryable=retryable,
                retry_after=retry_after(response) if retryable else None,
                status_code=response.status_code,
            )
        return answer

    async def _send(self, delivery: Delivery) -> None:
        item = delivery.item
        payload: dict[str, Any] = {"unfurl_links": False, **self.render(item)}
        incident = item.incident if isinstance(item, Alert) else None
        root = await self._thread_of(incident) if incident else None
        if root is not None:
            payload["thread_ts"] = root
            if (
                self.broadcast_resolved
                and isinstance(item, Alert)
                and status_of(item) == "resolve"
            ):
                payload["reply_broadcast"] = True
        answer = await self.post_message(payload)
        if incident and root is None and isinstance(answer.get("ts"), str):
            await self._remember_thread(incident, answer["ts"])

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Post every delivery, in order, threading alerts by incident."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
