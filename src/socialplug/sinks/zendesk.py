"""
Zendesk Support tickets: one ticket per post or per incident (created with an
``Idempotency-Key``), later alerts as internal notes, the resolution solves the ticket.

Comments are sent as plain ``body`` text, which Zendesk never renders as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..model import Alert, Delivery, Item
from ..typing import StateStore
from ._base import HttpSinkBase, Memo, deliver_each, json_object, register_secrets
from ._render import card, more_line, one_line, status_of, truncate


__all__ = ["ZendeskSink", "zendesk_comment", "zendesk_ticket"]

SUBJECT_MAX = 150
BODY_MAX = 60_000
SAMPLES_MAX = 10
PRIORITIES: Mapping[str, str] = {"P1": "urgent", "P2": "high", "P3": "normal", "P4": "low"}


def zendesk_comment(item: Item) -> str:
    """The default plain-text comment body."""
    c = card(item)
    lines = [c.text, ""] if c.text else []
    lines += [f"{n}: {v}" for n, v in c.fields]
    shown = c.samples[:SAMPLES_MAX]
    if shown:
        lines += ["", "Posts:"]
        for s in shown:
            lines.append(
                f"- {one_line(s.author)}: {one_line(s.text)}" + (f" ({s.url})" if s.url else "")
            )
    if more := more_line(len(shown), len(c.samples)):
        lines.append(more)
    if c.url:
        lines += ["", c.url]
    return truncate("\n".join(lines).strip() or one_line(c.title), BODY_MAX)


def zendesk_ticket(item: Item) -> dict[str, Any]:
    """The default new ticket: subject, first comment, priority and tags."""
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    ticket: dict[str, Any] = {
        "subject": truncate(one_line(prefix + c.title) or c.kind, SUBJECT_MAX),
        "comment": {"body": zendesk_comment(item), "public": False},
        "tags": ["socialplug", c.kind.replace(".", "_").replace(" ", "_")],
    }
    if c.severity is not None and c.severity in PRIORITIES:
        ticket["priority"] = PRIORITIES[c.severity]
    return ticket


@attrs.define(eq=False)
class ZendeskSink(HttpSinkBase):
    """
    Create Zendesk tickets for posts and incidents.

    Args:
        base_url: ``https://your-subdomain.zendesk.com``.
        email: The agent's email (API token authentication).
        api_token: The API token; never shown.
        render: ``Post | Alert -> ticket``; :func:`zendesk_ticket` by default.
        comment: ``Alert -> text`` for the notes of later alerts.
        tags: Tags added to every new ticket.
        store: Where the incident -> ticket id map lives (namespace ``zendesk.tickets``).
    """

    base_url: str
    email: str
    api_token: str = attrs.field(repr=False)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=zendesk_ticket, kw_only=True)
    comment: Callable[[Item], str] = attrs.field(default=zendesk_comment, kw_only=True)
    tags: Sequence[str] = attrs.field(factory=tuple, kw_only=True, converter=tuple)
    store: StateStore | None = attrs.field(default=None, kw_only=True, repr=False)
    idempotent: bool = attrs.field(default=False, init=False)
    _tickets: Memo = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.api_token)
        self._tickets = Memo("zendesk.tickets", self.store)

    async def _call(
        self, method: str, path: str, body: Mapping[str, Any], *, key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        response = await self._request(
            method, f"{self.base_url.rstrip('/')}/api/v2{path}", what="Zendesk",
            json=dict(body), auth=(f"{self.email}/token", self.api_token), headers=headers,
        )  # fmt: skip
        return json_object(response)

    async def _send(self, delivery: Delivery) -> None:
        item = delivery.item
        incident = item.incident if isinstance(item, Alert) else None
        ticket_id = await self._tickets.get(incident) if incident else None
        resolving = isinstance(item, Alert) and status_of(item) == "resolve"
        if ticket_id is None:
            ticket = dict(self.render(item))
            if self.tags:
                ticket["tags"] = list(dict.fromkeys([*ticket.get("tags", []), *self.tags]))
            ticket.setdefault("external_id", incident or delivery.key)
            if resolving:
                ticket["status"] = "solved"
            created = await self._call(
                "POST", "/tickets.json", {"ticket": ticket}, key=delivery.key
            )
            new_id = created.get("ticket", {}).get("id")
            if incident and isinstance(new_id, int):
                await self._tickets.put(incident, new_id)
            return
        update: dict[str, Any] = {"comment": {"body": self.comment(item), "public": False}}
        if resolving:
            update["status"] = "solved"
        await self._call("PUT", f"/tickets/{ticket_id}.json", {"ticket": update})

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Create or update tickets, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
