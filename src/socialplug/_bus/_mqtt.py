"""
MQTT (aiomqtt, QoS 1): :class:`MQTTSink` publishes and waits for each ``PUBACK``;
:class:`MQTTSource` keeps a persistent session and sends ``PUBACK`` only once the pipeline
handled a page.

What QoS 1 guarantees, and what it does not:

- A message the broker acknowledged (``PUBACK`` to the sink) is delivered at least once to
  every subscription that existed when it arrived, including a persistent session whose
  client is offline: the broker queues it and resends unacknowledged messages (with the DUP
  flag) when the client reconnects. This source acknowledges only after the pipeline handled
  the message, so a worker that dies mid-page gets that page again on reconnect.
- Duplicates are normal (redelivery after a reconnect); the runtime's seen-keys absorb them.
- A message published while no matching subscription or session exists is dropped: start
  the source (which subscribes) before producing. A broker ``PUBACK`` does not mean anyone
  received it; MQTT has no equivalent of a mandatory flag.
- The broker bounds what it keeps: Mosquitto queues at most ``max_queued_messages`` (1000 by
  default) for an offline client and drops the rest, keeps sessions only until
  ``persistent_client_expiration`` and, without ``persistence true``, loses everything on a
  restart. It also sends a client at most ``max_inflight_messages`` (20 by default)
  unacknowledged messages, so a page holds at most that many.
- MQTT 3.1.1 has no headers: the item key travels inside the JSON payload only.
- A shared subscription (``$share/group/topic``) spreads messages over workers, but what an
  acknowledged-late message does on disconnect depends on the broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs

from ..exceptions import ConfigurationError, DeliveryError, FetchError, MissingExtraError
from ..model import Delivery, Malformed, Page, Post
from ..pipeline import SinkPolicy
from ._codec import decode, encode, load_cursor, make_page


if TYPE_CHECKING:
    import aiomqtt


__all__ = ["MQTTSink", "MQTTSource"]


def _aiomqtt() -> Any:
    try:
        import aiomqtt  # noqa: PLC0415  (optional extra, imported on first use)
        import aiomqtt.exceptions  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("aiomqtt", extra="mqtt") from exc
    return aiomqtt


def _retryable(exc: BaseException) -> bool:
    # A CONNACK refusing the client id or the credentials is permanent (codes 2, 4, 5 in
    # MQTT 3.1.1; 0x85, 0x86, 0x87, 0x8C in MQTT 5); everything else is network trouble.
    if not isinstance(exc, _aiomqtt().exceptions.MqttConnectError):
        return True
    rc = getattr(exc, "rc", None)
    value = getattr(rc, "value", rc)
    return value not in (2, 4, 5, 0x85, 0x86, 0x87, 0x8C)


def _what(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.define(eq=False)
class _Session:
    """One connected aiomqtt client, opened lazily and closed on errors and aclose()."""

    hostname: str
    port: int
    username: str | None = attrs.field(repr=False)
    password: str | None = attrs.field(repr=False)
    identifier: str | None
    persistent: bool
    manual_ack: bool
    inflight: int = 20
    _client: aiomqtt.Client | None = attrs.field(default=None, init=False, repr=False)

    async def get(self) -> aiomqtt.Client:
        if self._client is None:
            m = _aiomqtt()
            client = m.Client(
                self.hostname,
                self.port,
                username=self.username,
                password=self.password,
                identifier=self.identifier,
                clean_session=not self.persistent,
                timeout=10,
                max_inflight_messages=self.inflight,
            )
            client.pending_calls_threshold = self.inflight
            if self.manual_ack:
                # aiomqtt does not expose paho's manual acknowledgement; set it on the paho
                # client it wraps, before connecting.
                client._client.manual_ack_set(on=True)
            await client.__aenter__()
            self._client = client
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                try:
                    await client.__aexit__(None, None, None)
                except _aiomqtt().MqttError:
                    pass  # already disconnected: nothing left to close


@attrs.define(eq=False)
class MQTTSink:
    """
    Publish each delivery to an MQTT topic with QoS 1 and wait for the broker's ``PUBACK``.

    The payload is the post as JSON (which holds its key). Publishing is pipelined within a
    batch. MQTT brokers do not dedupe, so the sink is not :attr:`idempotent`. See the module
    documentation for what QoS 1 does and does not guarantee.

    Args:
        topic: The topic to publish to.
        hostname, port: The broker.
        username, password: Credentials, if the broker wants them; never logged.
        qos: 1 (at least once) or 2 (exactly once between client and broker).
        retain: Publish retained messages.
        inflight: Messages published but not yet acknowledged, at most.
        timeout: Seconds to wait for a batch's acknowledgements.

    .. versionadded:: 0.1.0
    """

    topic: str
    hostname: str = "127.0.0.1"
    port: int = 1883
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    qos: int = 1
    retain: bool = False
    inflight: int = 20
    timeout: float = 10.0
    _session: _Session = attrs.field(init=False, repr=False)

    idempotent: ClassVar[bool] = False
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=100, batch_wait=0.05)

    def __attrs_post_init__(self) -> None:
        if not self.topic or any(c in self.topic for c in "+#"):
            msg = f"MQTTSink needs a topic without wildcards, got {self.topic!r}"
            raise ConfigurationError(msg)
        if self.qos not in (1, 2):
            msg = "MQTTSink publishes with QoS 1 or 2; QoS 0 may lose messages silently"
            raise ConfigurationError(msg)
        self._session = _Session(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            identifier=None,
            persistent=False,
            manual_ack=False,
            inflight=self.inflight,
        )

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Publish *batch* and return once the broker acknowledged every message.

        Raises:
            DeliveryError: Retryable on connection loss and timeouts; permanent when the
                broker refuses the credentials.
        """
        if not batch:
            return
        m = _aiomqtt()
        failed: list[Exception] = []

        async def publish(client: aiomqtt.Client, payload: bytes) -> None:
            async with limiter:
                try:
                    await client.publish(self.topic, payload, qos=self.qos, retain=self.retain)
                except (m.MqttError, OSError) as exc:
                    failed.append(exc)

        limiter = anyio.CapacityLimiter(self.inflight)
        try:
            client = await self._session.get()
            with anyio.fail_after(self.timeout):
                async with anyio.create_task_group() as tg:
                    for d in batch:
                        tg.start_soon(publish, client, encode(d))
        except (m.MqttError, TimeoutError, OSError) as exc:
            failed.append(exc)
        if failed:
            await self._session.close()
            more = f" (+{len(failed) - 1} more)" if failed[1:] else ""
            raise DeliveryError(
                f"MQTT topic {self.topic!r}: {_what(failed[0])}{more}",
                retryable=all(_retryable(e) for e in failed),
            ) from failed[0]

    async def aclose(self) -> None:
        """Disconnect; the next :meth:`deliver` connects again."""
        await self._session.close()


