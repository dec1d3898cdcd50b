"""
Loopback imitations of the services sinks deliver to, for tests.

Each imitation is a real HTTP server on ``127.0.0.1`` that **validates every request** against
the service's documented format (required fields, types, enumerations, length limits,
authentication) and answers with the service's documented responses: its success body, its
error envelope for an invalid request, and any response you script (``429`` with
``Retry-After``, ``500``...). Use them to test a pipeline's sinks without the network::

    async with SlackImitation() as slack:
        sink = SlackWebhookSink(slack.webhook_url)
        await sink.deliver(batch)
        assert slack.problems == [] and len(slack.accepted) == 1

Every request is kept in :attr:`Imitation.requests`; the valid ones in
:attr:`Imitation.accepted`; what was wrong with the others in :attr:`Imitation.problems`.
Chat imitations also record the broadcast and user mentions the real service would have
notified in :attr:`Imitation.pings`.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

import attrs

from .._miniserver import REASONS as _REASONS
from .._miniserver import LoopbackServer, Reply, Request
from .._signing import SIGNATURE_HEADER, verify


__all__ = [
    "DiscordImitation",
    "GitHubImitation",
    "Imitation",
    "JiraImitation",
    "MattermostImitation",
    "OpsgenieImitation",
    "PagerDutyImitation",
    "Reply",
    "Request",
    "SlackImitation",
    "TeamsImitation",
    "WebhookReceiver",
    "ZendeskImitation",
    "discord_pings",
    "validate_adaptive_card",
    "validate_adf",
    "validate_discord_message",
    "validate_slack_message",
]


class _Problems(list[str]):
    def need(self, condition: object, problem: str) -> bool:
        if not condition:
            self.append(problem)
        return bool(condition)


def _text(
    value: Any, name: str, problems: _Problems, *, limit: int, required: bool = True
) -> None:
    if value is None:
        problems.need(not required, f"{name} is required")
        return
    if problems.need(isinstance(value, str), f"{name} must be a string"):
        problems.need(not required or value != "", f"{name} must not be empty")
        problems.need(len(value) <= limit, f"{name} is longer than {limit} characters")


def _iso8601(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class Imitation:
    """
    Base of the imitations: a keep-alive HTTP/1.1 server on loopback that records requests,
    replays scripted replies first and otherwise validates and answers like the service.

    Use it as an async context manager; :attr:`url` is its base URL.
    """

    #: What the imitation stands for, in messages.
    service = "service"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self.problems: list[str] = []
        self.pings: list[str] = []
        self._script: deque[Reply] = deque()
        self._port = 0
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with *replies*, in order, before validating again."""
        self._script.extend(replies)

    def fail_next(
        self, status: int = 503, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next *times* requests with *status* (and ``Retry-After``)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        for _ in range(times):
            self._script.append(self.error_reply(status, headers))

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """The service's error body for *status* (overridden per service)."""
        return Reply(status=status, body=_REASONS.get(status, "error"), headers=headers)

    def handle(self, request: Request) -> Reply:
        """Validate and answer *request*; overridden per service."""
        return Reply(status=404, body="not found")

    def _reject(self, problems: Sequence[str]) -> None:
        self.problems.extend(f"{self.service}: {p}" for p in problems)

    def _dispatch(self, request: Request) -> Reply:
        self.requests.append(request)
        if self._script:
            return self._script.popleft()
        return self.handle(request)

    async def _handle(self, request: Request) -> Reply:
        return self._dispatch(request)

    async def __aenter__(self) -> Self:
        self._server = LoopbackServer(self._handle)
        await self._server.__aenter__()
        self._port = self._server.port
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            await self._server.__aexit__(exc_type, exc, tb)
        self._server = None


def _json_body(request: Request, problems: _Problems) -> Any:
    ctype = request.headers.get("content-type", "")
    problems.need(ctype.startswith("application/json"), f"Content-Type is {ctype!r}, not JSON")
    try:
        return request.json()
    except ValueError:
        problems.append("body is not valid JSON")
        return None


# -- generic webhook receiver ----------------------------------------------------------------


class WebhookReceiver(Imitation):
    """
    A receiver of :class:`~socialplug.sinks.webhook.WebhookSink` requests: checks the JSON
    body, the ``Idempotency-Key`` and (with *secret*) the signature; a repeated key is
    acknowledged without being stored twice (:attr:`duplicates` counts them).
    """

    service = "webhook"

    def __init__(self, *, secret: str | bytes | None = None, path: str = "/hook") -> None:
        super().__init__()
        self.secret = secret
        self.path = path
        self.keys: dict[str, Any] = {}
        self.duplicates = 0

    @property
    def hook_url(self) -> str:
        """The URL to post to."""
        return self.url + self.path

    def handle(self, request: Request) -> Reply:
        """Validate a webhook request."""
        problems = _Problems()
        if request.path != self.path:
            return Reply(status=404, body={"error": "not found"})
        problems.need(request.method == "POST", "method must be POST")
        body = _json_body(request, problems)
        key = request.headers.get("idempotency-key", "")
        problems.need(key, "Idempotency-Key header is missing")
        if self.secret is not None and not verify(
            self.secret, request.body, request.headers.get(SIGNATURE_HEADER.lower())
        ):
            self._reject(["signature does not verify"])
            return Reply(status=401, body={"error": "invalid signature"})
        if problems:
            self._reject(problems)
            return Reply(status=400, body={"error": "; ".join(problems)})
        if key in self.keys:
            self.duplicates += 1
        else:
            self.keys[key] = body
            self.accepted.append(request)
        return Reply(status=200, body={"ok": True})


# -- Slack -----------------------------------------------------------------------------------

_SLACK_SPECIAL = re.compile(
    r"<(!(?:channel|here|everyone)|!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+)[|>]"
)
_SLACK_BLOCKS = frozenset(
    {"section", "header", "context", "divider", "actions", "image", "rich_text", "input",
     "file", "video", "markdown"}
)  # fmt: skip


def _slack_text_object(obj: Any, where: str, problems: _Problems, *, limit: int) -> str:
    if not problems.need(isinstance(obj, dict), f"{where} must be a text object"):
        return ""
    problems.need(obj.get("type") in ("plain_text", "mrkdwn"), f"{where}.type is invalid")
    _text(obj.get("text"), f"{where}.text", problems, limit=limit)
    if obj.get("type") == "plain_text" and "verbatim" in obj:
        problems.append(f"{where}: plain_text has no verbatim")
    return str(obj.get("text") or "") if obj.get("type") == "mrkdwn" else ""


def validate_slack_message(payload: Any) -> tuple[list[str], list[str]]:
    """
    Check a Slack message payload (incoming webhook or ``chat.postMessage``) against Block
    Kit's documented limits; return the problems and the mentions Slack would notify.
    """
    problems = _Problems()
    mrkdwn: list[str] = []
    if not problems.need(isinstance(payload, dict), "payload must be a JSON object"):
        return problems, []
    text, blocks = payload.get("text"), payload.get("blocks")
    problems.need(text or blocks or payload.get("attachments"), "no_text")
    if text is not None:
        _text(text, "text", problems, limit=40_000)
        mrkdwn.append(str(text))
    if blocks is not None and problems.need(isinstance(blocks, list), "blocks must be a list"):
        problems.need(len(blocks) <= 50, "more than 50 blocks")
        for i, block in enumerate(blocks):
            where = f"blocks[{i}]"
            if not problems.need(isinstance(block, dict), f"{where} must be an object"):
                continue
            kind = block.get("type")
            problems.need(kind in _SLACK_BLOCKS, f"{where}.type {kind!r} is unknown")
            if kind == "header":
                _slack_text_object(block.get("text"), f"{where}.text", problems, limit=150)
                problems.need(
                    isinstance(block.get("text"), dict)
                    and block["text"].get("type") == "plain_text",
                    f"{where}.text must be plain_text",
                )
            elif kind == "section":
                problems.need(
                    "text" in block or "fields" in block, f"{where} needs text or fields"
                )
                if "text" in block:
                    mrkdwn.append(
                        _slack_text_object(block["text"], f"{where}.text", problems, limit=3000)
                    )
                fields = block.get("fields", [])
                problems.need(
                    isinstance(fields, list) and len(fields) <= 10, f"{where}.fields: at most 10"
                )
                for j, field in enumerate(fields if isinstance(fields, list) else []):
                    mrkdwn.append(
                        _slack_text_object(field, f"{where}.fields[{j}]", problems, limit=2000)
                    )
            elif kind == "context":
                elements = block.get("elements")
                problems.need(
                    isinstance(elements, list) and 0 < len(elements) <= 10,
                    f"{where}.elements: 1 to 10",
                )
                for j, el in enumerate(elements if isinstance(elements, list) else []):
                    if isinstance(el, dict) and el.get("type") == "image":
                        continue
                    mrkdwn.append(
                        _slack_text_object(el, f"{where}.elements[{j}]", problems, limit=3000)
                    )
            elif kind == "actions":
                elements = block.get("elements")
                problems.need(
                    isinstance(elements, list) and 0 < len(elements) <= 25,
                    f"{where}.elements: 1 to 25",
                )
                for j, el in enumerate(elements if isinstance(elements, list) else []):
                    if isinstance(el, dict) and el.get("type") == "button":
                        _slack_text_object(
                            el.get("text"), f"{where}.elements[{j}].text", problems, limit=75
                        )
                        url = el.get("url")
                        problems.need(
                            url is None or (isinstance(url, str) and len(url) <= 3000),
                            "button url too long",
                        )
    if "thread_ts" in payload:
        problems.need(isinstance(payload["thread_ts"], str), "thread_ts must be a string")
    pings = [m.group(1) for t in mrkdwn for m in _SLACK_SPECIAL.finditer(t)]
    return problems, pings


class SlackImitation(Imitation):
    """
    Slack: incoming webhooks at ``/services/T.../B.../...`` (answers ``ok``) and the Web API
    ``/api/chat.postMessage`` (answers ``{"ok": true, "ts": ...}``, threads by
    ``thread_ts``; errors as ``{"ok": false, "error": ...}``).
    """

    service = "slack"

    def __init__(self, *, token: str = "xoxb-test-token") -> None:  # noqa: S107
        super().__init__()
        self.token = token
        self.hook_path = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
        self.messages: list[dict[str, Any]] = []
        self._ts = itertools.count(1)

    @property
    def webhook_url(self) -> str:
        """The incoming-webhook URL."""
        return self.url + self.hook_path

    @property
    def api_url(self) -> str:
        """The Web API root (``.../api``)."""
        return self.url + "/api"

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Slack's error bodies: ``ratelimited`` and friends."""
        if status == 429:
            return Reply(status=429, body={"ok": False, "error": "ratelimited"}, headers=headers)
        return Reply(status=status, body={"ok": False, "error": "internal_error"}, headers=headers)

    def handle(self, request: Request) -> Reply:
        """Route to the webhook or the Web API."""
        if request.path.startswith("/services/"):
            return self._webhook(request)
        if request.path == "/api/chat.postMessage":
            return self._post_message(request)
        return Reply(status=404, body={"ok": False, "error": "unknown_method"})

    def _webhook(self, request: Request) -> Reply:
        if request.path != self.hook_path:
            return Reply(status=404, body="no_service")
        problems = _Problems()
        payload = _json_body(request, problems)
        more, pings = validate_slack_message(payload) if payload is not None else ([], [])
        problems.extend(more)
        if problems:
            self._reject(problems)
            return Reply(status=400, body="no_text" if "no_text" in problems else "invalid_blocks")
        self.accepted.append(request)
        self.pings.extend(pings)
        self.messages.append(payload)
        return Reply(status=200, body="ok", headers={"Content-Type": "text/html"})

    def _post_message(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth:
            self._reject(["not_authed"])
            return Reply(body={"ok": False, "error": "not_authed"})
        if auth != f"Bearer {self.token}":
            self._reject(["invalid_auth"])
            return Reply(body={"ok": False, "error": "invalid_auth"})
        problems = _Problems()
        payload = _json_body(request, problems)
        if isinstance(payload, dict):
            problems.need(payload.get("channel"), "channel_not_found")
        more, pings = validate_slack_message(payload) if payload is not None else ([], [])
        problems.extend(more)
        if problems:
            self._reject(problems)
            error = (
                "no_text"
                if "no_text" in problems
                else ("channel_not_found" if "channel_not_found" in problems else "invalid_blocks")
            )
            return Reply(body={"ok": False, "error": error})
        thread = payload.get("thread_ts")
        if thread is not None and not any(m["ts"] == thread for m in self.messages):
            self._reject([f"thread_ts {thread} is not a message of this channel"])
            return Reply(body={"ok": False, "error": "thread_not_found"})
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {**payload, "ts": ts, "type": "message"}
        self.messages.append(message)
        self.accepted.append(request)
        self.pings.extend(pings)
        return Reply(
            body={"ok": True, "channel": payload["channel"], "ts": ts, "message": message}
        )


# -- PagerDuty -------------------------------------------------------------------------------


class PagerDutyImitation(Imitation):
    """
    PagerDuty Events API v2 at ``/v2/enqueue``: validates events, keeps one alert per
    ``dedup_key`` (:attr:`alerts`, with its status) and answers ``202`` like PagerDuty.
    """

    service = "pagerduty"

    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[str, dict[str, Any]] = {}

    @property
    def events_url(self) -> str:
        """The enqueue endpoint."""
        return self.url + "/v2/enqueue"

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """PagerDuty's error envelope."""
        if status == 429:
            return Reply(
                status=429,
                body={
                    "status": "throttle event",
                    "message": "Requests for this service are arriving too quickly.  Please retry later.",
                },
                headers=headers,
            )
        return Reply(
            status=status, body={"status": "error", "message": "internal error"}, headers=headers
        )

    def handle(self, request: Request) -> Reply:
        """Validate one event."""
        if request.path != "/v2/enqueue" or request.method != "POST":
            return Reply(status=404, body={"status": "not found"})
        problems = _Problems()
        event = _json_body(request, problems)
        if isinstance(event, dict):
            key = event.get("routing_key")
            problems.need(
                isinstance(key, str) and len(key) == 32,
                "routing_key must be a 32-character integration key",
            )
            action = event.get("event_action")
            problems.need(
                action in ("trigger", "acknowledge", "resolve"), "event_action is invalid"
            )
            dedup = event.get("dedup_key")
            problems.need(
                dedup is None or (isinstance(dedup, str) and 0 < len(dedup) <= 255),
                "dedup_key must be 1 to 255 characters",
            )
            if action != "trigger":
                problems.need(dedup, "dedup_key is required to acknowledge or resolve")
            else:
                payload = event.get("payload")
                if not isinstance(payload, dict):
                    problems.append("payload is required for trigger")
                else:
                    _text(payload.get("summary"), "payload.summary", problems, limit=1024)
                    _text(payload.get("source"), "payload.source", problems, limit=255)
                    problems.need(
                        payload.get("severity") in ("critical", "error", "warning", "info"),
                        "payload.severity is invalid",
                    )
                    if "timestamp" in payload:
                        problems.need(
                            _iso8601(payload["timestamp"]), "payload.timestamp is not ISO 8601"
                        )
                    if "custom_details" in payload:
                        problems.need(
                            isinstance(payload["custom_details"], dict | str),
                            "custom_details must be an object",
                        )
            for link in event.get("links", []) or []:
                problems.need(
                    isinstance(link, dict) and isinstance(link.get("href"), str),
                    "links[].href is required",
                )
        elif event is not None:
            problems.append("event must be a JSON object")
        if problems:
            self._reject(problems)
            return Reply(
                status=400,
                body={
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": list(problems),
                },
            )
        assert isinstance(event, dict)
        dedup = event.get("dedup_key") or f"pd-{len(self.alerts) + 1}"
        action = event["event_action"]
        current = self.alerts.get(dedup)
        if action == "trigger":
            if current is None or current["status"] == "resolved":
                self.alerts[dedup] = {"status": "triggered", "events": [event]}
            else:
                current["events"].append(event)
        elif current is not None and current["status"] != "resolved":
            current["status"] = "acknowledged" if action == "acknowledge" else "resolved"
            current["events"].append(event)
        self.accepted.append(request)
        return Reply(
            status=202,
            body={"status": "success", "message": "Event processed", "dedup_key": dedup},
        )


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


# -- Discord ---------------------------------------------------------------------------------

_DISCORD_MENTION = re.compile(r"(?<!\\)(@everyone|@here|<@!?(\d+)>|<@&(\d+)>)")


def discord_pings(message: Mapping[str, Any]) -> list[str]:
    """
    The mentions Discord would notify for a webhook *message*: only ``content`` pings, as
    ``allowed_mentions`` allows (webhooks parse user mentions by default).
    """
    content = message.get("content")
    if not isinstance(content, str):
        return []
    allowed = message.get("allowed_mentions")
    parse = set(allowed.get("parse", [])) if isinstance(allowed, dict) else {"users"}
    users = set(allowed.get("users", [])) if isinstance(allowed, dict) else set()
    roles = set(allowed.get("roles", [])) if isinstance(allowed, dict) else set()
    pings = []
    for m in _DISCORD_MENTION.finditer(content):
        token, user, role = m.group(1), m.group(2), m.group(3)
        if (
            (token in ("@everyone", "@here") and "everyone" in parse)
            or (user and ("users" in parse or user in users))
            or (role and ("roles" in parse or role in roles))
        ):
            pings.append(token)
    return pings


def validate_discord_message(message: Any) -> list[str]:
    """Check an execute-webhook body against Discord's documented limits."""
    problems = _Problems()
    if not isinstance(message, dict):
        return ["body must be a JSON object"]
    content, embeds = message.get("content"), message.get("embeds")
    problems.need(content or embeds or message.get("components"), "Cannot send an empty message")
    if content is not None:
        _text(content, "content", problems, limit=2000, required=False)
    allowed = message.get("allowed_mentions")
    if allowed is not None and problems.need(
        isinstance(allowed, dict), "allowed_mentions must be an object"
    ):
        parse = allowed.get("parse", [])
        problems.need(
            isinstance(parse, list) and set(parse) <= {"users", "roles", "everyone"},
            "allowed_mentions.parse is invalid",
        )
        for kind in ("users", "roles"):
            if kind in parse and allowed.get(kind):
                problems.append(
                    f"allowed_mentions: parse {kind!r} and {kind} are mutually exclusive"
                )
    if embeds is None:
        return problems
    if not isinstance(embeds, list) or len(embeds) > 10:
        return [*problems, "embeds: at most 10"]
    total = 0
    for i, embed in enumerate(embeds):
        where = f"embeds[{i}]"
        if not isinstance(embed, dict):
            problems.append(f"{where} must be an object")
            continue
        for name, limit in (("title", 256), ("description", 4096)):
            if name in embed:
                _text(embed[name], f"{where}.{name}", problems, limit=limit)
                total += len(embed[name]) if isinstance(embed[name], str) else 0
        if "color" in embed:
            problems.need(
                isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF,
                f"{where}.color is invalid",
            )
        if "timestamp" in embed:
            problems.need(_iso8601(embed["timestamp"]), f"{where}.timestamp is not ISO 8601")
        if "url" in embed:
            problems.need(
                isinstance(embed["url"], str) and embed["url"].startswith(("http://", "https://")),
                f"{where}.url is not a URL",
            )
        fields = embed.get("fields", [])
        problems.need(
            isinstance(fields, list) and len(fields) <= 25, f"{where}.fields: at most 25"
        )
        for j, field in enumerate(fields if isinstance(fields, list) else []):
            if isinstance(field, dict):
                _text(field.get("name"), f"{where}.fields[{j}].name", problems, limit=256)
                _text(field.get("value"), f"{where}.fields[{j}].value", problems, limit=1024)
                total += len(str(field.get("name", ""))) + len(str(field.get("value", "")))
        footer = embed.get("footer")
        if footer is not None and isinstance(footer, dict):
            _text(footer.get("text"), f"{where}.footer.text", problems, limit=2048)
            total += len(str(footer.get("text", "")))
        author = embed.get("author")
        if author is not None and isinstance(author, dict):
            _text(author.get("name"), f"{where}.author.name", problems, limit=256)
            total += len(str(author.get("name", "")))
    problems.need(total <= 6000, "embeds: more than 6000 characters in total")
    return problems


class DiscordImitation(Imitation):
    """Discord's Execute Webhook (``/api/webhooks/<id>/<token>``, ``?wait=true``)."""

    service = "discord"

    def __init__(self) -> None:
        super().__init__()
        self.webhook_id, self.token = "223704706495545344", "3d89bb7572e0fb30d8128367b3b1b44fecd1726de135cbe28a41f8b2f777c372ba2939e72279b94526ff5d1bd4358d65cf11"  # fmt: skip
        self.messages: list[dict[str, Any]] = []
        self._ids = itertools.count(334385199974967042)

    @property
    def webhook_url(self) -> str:
        """The webhook URL (with its token)."""
        return f"{self.url}/api/webhooks/{self.webhook_id}/{self.token}"

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Discord's rate-limit and error bodies."""
        if status == 429:
            after = float(headers.get("Retry-After", "1"))
            return Reply(
                status=429,
                body={
                    "message": "You are being rate limited.",
                    "retry_after": after,
                    "global": False,
                },
                headers={**headers, "X-RateLimit-Scope": "user"},
            )
        return Reply(
            status=status,
            body={"message": "500: Internal Server Error", "code": 0},
            headers=headers,
        )

    def handle(self, request: Request) -> Reply:
        """Validate one execute-webhook request."""
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["api", "webhooks"] or parts[2] != self.webhook_id:
            return Reply(status=404, body={"message": "Unknown Webhook", "code": 10015})
        if parts[3] != self.token:
            self._reject(["invalid webhook token"])
            return Reply(status=401, body={"message": "Invalid Webhook Token", "code": 50027})
        problems = _Problems()
        problems.need(request.method == "POST", "method must be POST")
        message = _json_body(request, problems)
        problems.extend(validate_discord_message(message) if message is not None else [])
        if problems:
            self._reject(problems)
            return Reply(
                status=400,
                body={
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": {
                        "_errors": [{"code": "BASE_TYPE_INVALID", "message": p} for p in problems]
                    },
                },
            )
        self.accepted.append(request)
        self.pings.extend(discord_pings(message))
        self.messages.append(message)
        if request.query.get("wait") != "true":
            return Reply(status=204)
        return Reply(
            body={
                "id": str(next(self._ids)),
                "type": 0,
                "channel_id": "199737254929760256",
                "webhook_id": self.webhook_id,
                "content": message.get("content", ""),
                "embeds": message.get("embeds", []),
                "mention_everyone": False,
                "timestamp": datetime.now().astimezone().isoformat(),
            }
        )


# -- Microsoft Teams -------------------------------------------------------------------------

_CARD_ELEMENTS = frozenset(
    {"TextBlock", "Image", "Media", "RichTextBlock", "Container", "ColumnSet", "Column",
     "FactSet", "ImageSet", "ActionSet", "Table", "Input.Text", "Input.Number", "Input.Date",
     "Input.Time", "Input.Toggle", "Input.ChoiceSet"}
)  # fmt: skip
_CARD_ACTIONS = frozenset(
    {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility",
     "Action.Execute"}
)  # fmt: skip


def _card_elements(elements: Any, where: str, problems: _Problems) -> None:
    if not problems.need(isinstance(elements, list), f"{where} must be a list"):
        return
    for i, el in enumerate(elements):
        at = f"{where}[{i}]"
        if not problems.need(isinstance(el, dict), f"{at} must be an object"):
            continue
        kind = el.get("type")
        problems.need(
            kind in _CARD_ELEMENTS, f"{at}.type {kind!r} is not an Adaptive Card element"
        )
        if kind == "TextBlock":
            problems.need(isinstance(el.get("text"), str), f"{at}.text is required")
        elif kind == "FactSet":
            facts = el.get("facts")
            if problems.need(isinstance(facts, list), f"{at}.facts is required"):
                for fact in facts:
                    problems.need(
                        isinstance(fact, dict)
                        and isinstance(fact.get("title"), str)
                        and isinstance(fact.get("value"), str),
                        f"{at}.facts: title and value must be strings",
                    )
        elif kind == "Container":
            _card_elements(el.get("items"), f"{at}.items", problems)
        elif kind == "ColumnSet":
            for j, col in enumerate(el.get("columns", []) or []):
                _card_elements(
                    col.get("items", []) if isinstance(col, dict) else None,
                    f"{at}.columns[{j}].items",
                    problems,
                )
        elif kind == "Image":
            problems.need(isinstance(el.get("url"), str), f"{at}.url is required")
        select = el.get("selectAction")
        if select is not None:
            _card_actions([select], f"{at}.selectAction", problems)


def _card_actions(actions: Any, where: str, problems: _Problems) -> None:
    if not problems.need(isinstance(actions, list), f"{where} must be a list"):
        return
    for i, action in enumerate(actions):
        if not problems.need(isinstance(action, dict), f"{where}[{i}] must be an object"):
            continue
        problems.need(action.get("type") in _CARD_ACTIONS, f"{where}[{i}].type is not an action")
        if action.get("type") == "Action.OpenUrl":
            url = action.get("url")
            problems.need(
                isinstance(url, str) and url.startswith(("http://", "https://")),
                f"{where}[{i}].url is required",
            )


def validate_adaptive_card(content: Any) -> list[str]:
    """Check an Adaptive Card against the schema's required parts (v1.0 to v1.5)."""
    problems = _Problems()
    if not isinstance(content, dict):
        return ["card must be an object"]
    problems.need(content.get("type") == "AdaptiveCard", "type must be AdaptiveCard")
    version = content.get("version")
    problems.need(
        version in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5"),
        f"version {version!r} is not supported by Teams",
    )
    _card_elements(content.get("body", []), "body", problems)
    if "actions" in content:
        _card_actions(content["actions"], "actions", problems)
    return problems


class TeamsImitation(Imitation):
    """
    A Teams Workflows webhook ("when a Teams webhook request is received"): checks the
    message envelope and every Adaptive Card in it, answers ``202 Accepted``.
    """

    service = "teams"

    def __init__(self) -> None:
        super().__init__()
        self.path = "/workflows/8c3f2a/triggers/manual/paths/invoke"
        self.signature = "sig-Xq1b2c3d4e5f6g7h8"
        self.cards: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        """The workflow trigger URL (with its signature)."""
        return f"{self.url}{self.path}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.signature}"

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Logic Apps' error envelope."""
        code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
        return Reply(
            status=status,
            body={"error": {"code": code, "message": "The request failed."}},
            headers=headers,
        )

    def handle(self, request: Request) -> Reply:
        """Validate one workflow trigger request."""
        if request.path != self.path:
            return Reply(
                status=404,
                body={
                    "error": {"code": "WorkflowNotFound", "message": "The workflow was not found."}
                },
            )
        if request.query.get("sig") != self.signature:
            self._reject(["invalid signature"])
            return Reply(
                status=401,
                body={
                    "error": {
                        "code": "DirectApiAuthorizationRequired",
                        "message": "The request must be authenticated.",
                    }
                },
            )
        problems = _Problems()
        body = _json_body(request, problems)
        problems.need(len(request.body) <= 28 * 1024, "message is larger than 28 KB")
        cards: list[dict[str, Any]] = []
        if isinstance(body, dict):
            problems.need(body.get("type") == "message", "type must be 'message'")
            attachments = body.get("attachments")
            if not isinstance(attachments, list) or not attachments:
                problems.append("attachments is required")
            else:
                for a in attachments:
                    if isinstance(a, dict) and problems.need(
                        a.get("contentType") == "application/vnd.microsoft.card.adaptive",
                        "contentType must be an Adaptive Card",
                    ):
                        problems.extend(validate_adaptive_card(a.get("content")))
                        cards.append(a.get("content") or {})
        if problems:
            self._reject(problems)
            return Reply(
                status=400,
                body={"error": {"code": "InvalidRequestContent", "message": "; ".join(problems)}},
            )
        self.accepted.append(request)
        self.cards.extend(cards)
        return Reply(status=202)


# -- Mattermost ------------------------------------------------------------------------------

_MM_MENTION = re.compile(r"(?<![\w\\])@([a-z0-9][a-z0-9._-]*)", re.IGNORECASE)


class MattermostImitation(Imitation):
    """Mattermost incoming webhooks at ``/hooks/<key>``: answers ``ok`` like Mattermost."""

    service = "mattermost"

    def __init__(self) -> None:
        super().__init__()
        self.key = "xr3j5x3p4pfk7kawx3x1xqt8bo"
        self.posts: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        """The webhook URL (with its key)."""
        return f"{self.url}/hooks/{self.key}"

    def _error(self, status: int, id_: str, message: str) -> Reply:
        return Reply(
            status=status,
            body={
                "id": id_,
                "message": message,
                "detailed_error": "",
                "request_id": "req1",
                "status_code": status,
            },
        )

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Mattermost's app error envelope."""
        reply = self._error(
            status,
            "api.context.429.app_error" if status == 429 else "app_error",
            "Too many requests. Please try again later." if status == 429 else "Internal error",
        )
        return attrs.evolve(reply, headers=headers)

    def handle(self, request: Request) -> Reply:
        """Validate one webhook post."""
        if request.path != f"/hooks/{self.key}":
            self._reject(["unknown webhook key"])
            return self._error(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.")
        problems = _Problems()
        body = _json_body(request, problems)
        texts: list[str] = []
        if isinstance(body, dict):
            text, attachments = body.get("text"), body.get("attachments")
            problems.need(text or attachments, "No text specified")
            if text is not None:
                _text(text, "text", problems, limit=16383, required=False)
                texts.append(str(text))
            if attachments is not None and problems.need(
                isinstance(attachments, list), "attachments must be a list"
            ):
                for a in attachments:
                    if problems.need(isinstance(a, dict), "attachment must be an object"):
                        for name in ("text", "pretext", "title", "fallback", "footer"):
                            if name in a:
                                problems.need(
                                    isinstance(a[name], str), f"attachment {name} must be a string"
                                )
                        for f in a.get("fields", []) or []:
                            problems.need(
                                isinstance(f, dict) and isinstance(f.get("title"), str),
                                "attachment field title must be a string",
                            )
        elif body is not None:
            problems.append("body must be a JSON object")
        if problems:
            self._reject(problems)
            return self._error(400, "web.incoming_webhook.text.app_error", "; ".join(problems))
        self.accepted.append(request)
        self.pings.extend("@" + m.group(1) for t in texts for m in _MM_MENTION.finditer(t))
        self.posts.append(body)
        return Reply(status=200, body="ok", headers={"Content-Type": "text/plain"})


# -- GitHub Issues ---------------------------------------------------------------------------

_GH_DOCS = "https://docs.github.com/rest/issues/issues"


class GitHubImitation(Imitation):
    """
    GitHub's REST API for issues of one repository: create (``201``), comment (``201``) and
    update (``200``); ``401 Bad credentials``, ``422 Validation Failed`` and ``403`` rate
    limits (``x-ratelimit-remaining: 0``) like GitHub.
    """

    service = "github"

    def __init__(
        self,
        *,
        repo: str = "octo-org/support",
        token: str = "ghp_test0123456789abcdefghij",  # noqa: S107
    ) -> None:
        super().__init__()
        self.repo, self.token = repo, token
        self.issues: dict[int, dict[str, Any]] = {}

    def _headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """GitHub's rate-limit and error bodies (a 403 carries the exhausted budget)."""
        if status in (403, 429):
            reset = str(int(time.time()) + int(float(headers.get("Retry-After", "60"))))
            return Reply(
                status=status,
                body={
                    "message": "API rate limit exceeded for installation.",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                },
                headers={**headers, "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            )
        return Reply(status=status, body={"message": "Server Error"}, headers=headers)

    def _invalid(self, field: str, code: str = "missing_field") -> Reply:
        self._reject([f"{field}: {code}"])
        return Reply(
            status=422,
            body={
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": code, "field": field}],
                "documentation_url": _GH_DOCS,
            },
            headers=self._headers(),
        )

    def handle(self, request: Request) -> Reply:
        """Route and validate an issues request."""
        if request.headers.get("authorization") not in (
            f"Bearer {self.token}",
            f"token {self.token}",
        ):
            self._reject(["bad credentials"])
            return Reply(
                status=401,
                body={
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "401",
                },
            )
        prefix = f"/repos/{self.repo}/issues"
        if not request.path.startswith(prefix):
            return Reply(
                status=404,
                body={"message": "Not Found", "documentation_url": _GH_DOCS, "status": "404"},
            )
        rest = request.path[len(prefix) :].strip("/").split("/") if request.path != prefix else []
        problems = _Problems()
        body = _json_body(request, problems)
        if problems or not isinstance(body, dict):
            self._reject(problems or ["body must be an object"])
            return Reply(
                status=400,
                body={
                    "message": "Problems parsing JSON",
                    "documentation_url": _GH_DOCS,
                    "status": "400",
                },
            )
        if not rest and request.method == "POST":
            title = body.get("title")
            if not isinstance(title, str) or not title.strip():
                return self._invalid("title")
            if len(title) > 256:
                return self._invalid("title", "custom")
            text = body.get("body")
            if text is not None and (not isinstance(text, str) or len(text) > 65536):
                return self._invalid("body", "custom")
            for name in ("labels", "assignees"):
                if name in body and not (
                    isinstance(body[name], list) and all(isinstance(x, str) for x in body[name])
                ):
                    return self._invalid(name, "invalid")
            number = len(self.issues) + 1
            issue: dict[str, Any] = {
                "number": number,
                "title": title,
                "body": text,
                "state": "open",
                "labels": [{"name": n} for n in body.get("labels", [])],
                "comments": [],
                "html_url": f"https://github.com/{self.repo}/issues/{number}",
                "url": f"https://api.github.com/repos/{self.repo}/issues/{number}",
            }
            self.issues[number] = issue
            self.accepted.append(request)
            return Reply(
                status=201,
                body={k: v for k, v in issue.items() if k != "comments"} | {"comments": 0},
                headers=self._headers(),
            )
        if rest and rest[0].isdigit() and int(rest[0]) in self.issues:
            issue = self.issues[int(rest[0])]
            if rest[1:] == ["comments"] and request.method == "POST":
                text = body.get("body")
                if not isinstance(text, str) or not text or len(text) > 65536:
                    return self._invalid("body")
                issue["comments"].append(text)
                self.accepted.append(request)
                return Reply(
                    status=201,
                    body={"id": len(issue["comments"]), "body": text},
                    headers=self._headers(),
                )
            if not rest[1:] and request.method == "PATCH":
                if body.get("state") not in (None, "open", "closed") or body.get(
                    "state_reason"
                ) not in (None, "completed", "not_planned", "reopened"):
                    return self._invalid("state", "invalid")
                issue.update(
                    {k: body[k] for k in ("state", "state_reason", "title", "body") if k in body}
                )
                self.accepted.append(request)
                return Reply(
                    status=200,
                    body={k: v for k, v in issue.items() if k != "comments"},
                    headers=self._headers(),
                )
        return Reply(
            status=404,
            body={"message": "Not Found", "documentation_url": _GH_DOCS, "status": "404"},
        )


# -- Jira ------------------------------------------------------------------------------------

_ADF_BLOCKS = frozenset(
    {"paragraph", "heading", "bulletList", "orderedList", "listItem", "blockquote", "codeBlock",
     "rule", "panel", "table", "tableRow", "tableHeader", "tableCell", "mediaSingle"}
)  # fmt: skip
_ADF_INLINE = frozenset({"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"})
_ADF_MARKS = frozenset(
    {"strong", "em", "code", "link", "strike", "underline", "subsup", "textColor"}
)


def validate_adf(doc: Any) -> list[str]:
    """Check an Atlassian Document Format document's structure."""
    problems = _Problems()
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return ["ADF: the root must be {'type': 'doc', 'version': 1, ...}"]

    def walk(node: Any, where: str, *, inline: bool) -> None:
        if not problems.need(isinstance(node, dict), f"{where} must be an object"):
            return
        kind = node.get("type")
        allowed = _ADF_INLINE if inline else _ADF_BLOCKS
        if not problems.need(kind in allowed, f"{where}: {kind!r} is not allowed here"):
            return
        if kind == "text":
            text = node.get("text")
            problems.need(
                isinstance(text, str) and text != "", f"{where}: text nodes must not be empty"
            )
            for mark in node.get("marks", []) or []:
                ok = isinstance(mark, dict) and mark.get("type") in _ADF_MARKS
                problems.need(ok, f"{where}: unknown mark {mark!r}")
                if ok and mark["type"] == "link":
                    href = (mark.get("attrs") or {}).get("href")
                    problems.need(
                        isinstance(href, str) and href, f"{where}: link mark needs attrs.href"
                    )
            return
        children = node.get("content", [])
        problems.need(isinstance(children, list), f"{where}.content must be a list")
        child_inline = kind in ("paragraph", "heading")
        for i, child in enumerate(children if isinstance(children, list) else []):
            if kind in ("bulletList", "orderedList"):
                problems.need(
                    isinstance(child, dict) and child.get("type") == "listItem",
                    f"{where}.content[{i}] must be a listItem",
                )
            walk(child, f"{where}.content[{i}]", inline=child_inline)

    content = doc.get("content")
    if not isinstance(content, list):
        problems.append("ADF: content must be a list")
    else:
        for i, node in enumerate(content):
            walk(node, f"content[{i}]", inline=False)
    return problems


class JiraImitation(Imitation):
    """
    Jira Cloud REST v3: create issue (``201 {"id","key","self"}``), comment (``201``) and
    transitions (``204``), basic auth with an email and API token; errors as
    ``{"errorMessages": [...], "errors": {...}}``.
    """

    service = "jira"

    def __init__(
        self,
        *,
        email: str = "bot@example.com",
        api_token: str = "ATATT3xFfGF0test-token",  # noqa: S107
        project: str = "OPS",
    ) -> None:
        super().__init__()
        self.email, self.api_token, self.project = email, api_token, project
        self.issues: dict[str, dict[str, Any]] = {}
        self.transitions = {"31": "Done", "21": "In Progress"}

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Jira's error envelope."""
        message = "Rate limit exceeded." if status == 429 else "Internal server error."
        return Reply(
            status=status, body={"errorMessages": [message], "errors": {}}, headers=headers
        )

    def _errors(
        self, status: int, errors: Mapping[str, str], messages: Sequence[str] = ()
    ) -> Reply:
        self._reject([*messages, *(f"{k}: {v}" for k, v in errors.items())])
        return Reply(status=status, body={"errorMessages": list(messages), "errors": dict(errors)})

    def handle(self, request: Request) -> Reply:
        """Route and validate a REST v3 request."""
        if _basic(request) != (self.email, self.api_token):
            self._reject(["authentication failed"])
            return Reply(status=401, body="Client must be authenticated to access this resource.")
        problems = _Problems()
        body = _json_body(request, problems)
        if problems or not isinstance(body, dict):
            return self._errors(400, {}, ["Unexpected character in the request body."])
        parts = request.path.split("/")
        if request.path == "/rest/api/3/issue" and request.method == "POST":
            fields = body.get("fields")
            if not isinstance(fields, dict):
                return self._errors(400, {}, ["fields is required"])
            errors: dict[str, str] = {}
            if (fields.get("project") or {}).get("key") != self.project:
                errors["project"] = "valid project is required"
            if not isinstance((fields.get("issuetype") or {}).get("name"), str):
                errors["issuetype"] = "valid issue type is required"
            summary = fields.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors["summary"] = "You must specify a summary of the issue."
            elif len(summary) > 255 or "\n" in summary:
                errors["summary"] = "Summary must be less than 255 characters and one line."
            if "description" in fields:
                adf = validate_adf(fields["description"])
                if adf:
                    errors["description"] = (
                        "Operation value must be an Atlassian Document: " + "; ".join(adf)
                    )
            for label in fields.get("labels", []) or []:
                if not isinstance(label, str) or " " in label or len(label) > 255:
                    errors["labels"] = "Labels cannot contain spaces."
            if "priority" in fields and not isinstance(
                (fields["priority"] or {}).get("name"), str
            ):
                errors["priority"] = "Priority name must be a string."
            if errors:
                return self._errors(400, errors)
            number = len(self.issues) + 1
            key = f"{self.project}-{number}"
            self.issues[key] = {"fields": fields, "comments": [], "status": "To Do"}
            self.accepted.append(request)
            return Reply(
                status=201,
                body={
                    "id": str(10000 + number),
                    "key": key,
                    "self": f"{self.url}/rest/api/3/issue/{10000 + number}",
                },
            )
        if (
            len(parts) == 7
            and parts[:5] == ["", "rest", "api", "3", "issue"]
            and parts[5] in self.issues
        ):
            issue = self.issues[parts[5]]
            if parts[6] == "comment" and request.method == "POST":
                adf = validate_adf(body.get("body"))
                if adf:
                    return self._errors(
                        400, {"comment": "Comment body is not valid ADF: " + "; ".join(adf)}
                    )
                issue["comments"].append(body["body"])
                self.accepted.append(request)
                return Reply(
                    status=201, body={"id": str(len(issue["comments"])), "body": body["body"]}
                )
            if parts[6] == "transitions" and request.method == "POST":
                tid = (body.get("transition") or {}).get("id")
                if tid not in self.transitions:
                    return self._errors(
                        400, {}, [f"Transition id '{tid}' is not valid for this issue."]
                    )
                issue["status"] = self.transitions[tid]
                self.accepted.append(request)
                return Reply(status=204)
        return Reply(
            status=404,
            body={
                "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                "errors": {},
            },
        )


# -- Zendesk ---------------------------------------------------------------------------------


class ZendeskImitation(Imitation):
    """
    Zendesk Support tickets (``/api/v2/tickets.json``, ``/api/v2/tickets/<id>.json``) with API
    token auth and ``Idempotency-Key`` on creation: a repeated key with the same body returns
    the first answer (``x-idempotency-lookup: hit``), with another body ``400``.
    """

    service = "zendesk"

    def __init__(
        self,
        *,
        email: str = "agent@example.com",
        api_token: str = "zd-test-token-0123456789",  # noqa: S107
    ) -> None:
        super().__init__()
        self.email, self.api_token = email, api_token
        self.tickets: dict[int, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[bytes, Reply]] = {}

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Zendesk's error bodies."""
        if status == 429:
            return Reply(
                status=429,
                body={
                    "error": "APIRateLimitExceeded",
                    "description": "Number of allowed API requests per minute exceeded",
                },
                headers=headers,
            )
        return Reply(
            status=status,
            body={"error": "InternalError", "description": "Server error"},
            headers=headers,
        )

    def _invalid(self, details: Mapping[str, str]) -> Reply:
        self._reject([f"{k}: {v}" for k, v in details.items()])
        return Reply(
            status=422,
            body={
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {k: [{"description": v}] for k, v in details.items()},
            },
        )

    def _check(self, ticket: Mapping[str, Any], *, creating: bool) -> dict[str, str]:
        errors: dict[str, str] = {}
        comment = ticket.get("comment")
        if creating and not isinstance(comment, dict):
            errors["comment"] = "Description: cannot be blank"
        if isinstance(comment, dict):
            body = comment.get("body", comment.get("html_body"))
            if not isinstance(body, str) or not body.strip():
                errors["comment"] = "Description: cannot be blank"
            elif len(body) > 65_536:
                errors["comment"] = "Comment is too long"
        if "priority" in ticket and ticket["priority"] not in ("urgent", "high", "normal", "low"):
            errors["priority"] = "Priority is invalid"
        if "status" in ticket and ticket["status"] not in (
            "new",
            "open",
            "pending",
            "hold",
            "solved",
            "closed",
        ):
            errors["status"] = "Status is invalid"
        subject = ticket.get("subject")
        if subject is not None and (not isinstance(subject, str) or len(subject) > 255):
            errors["subject"] = "Subject is too long"
        tags = ticket.get("tags", [])
        if not isinstance(tags, list) or not all(
            isinstance(t, str) and " " not in t for t in tags
        ):
            errors["tags"] = "Tags must be words"
        return errors

    def handle(self, request: Request) -> Reply:
        """Route and validate a tickets request."""
        if _basic(request) != (f"{self.email}/token", self.api_token):
            self._reject(["authentication failed"])
            return Reply(status=401, body={"error": "Couldn't authenticate you"})
        problems = _Problems()
        body = _json_body(request, problems)
        if problems or not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
            self._reject(problems or ["ticket is required"])
            return Reply(
                status=400, body={"error": "InvalidEndpoint", "description": "Ticket is required"}
            )
        ticket = body["ticket"]
        if request.path == "/api/v2/tickets.json" and request.method == "POST":
            key = request.headers.get("idempotency-key")
            if key and key in self._idempotent:
                raw, reply = self._idempotent[key]
                if raw != request.body:
                    self._reject(["Idempotency-Key reused with another body"])
                    return Reply(
                        status=400,
                        body={
                            "error": "IdempotentRequestError",
                            "description": "Request parameters do not match the original request",
                        },
                    )
                return attrs.evolve(
                    reply, headers={**reply.headers, "x-idempotency-lookup": "hit"}
                )
            errors = self._check(ticket, creating=True)
            if errors:
                return self._invalid(errors)
            ticket_id = len(self.tickets) + 1
            stored = {
                "id": ticket_id,
                "status": ticket.get("status", "new"),
                **{k: v for k, v in ticket.items() if k != "comment"},
                "comments": [ticket["comment"]],
            }
            self.tickets[ticket_id] = stored
            self.accepted.append(request)
            reply = Reply(
                status=201,
                body={
                    "ticket": {k: v for k, v in stored.items() if k != "comments"}
                    | {"url": f"{self.url}/api/v2/tickets/{ticket_id}.json"}
                },
                headers={
                    "Location": f"{self.url}/api/v2/tickets/{ticket_id}.json",
                    "x-idempotency-lookup": "miss",
                },
            )
            if key:
                self._idempotent[key] = (request.body, reply)
            return reply
        match = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", request.path)
        if match and request.method == "PUT" and int(match.group(1)) in self.tickets:
            errors = self._check(ticket, creating=False)
            if errors:
                return self._invalid(errors)
            stored = self.tickets[int(match.group(1))]
            if "comment" in ticket:
                stored["comments"].append(ticket["comment"])
            stored.update({k: v for k, v in ticket.items() if k != "comment"})
            self.accepted.append(request)
            return Reply(
                status=200, body={"ticket": {k: v for k, v in stored.items() if k != "comments"}}
            )
        return Reply(status=404, body={"error": "RecordNotFound", "description": "Not found"})


# -- Opsgenie --------------------------------------------------------------------------------


class OpsgenieImitation(Imitation):
    """
    Opsgenie Alert API v2: create (deduplicated by ``alias`` while open), notes, acknowledge
    and close by alias; ``202 {"result": "Request will be processed", ...}`` like Opsgenie.
    """

    service = "opsgenie"

    def __init__(self, *, api_key: str = "eb243592-faa2-4ba2-a551q-1afdf565c889") -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def _processed(self) -> Reply:
        return Reply(
            status=202,
            body={
                "result": "Request will be processed",
                "took": 0.012,
                "requestId": f"43a29c5c-3dbf-4fa4-9c26-{next(self._ids):012d}",
            },
        )

    def error_reply(self, status: int, headers: Mapping[str, str]) -> Reply:
        """Opsgenie's error envelope."""
        message = (
            "You are making too many requests! To avoid errors, we recommend you limit requests."
            if status == 429
            else "Internal Server Error"
        )
        return Reply(
            status=status,
            body={"message": message, "took": 0.001, "requestId": "0"},
            headers=headers,
        )

    def _invalid(self, errors: Mapping[str, str]) -> Reply:
        self._reject([f"{k}: {v}" for k, v in errors.items()])
        return Reply(
            status=422,
            body={
                "message": "Request body is not processable. Please check the errors.",
                "errors": dict(errors),
                "took": 0.001,
                "requestId": "0",
            },
        )

    def handle(self, request: Request) -> Reply:
        """Route and validate an alert request."""
        if request.headers.get("authorization") != f"GenieKey {self.api_key}":
            self._reject(["could not authenticate"])
            return Reply(
                status=401,
                body={"message": "Could not authenticate", "took": 0.0, "requestId": "0"},
            )
        problems = _Problems()
        body = _json_body(request, problems)
        if problems or not isinstance(body, dict) or request.method != "POST":
            self._reject(problems or ["body must be an object"])
            return self._invalid({"body": "must be a JSON object"})
        if request.path == "/v2/alerts":
            errors: dict[str, str] = {}
            message = body.get("message")
            if not isinstance(message, str) or not message.strip():
                errors["message"] = "Message can not be empty."
            elif len(message) > 130:
                errors["message"] = "Message can not be longer than 130 characters."
            for name, limit in (
                ("alias", 512),
                ("description", 15000),
                ("entity", 512),
                ("source", 100),
                ("note", 25000),
            ):
                if name in body and (not isinstance(body[name], str) or len(body[name]) > limit):
                    errors[name] = f"{name} can not be longer than {limit} characters."
            if "priority" in body and body["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
                errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
            tags = body.get("tags", [])
            if (
                not isinstance(tags, list)
                or len(tags) > 20
                or any(not isinstance(t, str) or len(t) > 50 for t in tags)
            ):
                errors["tags"] = "Tags can not be more than 20, each at most 50 characters."
            details = body.get("details", {})
            if not isinstance(details, dict) or any(
                not isinstance(v, str) for v in details.values()
            ):
                errors["details"] = "Details must be a map of strings."
            elif sum(len(k) + len(v) for k, v in details.items()) > 8000:
                errors["details"] = "Details can not be longer than 8000 characters."
            if errors:
                return self._invalid(errors)
            alias = body.get("alias") or f"alert-{len(self.alerts) + 1}"
            current = self.alerts.get(alias)
            if current is not None and current["status"] == "open":
                current["count"] += 1
            else:
                self.alerts[alias] = {
                    "status": "open",
                    "acknowledged": False,
                    "count": 1,
                    "notes": [],
                    "alert": body,
                }
            self.accepted.append(request)
            return self._processed()
        match = re.fullmatch(r"/v2/alerts/([^/]+)/(close|acknowledge|notes)", request.path)
        if match and request.query.get("identifierType") == "alias":
            alias, action = unquote(match.group(1)), match.group(2)
            current = self.alerts.get(alias)
            if current is None:
                return Reply(
                    status=404,
                    body={
                        "message": f"Alert with alias [{alias}] does not exist",
                        "took": 0.0,
                        "requestId": "0",
                    },
                )
            if action == "notes":
                note = body.get("note")
                if not isinstance(note, str) or not note or len(note) > 25000:
                    return self._invalid({"note": "Note can not be empty."})
                current["notes"].append(note)
            elif action == "close":
                current["status"] = "closed"
            else:
                current["acknowledged"] = True
            self.accepted.append(request)
            return self._processed()
        return Reply(status=404, body={"message": "Not Found", "took": 0.0, "requestId": "0"})
