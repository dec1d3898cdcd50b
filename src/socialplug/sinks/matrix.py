"""
Matrix through the client-server API: one ``m.room.message`` per delivery, sent with the
delivery key as transaction id (the homeserver dedupes a retried send), intentional mentions
switched off (``"m.mentions": {}``) and one thread per incident.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs
import httpx

from ..exceptions import DeliveryError
from ..model import Alert, Delivery, Item
from ..typing import StateStore
from ._base import HttpSinkBase, deliver_each, register_secrets
from ._render import (
    card,
    defuse_mentions,
    html_escape,
    more_line,
    one_line,
    truncate,
    truncate_bytes,
)


__all__ = ["MatrixSink", "matrix_message"]

TEXT_MAX = 3000
TITLE_MAX = 300
FIELDS_MAX = 10
FIELD_MAX = 200
SAMPLES_MAX = 5
#: Homeservers refuse events over 65,536 bytes; keep the content well under.
CONTENT_BYTES_MAX = 48_000


def matrix_message(item: Item) -> dict[str, Any]:
    """
    The default ``m.room.message`` content: plain ``body`` and HTML ``formatted_body`` (user
    text HTML-escaped), with no mentions.
    """
    c = card(item)
    prefix = f"[{c.severity}] " if c.severity else ""
    title = truncate(one_line(prefix + c.title), TITLE_MAX)
    text = truncate(c.text, TEXT_MAX)
    facts = [(truncate(n, 100), truncate(v, FIELD_MAX)) for n, v in c.fields[:FIELDS_MAX]]
    plain = [title]
    rich = [f"<h4>{html_escape(title)}</h4>"]
    if text:
        plain.append(text)
        rich.append("<p>" + html_escape(text).replace("\n", "<br>") + "</p>")
    if facts:
        plain.append(" · ".join(f"{n}: {v}" for n, v in facts))
        rich.append(
            "<ul>"
            + "".join(f"<li><b>{html_escape(n)}</b>: {html_escape(v)}</li>" for n, v in facts)
            + "</ul>"
        )
    shown = c.samples[:SAMPLES_MAX]
    if shown:
        rich.append("<ul>")
        for s in shown:
            sample = truncate(one_line(s.text), 300)
            plain.append(f"> {one_line(s.author)}: {sample}" + (f" {s.url}" if s.url else ""))
            link = f' <a href="{html_escape(s.url)}">open</a>' if s.url else ""
            rich.append(
                f"<li><b>{html_escape(one_line(s.author))}</b>: {html_escape(sample)}{link}</li>"
            )
        rich.append("</ul>")
    if more := more_line(len(shown), len(c.samples)):
        plain.append(more)
        rich.append(f"<p>{html_escape(more)}</p>")
    if c.url:
        plain.append(c.url)
        rich.append(f'<p><a href="{html_escape(c.url)}">Open</a></p>')
    body = defuse_mentions("\n".join(plain))
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": defuse_mentions("".join(rich)),
        "m.mentions": {},
    }
    if len(json.dumps(content).encode()) > CONTENT_BYTES_MAX:
        # Markup cannot be cut safely: fall back to the plain body, cut to size.
        del content["format"], content["formatted_body"]
        content["body"] = truncate_bytes(body, CONTENT_BYTES_MAX // 2)
    return content


@attrs.define(eq=False)
class MatrixSink(HttpSinkBase):
    """
    Send to a Matrix room.

    The first alert of an incident starts a thread; later alerts of that incident go into it
    (``m.thread`` relation). Thread roots live in *store* (namespace ``matrix.threads``).
    Idempotent: the delivery key is the transaction id, so the homeserver drops a resend
    from the same device.

    Args:
        homeserver: Base URL, e.g. ``https://matrix.example.org``.
        access_token: The bot's token; never shown.
        room_id: ``!room:server`` (join the room first).
        render: ``Post | Alert -> content``; :func:`matrix_message` by default.
        store: Where thread roots live; memory when omitted.
    """

    homeserver: str
    access_token: str = attrs.field(repr=False)
    room_id: str
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(default=matrix_message, kw_only=True)
    store: StateStore | None = attrs.field(default=None, kw_only=True, repr=False)
    threads: bool = attrs.field(default=True, kw_only=True)
    idempotent: bool = attrs.field(default=True, init=False)
    _roots: dict[str, str] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.access_token)

    def _classify(self, response: httpx.Response, *, what: str) -> DeliveryError:
        error = super()._classify(response, what=what)
        try:
            body = response.json()
        except ValueError:
            return error
        if isinstance(body, dict):
            errcode = body.get("errcode")
            if response.status_code == 429 and error.retry_after is None:
                ms = body.get("retry_after_ms")
                if isinstance(ms, int | float):
                    error.retry_after = ms / 1000
            if errcode:
                error.args = (f"{what} answered HTTP {response.status_code}: {errcode}",)
        return error

    async def _root_of(self, incident: str) -> str | None:
        key = f"{self.room_id}\x1f{incident}"
        if key not in self._roots and self.store is not None:
            value = await self.store.get_record("matrix.threads", key)
            if isinstance(value, str):
                self._roots[key] = value
        return self._roots.get(key)

    async def _remember_root(self, incident: str, event_id: str) -> None:
        key = f"{self.room_id}\x1f{incident}"
        self._roots[key] = event_id
        if self.store is not None:
            await self.store.put_record("matrix.threads", key, event_id)

    async def send(self, content: Mapping[str, Any], *, txn_id: str) -> str:
        """PUT one ``m.room.message`` with *txn_id*; return its event id."""
        url = (
            f"{self.homeserver.rstrip('/')}/_matrix/client/v3/rooms/{quote(self.room_id, safe='')}"
            f"/send/m.room.message/{quote(txn_id, safe='')}"
        )
        response = await self._request(
            "PUT", url, what=f"Matrix room {self.room_id}", json=dict(content),
            headers={"Authorization": f"Bearer {self.access_token}"},
        )  # fmt: skip
        try:
            return str(response.json()["event_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError("Matrix answered without an event_id", retryable=True) from exc

    async def _send(self, delivery: Delivery) -> None:
        item = delivery.item
        content = dict(self.render(item))
        incident = item.incident if isinstance(item, Alert) and self.threads else None
        root = await self._root_of(incident) if incident else None
        if root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        event_id = await self.send(content, txn_id=delivery.key)
        if incident and root is None:
            await self._remember_root(incident, event_id)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Send every delivery, in order."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