@attrs.define(eq=False)
class MQTTSource:
    """
    Read posts from an MQTT topic filter through a persistent session, with QoS 1.

    The session (client id *client_id*, clean session off) survives disconnects: the broker
    keeps the subscription, queues messages while the worker is away and resends those it
    never acknowledged. A message's ``PUBACK`` is sent only when the runtime calls
    :meth:`commit` with its page's cursor, i.e. once every post of the page was handled.
    Read the module documentation for what QoS 1 can and cannot guarantee.

    Args:
        topic: The topic filter (wildcards allowed).
        client_id: The session's client id; stable across restarts, unique per worker.
        hostname, port, username, password: As for :class:`MQTTSink`.
        batch_size: Messages per page at most (the broker's in-flight window, 20 on
            Mosquitto by default, caps it).
        batch_timeout: Seconds to wait for a page to fill before yielding what arrived.
        idle: Without follow, stop once nothing arrived for this long.

    .. versionadded:: 0.1.0
    """

    topic: str
    client_id: str
    hostname: str = "127.0.0.1"
    port: int = 1883
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    batch_size: int = 20
    batch_timeout: float = 0.2
    idle: float = 1.0
    _session: _Session = attrs.field(init=False, repr=False)
    _unacked: dict[int, int] = attrs.field(factory=dict, init=False, repr=False)
    _subscribed: bool = attrs.field(default=False, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.topic or not self.client_id:
            msg = "MQTTSource needs a topic filter and a stable client id"
            raise ConfigurationError(msg)
        self._session = _Session(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            identifier=self.client_id,
            persistent=True,
            manual_ack=True,
        )

    @property
    def name(self) -> str:
        """``mqtt:<topic>:<client id>``."""
        return f"mqtt:{self.topic}:{self.client_id}"

    def _page(self, msgs: list[aiomqtt.Message]) -> Page | None:
        items: list[Post | Malformed] = []
        mids: list[int] = []
        for msg in msgs:
            mids.append(msg.mid)
            self._unacked[msg.mid] = msg.qos
            payload = msg.payload
            where = f"message {msg.mid} on {msg.topic}"
            items.append(decode(payload, source=self.name, where=where))
        return make_page(items, mids) if mids else None

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield pages of messages; without *follow*, stop after *idle* seconds of silence.

        *cursor* is not needed (the broker's session holds the position).

        Raises:
            FetchError: The broker failed; retryable unless it refused the credentials.
        """
        m = _aiomqtt()
        what = "subscribing"
        try:
            client = await self._session.get()
            if not self._subscribed:
                await client.subscribe(self.topic, qos=1)
                self._subscribed = True
            what = "receiving messages"
            messages = aiter(client.messages)
            while True:
                msgs: list[aiomqtt.Message] = []
                with anyio.move_on_after(None if follow else self.idle):
                    msgs.append(await anext(messages))
                if not msgs:
                    return
                with anyio.move_on_after(self.batch_timeout):
                    while len(msgs) < self.batch_size:
                        msgs.append(await anext(messages))
                page = self._page(msgs)
                if page is not None:
                    yield page
        except (m.MqttError, TimeoutError, OSError) as exc:
            await self._reset()
            raise FetchError(
                f"MQTT {self.topic!r}, {what}: {_what(exc)}",
                source=self.name,
                retryable=_retryable(exc),
            ) from exc

    async def commit(self, cursor: str, /) -> None:
        """
        Send the ``PUBACK`` of every message named by a page *cursor*, in order.

        Raises:
            FetchError: Not connected any more; the broker resends those messages on the
                next connection.
        """
        m = _aiomqtt()
        mids = [mid for mid in load_cursor(cursor) if mid in self._unacked]
        if not mids:
            return
        try:
            client = await self._session.get()
            for mid in mids:
                rc = client._client.ack(mid, self._unacked.pop(mid))
                if rc != 0:
                    raise m.MqttCodeError(rc, "could not acknowledge")
        except (m.MqttError, OSError) as exc:
            await self._reset()
            raise FetchError(
                f"MQTT {self.topic!r}, acknowledging: {_what(exc)}",
                source=self.name,
                retryable=True,
            ) from exc

    async def _reset(self) -> None:
        self._unacked.clear()  # packet ids are per connection
        self._subscribed = False
        await self._session.close()

    async def aclose(self) -> None:
        """Disconnect; the session and its unacknowledged messages stay on the broker."""
        await self._reset()
