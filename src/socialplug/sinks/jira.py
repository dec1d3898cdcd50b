"""
Jira Cloud (REST API v3): one issue per post or per incident, descriptions and comments in
the Atlassian Document Format (ADF).

ADF is structured data, not markup: user text goes into ``text`` nodes, so it can never
become a link, a mention or formatting. Later alerts of an incident are comments on its issue;
its resolution adds a comment and, with ``resolve_transition``, moves the issue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..model import Alert, Delivery, Item
from ..typing import StateStore
from ._base import HttpSinkBase, Memo, deliver_each, json_object, register_secrets
from ._render import card, more_line, one_line, status_of, truncate


__all__ = ["JiraSink", "adf_document", "jira_fields"]

SUMMARY_MAX = 255
TEXT_MAX = 30_000
SAMPLES_MAX = 10
#: Our severities to Jira's default priority scheme.
PRIORITIES: Mapping[str, str] = {"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low"}


def _text(text: str, *, strong: bool = False, href: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    marks: list[dict[str, Any]] = []
    if strong:
        marks.append({"type": "strong"})
    if href:
        marks.append({"type": "link", "attrs": {"href": href}})
    if marks:
        node["marks"] = marks
    return node


def _paragraph(text: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            content.append({"type": "hardBreak"})
        if line:
            content.append(_text(line))
    return {"type": "paragraph", "content": content}


def _item(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": [{"type": "paragraph", "content": list(content)}]}


def adf_document(item: Item) -> dict[str, Any]:
    """The default ADF document of a post or alert."""
    c = card(item)
    content: list[dict[str, Any]] = []
    if c.text:
        content.append(_paragraph(truncate(c.text, TEXT_MAX)))
    if c.fields:
        content.append(
            {
                "type": "bulletList",
                "content": [
                    _item(_text(f"{n}: ", strong=True), _text(truncate(v, 1000) or "-"))
                    for n, v in c.fields
                ],
            }
        )
    shown = c.samples[:SAMPLES_MAX]
    if shown:
        entries = []
        for s in shown:
            parts = [_text(f"{one_line(s.author)}: ", strong=True)]
            if s.text:
                parts.append(_text(truncate(one_line(s.text), 1000)))
            if s.url:
                parts.append(_text(" open", href=s.url))
            entries.append(_item(*parts))
        content.append({"type": "bulletList", "content": entries})
    if more := more_line(len(shown), len(c.samples)):
        content.append(_paragraph(more))
    if c.url:
        content.append({"type": "paragraph", "content": [_text(c.url, href=c.url)]})
    if not content:
        content.append(_paragraph(one_line(c.title) or c.kind))
    return {"version": 1, "type": "doc", "content": content}


def jira_fields(item: Item) -> dict[str, Any]:
    """The default ``fields`` of a new issue (summary, description, priority, labels)."""
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    fields: dict[str, Any] = {
        "summary": truncate(one_line(prefix + c.title) or c.kind, SUMMARY_MAX),
        "description": adf_document(item),
        "labels": ["socialplug", c.kind.replace(" ", "-")[:255]],
    }
    if c.severity is not None and c.severity in PRIORITIES:
        fields["priority"] = {"name": PRIORITIES[c.severity]}
    return fields


@attrs.define(eq=False)
class JiraSink(HttpSinkBase):
    """
    Create Jira issues for posts and incidents.

    Args:
        base_url: ``https://your-site.atlassian.net``.
        email: The account's email (basic auth with an API token).
        api_token: The API token; never shown.
        project: Project key, e.g. ``"OPS"``.
        issue_type: Issue type name.
        render: ``Post | Alert -> fields`` (project and issue type are added).
        store: Where the incident -> issue key map lives (namespace ``jira.issues``).
        resolve_transition: Transition id applied when an incident resolves.
        priority: Send ``priority`` (turn off where the screen does not have the field).
    """

    base_url: str
    email: str
    api_token: str = attrs.field(repr=False)
    project: str
    issue_type: str = attrs.field(default="Task", kw_only=True)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=jira_fields, kw_only=True)
    store: StateStore | None = attrs.field(default=None, kw_only=True, repr=False)
    resolve_transition: str | None = attrs.field(default=None, kw_only=True)
    priority: bool = attrs.field(default=True, kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)
    _issues: Memo = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.api_token)
        self._issues = Memo("jira.issues", self.store)

    async def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._request(
            "POST", f"{self.base_url.rstrip('/')}/rest/api/3{path}",
            what=f"Jira {self.project}", json=dict(body),
            auth=(self.email, self.api_token), headers={"Accept": "application/json"},
        )  # fmt: skip
        return json_object(response)

    async def _send(self, delivery: Delivery) -> None:
        item = delivery.item
        incident = item.incident if isinstance(item, Alert) else None
        key = await self._issues.get(incident) if incident else None
        resolving = isinstance(item, Alert) and status_of(item) == "resolve"
        if key is None:
            fields = {
                **self.render(item),
                "project": {"key": self.project},
                "issuetype": {"name": self.issue_type},
            }
            if not self.priority:
                fields.pop("priority", None)
            created = await self._call("/issue", {"fields": fields})
            key = created.get("key")
            if incident and isinstance(key, str):
                await self._issues.put(incident, key)
        else:
            await self._call(f"/issue/{key}/comment", {"body": adf_document(item)})
        if resolving and key and self.resolve_transition:
            await self._call(
                f"/issue/{key}/transitions", {"transition": {"id": self.resolve_transition}}
            )

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Create issues or comment on them, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
