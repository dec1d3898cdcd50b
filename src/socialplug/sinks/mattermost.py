"""
Mattermost incoming webhooks (Slack-compatible payloads with message attachments).

User text is Markdown-escaped and every ``@mention`` is defused: Mattermost notifies mentioned
users and ``@channel``/``@all``/``@here`` from webhook posts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..model import Delivery, Item
from ._base import HttpSinkBase, deliver_each, host_of, register_secrets, url_secrets
from ._render import card, markdown_escape, more_line, one_line, truncate


__all__ = ["MattermostWebhookSink", "escape", "mattermost_message"]

#: Mattermost's default post size limit (``MaxMessageSize``... 16383 runes).
TEXT_MAX = 16_000
ATTACHMENT_TEXT_MAX = 8_000
SAMPLES_MAX = 5


def escape(text: str) -> str:
    """Escape user text for Mattermost Markdown, defusing every ``@mention``."""
    return markdown_escape(text, all_mentions=True)


def mattermost_message(item: Item) -> dict[str, Any]:
    """The default layout: a one-line ``text`` and an attachment with facts and samples."""
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    title = truncate(escape(prefix + one_line(c.title)), 500)
    lines = [escape(c.text)] if c.text else []
    shown = c.samples[:SAMPLES_MAX]
    for s in shown:
        link = f" [open]({s.url})" if s.url else ""
        lines.append(
            truncate(f"> **{escape(one_line(s.author))}**: {escape(one_line(s.text))}", 800) + link
        )
    if more := more_line(len(shown), len(c.samples)):
        lines.append(more)
    attachment: dict[str, Any] = {
        "fallback": title,
        "color": c.color,
        "title": title,
        "text": truncate("\n".join(lines), ATTACHMENT_TEXT_MAX),
        "fields": [
            {"short": True, "title": truncate(escape(n), 200), "value": truncate(escape(v), 1000)}
            for n, v in c.fields
        ],
    }
    if c.url:
        attachment["title_link"] = c.url
    if c.footer:
        attachment["footer"] = truncate(escape(c.footer), 300)
    return {"text": title, "attachments": [attachment]}


@attrs.define(eq=False)
class MattermostWebhookSink(HttpSinkBase):
    """
    Post to a Mattermost incoming webhook (``https://mm.example.com/hooks/<key>``).

    Args:
        url: The webhook URL; it holds the key, so it is never shown.
        render: ``Post | Alert -> payload``; :func:`mattermost_message` by default.
        channel, username, icon_url: Overrides, when the webhook allows them.
    """

    url: str = attrs.field(repr=False)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(
        default=mattermost_message, kw_only=True
    )
    channel: str | None = attrs.field(default=None, kw_only=True)
    username: str | None = attrs.field(default=None, kw_only=True)
    icon_url: str | None = attrs.field(default=None, kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, *url_secrets(self.url))

    def message(self, item: Item) -> dict[str, Any]:
        """The JSON body sent for *item*."""
        message = dict(self.render(item))
        for name in ("channel", "username", "icon_url"):
            value = getattr(self, name)
            if value:
                message.setdefault(name, value)
        if isinstance(message.get("text"), str):
            message["text"] = truncate(message["text"], TEXT_MAX)
        return message

    async def _send(self, delivery: Delivery) -> None:
        await self._request(
            "POST", self.url, what=f"Mattermost webhook {host_of(self.url)}",
            json=self.message(delivery.item),
        )  # fmt: skip

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Post every delivery, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
