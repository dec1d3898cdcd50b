"""
Rendering shared by the sinks: one neutral view of a post or alert, escaping for each markup
language, and truncation that respects each destination's limits.

User content (post text, author names, titles coming from posts) is *data*: every function
here that builds markup escapes it first, so a post can never ping ``@channel``, mention a
user, or show a link whose text lies about its target.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..model import Alert, Delivery, Item, Post


ELLIPSIS = "\u2026"
_WJ = "\u2060"  # WORD JOINER: invisible, breaks "@channel" into plain text everywhere

#: Severity names by our P1..P4 scale, and the accent colours chat cards use.
SEVERITY_COLORS: Mapping[str, str] = {
    "P1": "#d32f2f",
    "P2": "#f57c00",
    "P3": "#fbc02d",
    "P4": "#1976d2",
}
POST_COLOR = "#607d8b"

#: Bounds of an alert's facts in every layout (its ``data`` may be large).
FACTS_MAX = 25
FACT_NAME_MAX = 100
FACT_VALUE_MAX = 500

#: A renderer: the default layout of a sink, or the user's own.
Renderer = Callable[[Item], Any]


def truncate(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """
    Return *text* cut to at most *limit* characters, ending with *ellipsis* when cut.

    Never splits a surrogate pair or leaves a dangling escape backslash at the cut.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[:limit]
    cut = text[: limit - len(ellipsis)].rstrip()
    # A markup escape must not lose the character it escapes.
    if cut.endswith("\\") and (len(cut) - len(cut.rstrip("\\"))) % 2 == 1:
        cut = cut[:-1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and len(cut) - amp <= 8:
        cut = cut[:amp]
    return cut + ellipsis


def truncate_bytes(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """Like :func:`truncate` but *limit* counts UTF-8 bytes (Matrix events, email lines)."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    room = limit - len(ellipsis.encode())
    if room <= 0:
        return ""
    return encoded[:room].decode(errors="ignore").rstrip() + ellipsis


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) into single spaces."""
    return " ".join(text.split())


# -- escaping --------------------------------------------------------------------------------

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone|all|room)\b)", re.IGNORECASE)
_AT = re.compile(r"@(?=[\w.-])")


def defuse_mentions(text: str, *, all_mentions: bool = False) -> str:
    """
    Break ``@channel``, ``@here``, ``@everyone``, ``@all`` and ``@room`` with an invisible
    word joiner so no destination reads them as a broadcast; with *all_mentions*, break every
    ``@name`` too (GitHub, Mattermost notify any mentioned user).
    """
    pattern = _AT if all_mentions else _BROADCAST
    return pattern.sub("@" + _WJ, text)


def slack_escape(text: str) -> str:
    """
    Escape text for Slack ``mrkdwn`` and ``plain_text``: ``&``, ``<`` and ``>`` become
    entities (so ``<!channel>``, ``<@U123>`` and ``<url|label>`` stay literal) and broadcast
    words are defused.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return defuse_mentions(text)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")
_MD_LINE_START = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))", re.MULTILINE)


def _escape_marker(m: re.Match[str]) -> str:
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


def markdown_escape(text: str, *, all_mentions: bool = False) -> str:
    """
    Backslash-escape the Markdown that matters (Discord, Mattermost, GitHub, Teams): links
    and images (``[good](evil)``), autolinks and HTML, emphasis, code, headings, tables, and
    list or setext markers at the start of a line; defuse mentions. Plain punctuation such
    as ``.`` or ``(`` stays as written.
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    escaped = _MD_LINE_START.sub(_escape_marker, escaped)
    return defuse_mentions(escaped, all_mentions=all_mentions)


def html_escape(text: str) -> str:
    """Escape text for HTML bodies and attributes (email, Matrix ``formatted_body``)."""
    return html.escape(text, quote=True)


_URL_QUOTE = str.maketrans({"(": "%28", ")": "%29", "[": "%5B", "]": "%5D"})


def safe_url(url: str | None) -> str | None:
    """
    Return *url* if it is an ``http(s)`` URL without whitespace or markup (``( ) [ ]``
    percent-encoded so it cannot close a Markdown link), else ``None``.
    """
    if not url:
        return None
    if not re.fullmatch(r"https?://[^\s<>\"'`|\\{}^]+", url):
        return None
    return url.translate(_URL_QUOTE)


# -- the neutral view ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Sample:
    """One post quoted inside a card: who said what, where."""

    author: str
    text: str
    url: str | None
    platform: str


@attrs.frozen(kw_only=True)
class Card:
    """
    What every default layout shows, in plain text: escape it for the destination.

    Attributes:
        kind: ``"post"`` or the alert's kind.
        title: One line.
        text: The body (post text, alert summary).
        url: Link for people, if safe.
        fields: Short (name, value) facts.
        severity: ``P1``..``P4`` for alerts, ``None`` for posts.
        color: Accent colour ``#rrggbb``.
        footer: Small print (platform, source, time).
        samples: Posts quoted by an alert.
        incident: The alert's incident key.
    """

    kind: str
    title: str
    text: str
    url: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    severity: str | None = None
    color: str = POST_COLOR
    footer: str = ""
    samples: tuple[Sample, ...] = ()
    incident: str | None = None
    timestamp: str = ""


def author_label(post: Post) -> str:
    """``Name (@handle)``, ``@handle`` or ``Name``; ``unknown`` when the post says nothing."""
    name, handle = post.author.name.strip(), post.author.handle.strip()
    if name and handle:
        return f"{name} (@{handle.lstrip('@')})"
    if handle:
        return "@" + handle.lstrip("@")
    return name or "unknown"


def _sample(post: Post) -> Sample:
    return Sample(
        author=author_label(post),
        text=post.text or (post.title or ""),
        url=safe_url(post.url),
        platform=post.platform,
    )


def _fact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fact(v) for v in value)
    return str(value)


