"""
Opsgenie alerts (Alert API v2) with ``alias`` = the incident key: Opsgenie dedupes a repeated
create on the alias, later alerts add notes, acknowledgements and resolutions act on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs

from ..model import Alert, Delivery, Item
from ._base import HttpSinkBase, deliver_each, register_secrets
from ._render import card, more_line, one_line, status_of, truncate


__all__ = ["OpsgenieSink", "opsgenie_alert"]

MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15_000
NOTE_MAX = 25_000
TAGS_MAX = 20
TAG_MAX = 50
DETAILS_MAX = 8_000
SAMPLES_MAX = 10
PRIORITIES: Mapping[str, str] = {"P1": "P1", "P2": "P2", "P3": "P3", "P4": "P4"}


def _description(item: Item) -> str:
    c = card(item)
    lines = [c.text, ""] if c.text else []
    shown = c.samples[:SAMPLES_MAX]
    for s in shown:
        lines.append(
            f"- {one_line(s.author)}: {one_line(s.text)}" + (f" {s.url}" if s.url else "")
        )
    if more := more_line(len(shown), len(c.samples)):
        lines.append(more)
    if c.url:
        lines += ["", c.url]
    return "\n".join(lines).strip()


def c_title(item: Item) -> str:
    """The one-line title of *item*."""
    return one_line(card(item).title)


def opsgenie_alert(item: Item) -> dict[str, Any]:
    """The default alert body: message, description, priority, details and tags."""
    c = card(item)
    details: dict[str, str] = {}
    budget = DETAILS_MAX
    for name, value in c.fields:
        entry = truncate(value, 500)
        if len(name) + len(entry) > budget:
            break
        details[name[:100]] = entry
        budget -= len(name) + len(entry)
    alert: dict[str, Any] = {
        "message": truncate(one_line(c.title) or c.kind, MESSAGE_MAX),
        "description": truncate(_description(item), DESCRIPTION_MAX),
        "details": details,
        "tags": ["socialplug", c.kind[:TAG_MAX]],
        "source": "socialplug",
        "priority": PRIORITIES.get(c.severity or "", "P5"),
    }
    if isinstance(item, Alert) and item.team:
        alert["entity"] = truncate(item.team, 512)
    return alert


@attrs.define(eq=False)
class OpsgenieSink(HttpSinkBase):
    """
    Create, annotate, acknowledge and close Opsgenie alerts.

    Idempotent: the alias (incident key, or the delivery key for a post) makes a repeated
    create a no-op in Opsgenie, and closing or acknowledging twice changes nothing. (A replayed
    update may add its note twice.)

    Args:
        api_key: An API integration key; never shown.
        base_url: ``https://api.opsgenie.com`` (``https://api.eu.opsgenie.com`` in the EU).
        render: ``Post | Alert -> alert``; :func:`opsgenie_alert` by default.
        responders: Opsgenie responders, e.g. ``[{"type": "team", "name": "ops"}]``.
        tags: Tags added to every alert.
    """

    api_key: str = attrs.field(repr=False)
    base_url: str = attrs.field(default="https://api.opsgenie.com", kw_only=True)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=opsgenie_alert, kw_only=True)
    responders: Sequence[Mapping[str, str]] = attrs.field(
        factory=tuple, kw_only=True, converter=tuple
    )
    tags: Sequence[str] = attrs.field(factory=tuple, kw_only=True, converter=tuple)
    idempotent: bool = attrs.field(default=True, init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.api_key)

    async def _call(self, path: str, body: Mapping[str, Any], *, by_alias: bool = False) -> None:
        await self._request(
            "POST", f"{self.base_url.rstrip('/')}/v2/alerts{path}", what="Opsgenie",
            json=dict(body), headers={"Authorization": f"GenieKey {self.api_key}"},
            params={"identifierType": "alias"} if by_alias else None,
        )  # fmt: skip

    async def _send(self, delivery: Delivery) -> None:
        item = delivery.item
        incident = item.incident if isinstance(item, Alert) else None
        alias = (incident or delivery.key)[:ALIAS_MAX]
        action = status_of(item) if isinstance(item, Alert) else "trigger"
        path = f"/{quote(alias, safe='')}"
        if action == "resolve":
            await self._call(
                f"{path}/close",
                {"source": "socialplug", "note": truncate(c_title(item), NOTE_MAX)},
                by_alias=True,
            )
            return
        if action == "acknowledge":
            await self._call(f"{path}/acknowledge", {"source": "socialplug"}, by_alias=True)
            return
        if isinstance(item, Alert) and item.kind.endswith(".updated"):
            note = truncate(one_line(item.title) + "\n" + _description(item), NOTE_MAX)
            await self._call(
                f"{path}/notes", {"source": "socialplug", "note": note}, by_alias=True
            )
            return
        alert = {**self.render(item), "alias": alias}
        if self.responders:
            alert.setdefault("responders", [dict(r) for r in self.responders])
        tags = [*alert.get("tags", []), *self.tags]
        alert["tags"] = [t[:TAG_MAX] for t in dict.fromkeys(tags)][:TAGS_MAX]
        await self._call("", alert)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Send every delivery, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
