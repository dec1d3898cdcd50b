"""
Discord webhooks with embeds.

Every message carries ``allowed_mentions: {"parse": []}`` unless your layout sets its own, and
user text is Markdown-escaped, so a post can neither ping ``@everyone`` nor a role or user,
nor show a masked link that lies about its target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from ..exceptions import DeliveryError
from ..model import Delivery, Item
from ._base import HttpSinkBase, deliver_each, host_of, register_secrets, url_secrets
from ._render import card, markdown_escape, more_line, one_line, truncate


__all__ = ["DiscordWebhookSink", "discord_message", "escape"]

#: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000
#: Room kept for the description when facts fill the embed.
DESCRIPTION_RESERVE = 1500
SAMPLES_MAX = 5


def escape(text: str) -> str:
    """Escape user text for Discord Markdown and defuse ``@everyone``/``@here``."""
    return markdown_escape(text)


def _color(hex_color: str) -> int:
    return int(hex_color.lstrip("#"), 16)


def discord_message(item: Item) -> dict[str, Any]:
    """The default layout: one embed with title, text, facts as fields and sample posts."""
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    title = truncate(escape(prefix + one_line(c.title)), TITLE_MAX)
    lines = [escape(c.text)] if c.text else []
    shown = c.samples[:SAMPLES_MAX]
    for s in shown:
        link = f" ([open]({s.url}))" if s.url else ""
        lines.append(
            truncate(f"> **{escape(one_line(s.author))}**: {escape(one_line(s.text))}", 600) + link
        )
    if more := more_line(len(shown), len(c.samples)):
        lines.append(more)
    footer = truncate(escape(c.footer), FOOTER_MAX)
    used = len(title) + len(footer)
    fields: list[dict[str, Any]] = []
    for name, value in c.fields[:FIELDS_MAX]:
        fname = truncate(escape(name), FIELD_NAME_MAX)
        fvalue = truncate(escape(value), FIELD_VALUE_MAX) or "-"
        if used + len(fname) + len(fvalue) > EMBED_TOTAL_MAX - DESCRIPTION_RESERVE:
            break
        fields.append({"name": fname, "value": fvalue, "inline": True})
        used += len(fname) + len(fvalue)
    budget = min(DESCRIPTION_MAX, EMBED_TOTAL_MAX - used)
    embed: dict[str, Any] = {
        "title": title,
        "description": truncate("\n".join(lines), budget),
        "color": _color(c.color),
        "fields": fields,
    }
    if c.url:
        embed["url"] = c.url
    if footer:
        embed["footer"] = {"text": footer}
    if c.timestamp:
        embed["timestamp"] = c.timestamp
    if not embed["description"]:
        del embed["description"]
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


@attrs.define(eq=False)
class DiscordWebhookSink(HttpSinkBase):
    """
    Execute a Discord webhook (``https://discord.com/api/webhooks/<id>/<token>``).

    Args:
        url: The webhook URL; it holds the token, so it is never shown.
        render: ``Post | Alert -> message``; :func:`discord_message` by default.
        username: Override the webhook's name.
        avatar_url: Override the webhook's avatar.
        thread_id: Post into this thread of a forum or text channel.
    """

    url: str = attrs.field(repr=False)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(
        default=discord_message, kw_only=True
    )
    username: str | None = attrs.field(default=None, kw_only=True)
    avatar_url: str | None = attrs.field(default=None, kw_only=True)
    thread_id: str | None = attrs.field(default=None, kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, *url_secrets(self.url))

    def message(self, item: Item) -> dict[str, Any]:
        """The JSON body sent for *item*: the layout plus the sink's overrides."""
        message = dict(self.render(item))
        message.setdefault("allowed_mentions", {"parse": []})
        if self.username:
            message.setdefault("username", truncate(self.username, 80))
        if self.avatar_url:
            message.setdefault("avatar_url", self.avatar_url)
        if isinstance(message.get("content"), str):
            message["content"] = truncate(message["content"], CONTENT_MAX)
        return message

    async def _send(self, delivery: Delivery) -> None:
        params = {"wait": "true"}
        if self.thread_id:
            params["thread_id"] = self.thread_id
        await self._request(
            "POST", self.url, what=f"Discord webhook {host_of(self.url)}",
            json=self.message(delivery.item), params=params,
        )  # fmt: skip

    def _classify(self, response: httpx.Response, *, what: str) -> DeliveryError:
        error = super()._classify(response, what=what)
        if response.status_code == 429 and error.retry_after is None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                error.retry_after = float(response.json()["retry_after"])
        return error

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Post every delivery, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
