"""
Email over SMTP (aiosmtplib): STARTTLS or implicit TLS, authentication, multipart plain text
and HTML, UTF-8 subjects and names.

One message per delivery by default (:func:`render_single`); with ``digest=True`` a whole
batch becomes one message (:func:`render_digest`), and so does an alert of kind
``"digest"`` (its sample posts are the list). Pass ``render=`` / ``render_digest=`` to use your
own templates; every default template escapes user text for HTML.

Needs the ``email`` extra: ``pip install 'socialplug[email]'``.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ..exceptions import DeliveryError, MissingExtraError
from ..model import Alert, Delivery, Item
from ._render import Card, card, html_escape, one_line, truncate


if TYPE_CHECKING:
    import aiosmtplib


__all__ = ["EmailContent", "EmailSink", "render_digest", "render_single"]

SUBJECT_MAX = 200
DIGEST_TEXT_MAX = 500


@attrs.frozen(kw_only=True)
class EmailContent:
    """A rendered email: subject, plain text and HTML alternatives."""

    subject: str
    text: str
    html: str


def _subject(c: Card) -> str:
    prefix = f"[{c.severity}] " if c.severity else ""
    return truncate(one_line(prefix + c.title), SUBJECT_MAX)


_STYLE = "font-family:sans-serif;font-size:14px;color:#222"


def _card_text(c: Card) -> list[str]:
    lines = [one_line(c.title), ""]
    if c.text:
        lines += [c.text, ""]
    lines += [f"{name}: {value}" for name, value in c.fields]
    if c.samples:
        lines += ["", "Posts:"]
        for s in c.samples:
            lines.append(f"- {one_line(s.author)}: {one_line(s.text)}")
            if s.url:
                lines.append(f"  {s.url}")
    if c.url:
        lines += ["", c.url]
    return lines


def _card_html(c: Card) -> list[str]:
    e = html_escape
    out = [f'<h2 style="color:{c.color}">{e(one_line(c.title))}</h2>']
    if c.text:
        out.append("<p>" + e(c.text).replace("\n", "<br>") + "</p>")
    if c.fields:
        out.append("<table>")
        out += [f"<tr><th align=left>{e(n)}</th><td>{e(v)}</td></tr>" for n, v in c.fields]
        out.append("</table>")
    if c.samples:
        out.append("<ul>")
        for s in c.samples:
            link = f' <a href="{e(s.url)}">open</a>' if s.url else ""
            out.append(f"<li><b>{e(one_line(s.author))}</b>: {e(s.text)}{link}</li>")
        out.append("</ul>")
    if c.url:
        out.append(f'<p><a href="{e(c.url)}">{e(c.url)}</a></p>')
    return out


def render_single(item: Item) -> EmailContent:
    """The default template for one post or alert."""
    c = card(item)
    footer = c.footer or "socialplug"
    text = "\n".join([*_card_text(c), "", "-- ", footer]) + "\n"
    body = "\n".join(_card_html(c))
    html = (
        f'<!doctype html><html><body style="{_STYLE}">{body}'
        f'<hr><p style="color:#888">{html_escape(footer)}</p></body></html>'
    )
    return EmailContent(subject=_subject(c), text=text, html=html)


def render_digest(items: Sequence[Item]) -> EmailContent:
    """
    The default digest template: a list of every item (alerts first, by severity), each with
    its title, a short text and its link. A single ``digest`` alert lists its posts.
    """
    if len(items) == 1 and isinstance(items[0], Alert) and items[0].kind == "digest":
        digest = items[0]
        title = digest.title
        entries = [card(p) for p in digest.posts]
        intro = digest.summary
    else:
        entries = sorted(
            (card(i) for i in items), key=lambda c: (c.severity is None, c.severity or "")
        )
        title = f"Digest: {len(items)} item" + ("" if len(items) == 1 else "s")
        intro = ""
    e = html_escape
    text = [one_line(title), ""]
    html = [f'<!doctype html><html><body style="{_STYLE}"><h2>{e(one_line(title))}</h2>']
    if intro:
        text += [intro, ""]
        html.append("<p>" + e(intro).replace("\n", "<br>") + "</p>")
    html.append("<ol>")
    for c in entries:
        sev = f"[{c.severity}] " if c.severity else ""
        body = truncate(one_line(c.text), DIGEST_TEXT_MAX)
        text.append(f"* {sev}{one_line(c.title)}")
        if body:
            text.append(f"  {body}")
        if c.url:
            text.append(f"  {c.url}")
        link = f' <a href="{e(c.url)}">open</a>' if c.url else ""
        html.append(
            f"<li><b>{e(sev)}{e(one_line(c.title))}</b>{link}"
            + (f"<br>{e(body)}" if body else "")
            + "</li>"
        )
    html.append("</ol></body></html>")
    return EmailContent(
        subject=truncate(one_line(title), SUBJECT_MAX),
        text="\n".join(text) + "\n",
        html="\n".join(html),
    )


def _aiosmtplib() -> Any:
    try:
        import aiosmtplib  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("aiosmtplib", extra="email") from exc
    return aiosmtplib


def _address(value: str | Address) -> Address:
    if isinstance(value, Address):
        return value
    if "<" in value and value.rstrip().endswith(">"):
        name, _, addr = value.rpartition("<")
        return Address(display_name=name.strip().strip('"'), addr_spec=addr.rstrip().rstrip(">"))
    return Address(addr_spec=value.strip())


@attrs.define(eq=False)
class EmailSink:
    """
    Send posts and alerts by email.

    Args:
        host: SMTP server.
        port: 587 for STARTTLS, 465 for implicit TLS, 25 for neither.
        sender: ``"Name <addr>"``, an address, or an ``email.headerregistry.Address``.
        to: Recipients (same forms).
        tls: ``"starttls"`` (default), ``"implicit"`` or ``"none"``.
        username, password: SMTP AUTH credentials; the password is never shown.
        tls_context: An ``ssl.SSLContext`` (custom CA, client certificates).
        digest: Send a whole batch as one digest email instead of one email per item.
        render: ``Post | Alert -> EmailContent`` for single emails.
        render_digest: ``Sequence[Post | Alert] -> EmailContent`` for digests.
    """

    host: str
    port: int = 587
    sender: str | Address = attrs.field(default="socialplug <socialplug@localhost>", kw_only=True)
    to: Sequence[str | Address] = attrs.field(factory=tuple, kw_only=True, converter=tuple)
    tls: Literal["starttls", "implicit", "none"] = attrs.field(default="starttls", kw_only=True)
    username: str | None = attrs.field(default=None, kw_only=True)
    password: str | None = attrs.field(default=None, kw_only=True, repr=False)
    tls_context: ssl.SSLContext | None = attrs.field(default=None, kw_only=True, repr=False)
    timeout: float = attrs.field(default=30.0, kw_only=True)
    digest: bool = attrs.field(default=False, kw_only=True)
    render: Callable[[Item], EmailContent] = attrs.field(default=render_single, kw_only=True)
    render_digest: Callable[[Sequence[Item]], EmailContent] = attrs.field(
        default=render_digest, kw_only=True
    )
    idempotent: bool = attrs.field(default=False, init=False)
    _sent: set[str] = attrs.field(init=False, factory=set, repr=False)

    def message(self, content: EmailContent, *, key: str) -> EmailMessage:
        """Build the MIME message for *content*; *key* makes its stable ``Message-ID``."""
        msg = EmailMessage()
        msg["Subject"] = content.subject
        msg["From"] = _address(self.sender)
        msg["To"] = [_address(a) for a in self.to]
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = f"<{key}@socialplug>"
        msg.set_content(content.text, charset="utf-8")
        msg.add_alternative(content.html, subtype="html", charset="utf-8")
        return msg

    def messages(self, batch: Sequence[Delivery]) -> list[tuple[str, EmailMessage]]:
        """The messages for *batch* with the key each is remembered by."""
        if self.digest and batch:
            key = hashlib.blake2b(
                "\x1f".join(d.key for d in batch).encode(), digest_size=16
            ).hexdigest()
            content = self.render_digest([d.item for d in batch])
            return [(key, self.message(content, key=key))]
        out = []
        for d in batch:
            item = d.item
            content = (
                self.render_digest([item])
                if isinstance(item, Alert) and item.kind == "digest"
                else self.render(item)
            )
            out.append((d.key, self.message(content, key=d.key)))
        return out

    def _client(self) -> aiosmtplib.SMTP:
        smtp = _aiosmtplib()
        return smtp.SMTP(  # type: ignore[no-any-return]
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "implicit",
            start_tls=self.tls == "starttls",
            tls_context=self.tls_context,
            timeout=self.timeout,
        )

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Send the messages of *batch* over one SMTP session."""
        try:
            await self._deliver(batch)
        except DeliveryError as exc:
            exc.delivered = tuple(d.key for d in batch if d.key in self._sent)
            raise

    async def _deliver(self, batch: Sequence[Delivery]) -> None:
        if not self.to:
            raise DeliveryError("email: no recipients configured", retryable=False)
        pending = [(k, m) for k, m in self.messages(batch) if k not in self._sent]
        if not pending:
            return
        smtp_mod = _aiosmtplib()
        client = self._client()
        what = f"SMTP {self.host}:{self.port}"
        try:
            await client.connect()
            if self.username is not None:
                await client.login(self.username, self.password or "")
            for key, msg in pending:
                await client.send_message(msg)
                self._sent.add(key)
        except smtp_mod.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{what} refused the credentials ({exc.code})", retryable=False
            ) from exc
        except smtp_mod.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            retryable = all(400 <= c < 500 for c in codes)
            raise DeliveryError(
                f"{what} refused the recipients ({', '.join(map(str, codes))})",
                retryable=retryable,
            ) from exc
        except smtp_mod.SMTPNotSupported as exc:
            raise DeliveryError(
                f"{what} does not support what the sink is configured for: {exc}",
                retryable=False,
            ) from exc
        except smtp_mod.SMTPResponseException as exc:
            raise DeliveryError(
                f"{what} answered {exc.code}: {one_line(exc.message)[:200]}",
                retryable=400 <= exc.code < 500,
            ) from exc
        except (smtp_mod.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}", retryable=True) from exc
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (smtp_mod.SMTPException, OSError):
                    client.close()
        if len(self._sent) > 10_000:
            self._sent.clear()

    async def aclose(self) -> None:
        """Nothing to release: each batch uses its own SMTP session."""
