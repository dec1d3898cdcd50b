"""
Microsoft Teams through a Workflows (Power Automate) webhook, with Adaptive Cards.

The retired Office 365 connectors are not supported; create a "Post to a channel when a
webhook request is received" workflow and use its URL. User text is Markdown-escaped (Adaptive
Card text blocks render a Markdown subset) and truncated to keep the card under Teams' size
limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..model import Delivery, Item
from ._base import HttpSinkBase, deliver_each, host_of, register_secrets, url_secrets
from ._render import card, markdown_escape, more_line, one_line, truncate


__all__ = ["TeamsWebhookSink", "adaptive_card", "escape", "teams_message"]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TITLE_MAX = 300
TEXT_MAX = 4000
FACT_MAX = 500
SAMPLES_MAX = 5
SAMPLE_MAX = 600
_COLORS = {"P1": "Attention", "P2": "Warning", "P3": "Warning", "P4": "Accent"}


def escape(text: str) -> str:
    """Escape user text for an Adaptive Card ``TextBlock`` (Markdown subset)."""
    return markdown_escape(text)


def adaptive_card(item: Item) -> dict[str, Any]:
    """The default Adaptive Card (v1.4) of a post or alert."""
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": truncate(escape(prefix + one_line(c.title)), TITLE_MAX),
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": _COLORS.get(c.severity or "", "Default"),
        }
    ]
    if c.text:
        body.append(
            {"type": "TextBlock", "text": truncate(escape(c.text), TEXT_MAX), "wrap": True}
        )
    if c.fields:
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": truncate(escape(n), 100), "value": truncate(escape(v), FACT_MAX)}
                    for n, v in c.fields
                ],
            }
        )
    shown = c.samples[:SAMPLES_MAX]
    for s in shown:
        text = f"**{escape(one_line(s.author))}**: {escape(one_line(s.text))}"
        items: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": truncate(text, SAMPLE_MAX), "wrap": True}
        ]
        container: dict[str, Any] = {"type": "Container", "style": "emphasis", "items": items}
        if s.url:
            container["selectAction"] = {"type": "Action.OpenUrl", "url": s.url}
        body.append(container)
    footer = " · ".join(x for x in (c.footer, more_line(len(shown), len(c.samples))) if x)
    if footer:
        body.append(
            {"type": "TextBlock", "text": escape(footer), "isSubtle": True, "size": "Small",
             "wrap": True}
        )  # fmt: skip
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if c.url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": c.url}]
    return content


def teams_message(item: Item) -> dict[str, Any]:
    """The default message: one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(item)}
        ],
    }


@attrs.define(eq=False)
class TeamsWebhookSink(HttpSinkBase):
    """
    Post Adaptive Cards to a Teams channel through a Workflows webhook.

    Args:
        url: The workflow's HTTP trigger URL; it holds a signature, so it is never shown.
        render: ``Post | Alert -> message``; :func:`teams_message` by default.
    """

    url: str = attrs.field(repr=False)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=teams_message, kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, *url_secrets(self.url))

    async def _send(self, delivery: Delivery) -> None:
        await self._request(
            "POST", self.url, what=f"Teams workflow {host_of(self.url)}",
            json=dict(self.render(delivery.item)),
        )  # fmt: skip

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Post every delivery, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
