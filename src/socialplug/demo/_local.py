"""
The demo's local counterparts of the business's tools: a webhook receiver, an SMTP server,
and the small sinks that talk to them, and a drafts store for replies
awaiting approval. Everything listens on 127.0.0.1 and stays in the process.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import importlib
import json
import smtplib
import socketserver
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import anyio.to_thread
import attrs

from ..exceptions import DeliveryError
from ..model import Alert, Delivery, Post
from ..typing import StateStore


__all__ = [
    "DraftReplies",
    "drafted",
    "reply_text",
    "MailSink",
    "SMTPReceiver",
    "WebhookReceiver",
]


# -- receivers --------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # webhook sinks open many connections at once


class WebhookReceiver:
    """An HTTP endpoint on loopback that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.keys: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as webhook clients expect

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                receiver.bodies.append(body)
                receiver.keys.append(self.headers.get("Idempotency-Key") or "")
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/support"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class SMTPReceiver:
    """A minimal SMTP server on loopback keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                def say(line: str) -> None:
                    self.wfile.write(line.encode() + b"\r\n")

                say("220 localhost socialplug demo SMTP")
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    verb = raw.decode("latin-1").strip().split(" ", 1)[0].upper()
                    if verb in ("HELO", "EHLO"):
                        say("250 localhost")
                    elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                        say("250 OK")
                    elif verb == "DATA":
                        say("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while True:
                            line = self.rfile.readline()
                            if not line or line in (b".\r\n", b".\n"):
                                break
                            lines.append(line[1:] if line.startswith(b"..") else line)
                        parser = email.parser.BytesParser(policy=email.policy.default)
                        message = parser.parsebytes(b"".join(lines))
                        receiver.messages.append(message)
                        say("250 queued")
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    else:
                        say("502 not implemented")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SMTPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- sinks ------------------------------------------------------------------------------


@attrs.define(eq=False)
class MailSink:
    """One email per batch to *to* through the SMTP server at *host*:*port*."""

    host: str
    port: int
    to: str
    sender: str = "socialplug@northline.example"

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Mail *batch*."""
        alerts = [d.item for d in batch if isinstance(d.item, Alert)]
        posts = [d.item for d in batch if isinstance(d.item, Post)]
        message = email.message.EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        if alerts:
            first = alerts[0]
            message["Subject"] = f"[{first.severity}] {first.title}"
        else:
            message["Subject"] = f"{len(posts)} new mention(s) for {batch[0].route}"
        lines = [f"[{a.severity}] {a.title}\n{a.summary}\n" for a in alerts]
        lines += [f"- @{p.author.handle} ({p.platform}): {p.text}\n  {p.url or ''}" for p in posts]
        message.set_content("\n".join(lines))

        def send() -> None:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                smtp.send_message(message)

        try:
            await anyio.to_thread.run_sync(send)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP failed: {exc}", sink=None, retryable=True) from exc

    async def aclose(self) -> None:
        """Nothing held between batches."""


_REPLIES = {
    "en": "We are very sorry. A train is held in the Kessel tunnel after a power failure; "
    "staff are on their way and we will post updates every 15 minutes.",
    "de": "Es tut uns sehr leid. Ein Zug steht nach einem Stromausfall im Kessel-Tunnel; "
    "Personal ist unterwegs, wir informieren alle 15 Minuten.",
    "fr": "Nous sommes désolés. Un train est arrêté dans le tunnel de Kessel après une panne "
    "de courant ; nos équipes arrivent, mise à jour toutes les 15 minutes.",
    "es": "Lo sentimos mucho. Un tren está detenido en el túnel de Kessel por un fallo "
    "eléctrico; el personal está en camino.",
    "nl": "Het spijt ons. Een trein staat stil in de Kessel-tunnel door een stroomstoring; "
    "personeel is onderweg.",
}


@attrs.define(eq=False)
class DraftReplies:
    """
    Draft a reply in the post's language for each incident post, pending until a person
    approves it: nothing is published by the demo. Drafts go to the replies sink's approval
    queue (``socialplug approvals list``) when it is installed, else to the state store's
    ``approvals`` records.
    """

    store: StateStore
    idempotent: bool = True

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Store a draft for every post of *batch* that concerns the incident."""
        queue = _approval_queue(self.store)
        for d in batch:
            post = d.item
            matched = post.annotations.get("matched") or () if isinstance(post, Post) else ()
            if not isinstance(post, Post) or "incident" not in matched:
                continue
            if post.platform not in ("mastodon", "bluesky"):
                continue  # news articles get no reply
            reply = _REPLIES.get(post.lang or "en", _REPLIES["en"])
            if queue is not None:
                draft = queue[1](
                    id=d.key,
                    platform=post.platform,
                    text=reply,
                    created_at=post.created_at,
                    reply_to=post.id,
                    reply_to_url=post.url,
                    context=post.text,
                )
                await queue[0].add(draft, actor="demo")
                continue
            draft_record = {
                "status": "pending",
                "platform": post.platform,
                "in_reply_to": post.url,
                "author": post.author.handle,
                "post": post.text,
                "lang": post.lang,
                "reply": reply,
                "created_at": post.created_at.isoformat(),
            }
            await self.store.put_record("approvals", post.key, draft_record)

    async def aclose(self) -> None:
        """The store is the pipeline's; it closes it."""


def reply_text(item: Post | Alert, /) -> str | None:
    """The reply drafted for *item*: an apology in its language for incident posts."""
    if not isinstance(item, Post) or item.platform not in ("mastodon", "bluesky"):
        return None
    if "incident" not in (item.annotations.get("matched") or ()):
        return None
    return _REPLIES.get(item.lang or "en", _REPLIES["en"])


def _approval_queue(store: StateStore) -> tuple[Any, Any] | None:
    try:
        replies = importlib.import_module("socialplug.sinks.replies")
        return replies.ApprovalQueue(store), replies.Draft
    except (ImportError, AttributeError):
        return None


async def drafted(store: StateStore) -> list[dict[str, Any]]:
    """The drafts the demo made, as plain dictionaries (for the report)."""
    queue = _approval_queue(store)
    if queue is not None:
        return [
            {"status": x.status, "post": x.context, "reply": x.text, "author": "", "lang": ""}
            for x in await queue[0].drafts()
        ]
    return list((await store.records("approvals")).values())
