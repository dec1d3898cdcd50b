"""The email sink against a real SMTP server (aiosmtpd) with STARTTLS, implicit TLS and AUTH."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import anyio
import pytest

from socialplug.exceptions import DeliveryError
from socialplug.sinks.email import EmailSink, render_digest, render_single

from .conftest import HOSTILE, deliveries, make_alert, make_post


aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")
trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.anyio

USER, PASSWORD = "alerts", "pa55-w0rd-SECRET"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpt: list[list[str]] = []
        self.fail_with: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.fail_with:
            return self.fail_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> Any:
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return aiosmtpd_smtp.AuthResult(success=ok, handled=False)


class _QuietController(aiosmtpd_controller.Controller):  # type: ignore[misc]
    """aiosmtpd cannot tell that implicit TLS is TLS, and warns about AUTH without it."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


@pytest.fixture
def client_tls(ca: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def _server_tls(ca: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def starttls_server(ca: Any) -> Iterator[tuple[_Mailbox, int]]:
    box = _Mailbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=_server_tls(ca),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def implicit_server(ca: Any) -> Iterator[tuple[_Mailbox, int]]:
    box = _Mailbox()
    port = _free_port()
    controller = _QuietController(
        box,
        hostname="127.0.0.1",
        port=port,
        ssl_context=_server_tls(ca),
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _sink(port: int, context: ssl.SSLContext, **kw: Any) -> EmailSink:
    values: dict[str, Any] = {
        "sender": "Störungsmelder <alerts@example.com>",
        "to": ["Zoë Ops <ops@example.com>", "oncall@example.com"],
        "username": USER,
        "password": PASSWORD,
        "tls_context": context,
    }
    values.update(kw)
    return EmailSink("127.0.0.1", port, **values)


async def _deliver(sink: EmailSink, batch: Any) -> None:
    """Deliver, then let TLS close_notify finish before the test's event loop closes."""
    try:
        await sink.deliver(batch)
    finally:
        await anyio.sleep(0.05)


def _parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()


async def test_starttls_auth_multipart_utf8(
    starttls_server: tuple[_Mailbox, int], client_tls: ssl.SSLContext
) -> None:
    box, port = starttls_server
    sink = _sink(port, client_tls)
    alert = make_alert(
        title="Zug steht im Tunnel — 🚆 Verspätung", posts=(make_post(text=HOSTILE),)
    )
    await _deliver(sink, deliveries(alert, make_post(text="Ça marche pas")))
    assert len(box.messages) == 2
    msg = box.messages[0]
    assert msg["Subject"] == "[P1] Zug steht im Tunnel — 🚆 Verspätung"
    assert msg["From"].addresses[0].display_name == "Störungsmelder"
    assert [a.addr_spec for a in msg["To"].addresses] == ["ops@example.com", "oncall@example.com"]
    assert box.rcpt[0] == ["ops@example.com", "oncall@example.com"]
    text, html = _parts(msg)
    assert "<script>" in text  # plain text keeps the text as written
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "https://status.example.com/incidents/1" in text
    assert msg["Message-ID"].endswith("@socialplug>")
    assert "Ça marche pas" in _parts(box.messages[1])[0]


async def test_password_stays_out_of_logs(
    starttls_server: tuple[_Mailbox, int],
    client_tls: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, port = starttls_server
    await _deliver(_sink(port, client_tls), deliveries(make_post()))
    encoded = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert PASSWORD not in caplog.text
    assert encoded not in caplog.text


async def test_implicit_tls(
    implicit_server: tuple[_Mailbox, int], client_tls: ssl.SSLContext
) -> None:
    box, port = implicit_server
    sink = _sink(port, client_tls, tls="implicit")
    await _deliver(sink, deliveries(make_post()))
    assert len(box.messages) == 1


async def test_digest_mode_sends_one_message(
    starttls_server: tuple[_Mailbox, int], client_tls: ssl.SSLContext
) -> None:
    box, port = starttls_server
    sink = _sink(port, client_tls, digest=True)
    batch = deliveries(
        make_post(1), make_alert(severity="P3"), make_alert("spike", incident="x", severity="P1")
    )
    await _deliver(sink, batch)
    assert len(box.messages) == 1
    text, _ = _parts(box.messages[0])
    assert box.messages[0]["Subject"] == "Digest: 3 items"
    lines = [line for line in text.splitlines() if line.startswith("* ")]
    assert lines[0].startswith("* [P1]")
    assert lines[1].startswith("* [P3]")


async def test_wrong_password_is_permanent_and_secret(
    starttls_server: tuple[_Mailbox, int], client_tls: ssl.SSLContext
) -> None:
    _, port = starttls_server
    sink = _sink(port, client_tls, password="wrong-SECRET-pw")
    with pytest.raises(DeliveryError) as info:
        await _deliver(sink, deliveries(make_post()))
    assert not info.value.retryable
    assert "wrong-SECRET-pw" not in str(info.value) + repr(sink)
    assert PASSWORD not in repr(_sink(port, client_tls))


async def test_temporary_and_permanent_refusals(
    starttls_server: tuple[_Mailbox, int], client_tls: ssl.SSLContext
) -> None:
    box, port = starttls_server
    sink = _sink(port, client_tls)
    box.fail_with = "450 Mailbox busy"
    with pytest.raises(DeliveryError) as busy:
        await _deliver(sink, deliveries(make_post()))
    box.fail_with = "550 No such user"
    with pytest.raises(DeliveryError) as unknown:
        await _deliver(sink, deliveries(make_post()))
    assert busy.value.retryable
    assert not unknown.value.retryable


async def test_server_down_is_retryable(client_tls: ssl.SSLContext) -> None:
    sink = _sink(_free_port(), client_tls, timeout=2)
    with pytest.raises(DeliveryError) as info:
        await _deliver(sink, deliveries(make_post()))
    assert info.value.retryable


def test_templates_escape_html() -> None:
    post = make_post(text=HOSTILE, title='"><img src=x onerror=alert(1)>')
    single = render_single(post)
    digest = render_digest([post, make_alert()])
    for html in (single.html, digest.html):
        assert "<img" not in html
        assert "<script>" not in html
    assert single.subject.startswith('"><img')  # subjects are plain text


async def test_thousand_alert_digest_under_two_seconds(
    starttls_server: tuple[_Mailbox, int], client_tls: ssl.SSLContext
) -> None:
    box, port = starttls_server
    sink = _sink(port, client_tls, digest=True)
    batch = deliveries(
        *(make_alert(incident=f"inc-{i}", title=f"Alert {i} ✓") for i in range(1000))
    )
    started = time.perf_counter()
    await sink.deliver(batch)
    elapsed = time.perf_counter() - started
    await anyio.sleep(0.05)
    assert len(box.messages) == 1
    assert _parts(box.messages[0])[0].count("Alert ") >= 1000
    assert elapsed < 2.0, elapsed