def post_card(post: Post) -> Card:
    """The neutral view of a post."""
    title = post.title or f"{author_label(post)} on {post.platform}"
    if post.event == "update":
        title = f"Edited: {title}"
    elif post.event == "delete":
        title = f"Deleted: {title}"
    fields: list[tuple[str, str]] = []
    if post.title:
        fields.append(("Author", author_label(post)))
    if post.engagement.total:
        fields.append(("Engagement", str(post.engagement.total)))
    matched = post.annotations.get("matched")
    if matched:
        fields.append(("Matched", _fact(matched)))
    sentiment = post.annotations.get("sentiment")
    if sentiment is not None:
        fields.append(("Sentiment", _fact(sentiment)))
    text = post.text
    if post.spoiler:
        text = f"CW: {post.spoiler}\n\n{text}"
    return Card(
        kind="post",
        title=title,
        text=text,
        url=safe_url(post.url),
        fields=tuple(fields),
        footer=" · ".join(x for x in (post.platform, post.source) if x),
        timestamp=post.created_at.isoformat(),
    )


def alert_card(alert: Alert) -> Card:
    """The neutral view of an alert (incident, spike, digest...)."""
    fields: list[tuple[str, str]] = [("Severity", alert.severity), ("Kind", alert.kind)]
    if alert.incident:
        fields.append(("Incident", alert.incident))
    if alert.team:
        fields.append(("Team", alert.team))
    fields.extend(
        (truncate(str(k), FACT_NAME_MAX), truncate(_fact(v), FACT_VALUE_MAX))
        for k, v in alert.data.items()
        if v is not None
    )
    return Card(
        kind=alert.kind,
        title=alert.title,
        text=alert.summary,
        url=safe_url(alert.url),
        fields=tuple(fields[:FACTS_MAX]),
        severity=alert.severity,
        color=SEVERITY_COLORS.get(alert.severity, POST_COLOR),
        footer=" · ".join(x for x in ("socialplug", alert.route or "") if x),
        samples=tuple(_sample(p) for p in alert.posts),
        incident=alert.incident,
        timestamp=alert.created_at.isoformat(),
    )


def card(item: Item) -> Card:
    """The neutral view of a post or alert."""
    return alert_card(item) if isinstance(item, Alert) else post_card(item)


def status_of(alert: Alert) -> str:
    """``"trigger"``, ``"acknowledge"`` or ``"resolve"``: where an alert moves its incident."""
    kind = alert.kind.lower()
    if kind.endswith((".resolved", ".closed")) or kind in ("resolved", "resolve"):
        return "resolve"
    if kind.endswith((".acknowledged", ".acked")) or kind in ("acknowledged", "acknowledge"):
        return "acknowledge"
    return "trigger"


def more_line(shown: int, total: int) -> str:
    """``"… and 12 more"`` when some samples were left out, else ``""``."""
    return f"{ELLIPSIS} and {total - shown} more" if total > shown else ""


def render_items(
    batch: Sequence[Delivery], render: Callable[[Item], Any]
) -> list[tuple[Delivery, Any]]:
    """Render every delivery of *batch* up front, so a bad layout fails before any I/O."""
    return [(d, render(d.item)) for d in batch]
