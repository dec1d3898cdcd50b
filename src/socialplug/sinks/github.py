"""
GitHub Issues (REST): one issue per post or per incident; later alerts of an incident are
comments on its issue, and its resolution closes it.

User text is Markdown-escaped with every ``@mention`` defused, so an issue never pings a
user or team named in a post.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from .._http import delivery_error, retry_after
from ..exceptions import DeliveryError
from ..model import Alert, Delivery, Item
from ..typing import StateStore
from ._base import HttpSinkBase, Memo, deliver_each, json_object, register_secrets
from ._render import card, markdown_escape, more_line, one_line, status_of, truncate


__all__ = ["GitHubIssuesSink", "escape", "github_body", "github_issue"]

TITLE_MAX = 256
BODY_MAX = 65_536
SAMPLES_MAX = 10


def escape(text: str) -> str:
    """Escape user text for GitHub Markdown; defuse every ``@mention``."""
    return markdown_escape(text, all_mentions=True)


def github_body(item: Item) -> str:
    """The default Markdown body of an issue or comment."""
    c = card(item)
    lines = [escape(c.text), ""] if c.text else []
    if c.fields:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {escape(n)} | {escape(v)} |".replace("\n", " ") for n, v in c.fields]
        lines.append("")
    shown = c.samples[:SAMPLES_MAX]
    for s in shown:
        link = f" ([open]({s.url}))" if s.url else ""
        lines.append(f"> **{escape(one_line(s.author))}**: {escape(one_line(s.text))}{link}")
        lines.append("")
    if more := more_line(len(shown), len(c.samples)):
        lines += [more, ""]
    if c.url:
        lines.append(f"[Open]({c.url})")
    if c.footer:
        lines += ["", f"<sub>{escape(c.footer)}</sub>"]
    return truncate("\n".join(lines).strip() or escape(c.title), BODY_MAX)


def github_issue(item: Item) -> dict[str, Any]:
    """The default new issue: title, Markdown body and a severity label for alerts."""
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    issue: dict[str, Any] = {
        "title": truncate(one_line(prefix + c.title) or c.kind, TITLE_MAX),
        "body": github_body(item),
    }
    if c.severity:
        issue["labels"] = [f"severity:{c.severity}"]
    return issue


@attrs.define(eq=False)
class GitHubIssuesSink(HttpSinkBase):
    """
    Open GitHub issues for posts and incidents.

    Args:
        token: A token with ``issues: write``; never shown.
        repo: ``"owner/name"``.
        labels: Labels added to every new issue.
        assignees: Logins assigned to every new issue.
        render: ``Post | Alert -> issue`` (``title``, ``body``, ``labels``...).
        comment: ``Alert -> Markdown`` for updates of an incident.
        store: Where the incident -> issue number map lives (namespace ``github.issues``).
        base_url: ``https://api.github.com`` or your GitHub Enterprise ``/api/v3`` root.
    """

    token: str = attrs.field(repr=False)
    repo: str
    labels: Sequence[str] = attrs.field(factory=tuple, kw_only=True, converter=tuple)
    assignees: Sequence[str] = attrs.field(factory=tuple, kw_only=True, converter=tuple)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=github_issue, kw_only=True)
    comment: Callable[[Item], str] = attrs.field(default=github_body, kw_only=True)
    store: StateStore | None = attrs.field(default=None, kw_only=True, repr=False)
    base_url: str = attrs.field(default="https://api.github.com", kw_only=True)
    idempotent: bool = attrs.field(default=False, init=False)
    _issues: Memo = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.token)
        self._issues = Memo("github.issues", self.store)

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def _classify(self, response: httpx.Response, *, what: str) -> DeliveryError:
        # GitHub signals rate limits with 403 too (primary: remaining 0; secondary: Retry-After).
        limited = response.status_code in (403, 429) and (
            response.headers.get("x-ratelimit-remaining") == "0"
            or "retry-after" in response.headers
        )
        if limited:
            return DeliveryError(
                f"{what}: GitHub rate limit (HTTP {response.status_code})",
                retryable=True,
                retry_after=retry_after(response),
                status_code=response.status_code,
            )
        return delivery_error(response, what=what)

    async def _call(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._request(
            method, f"{self.base_url.rstrip('/')}/repos/{self.repo}{path}",
            what=f"GitHub {self.repo}", json=dict(body), headers=self._headers,
        )  # fmt: skip
        return json_object(response)

    async def _send(self, delivery: Delivery) -> None:
        item = delivery.item
        incident = item.incident if isinstance(item, Alert) else None
        number = await self._issues.get(incident) if incident else None
        if number is None:
            issue = dict(self.render(item))
            labels = [*self.labels, *issue.get("labels", [])]
            if labels:
                issue["labels"] = list(dict.fromkeys(labels))
            if self.assignees:
                issue.setdefault("assignees", list(self.assignees))
            created = await self._call("POST", "/issues", issue)
            if incident and isinstance(created.get("number"), int):
                await self._issues.put(incident, created["number"])
            number = created.get("number")
            if not (isinstance(item, Alert) and status_of(item) == "resolve"):
                return
        else:
            await self._call("POST", f"/issues/{number}/comments", {"body": self.comment(item)})
        if isinstance(item, Alert) and status_of(item) == "resolve" and number is not None:
            await self._call(
                "PATCH", f"/issues/{number}", {"state": "closed", "state_reason": "completed"}
            )

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Open, comment on or close issues, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
