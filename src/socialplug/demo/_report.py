"""
The demo's HTML report: self-contained, charts drawn as inline SVG, no script.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model import Delivery, Post
from ._world import DAY


if TYPE_CHECKING:
    from ._run import DemoResult

__all__ = ["write_report"]

ROUTE_COLORS = {
    "operations": "#d9480f",
    "support": "#1c7ed6",
    "management": "#7048e8",
    "archive": "#868e96",
}
SENTIMENT_COLORS = {"negative": "#e03131", "neutral": "#adb5bd", "positive": "#2f9e44"}
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 260, 48, 16, 16, 34


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _x(when: datetime) -> float:
    frac = (when - DAY).total_seconds() / 86400
    return PAD_L + frac * (W - PAD_L - PAD_R)


def _axes(max_y: int, label: str) -> list[str]:
    parts = [
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" class="axis"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" class="axis"/>',
        f'<text x="8" y="{PAD_T + 8}" class="tick">{_e(label)}</text>',
    ]
    for hour in range(0, 25, 3):
        x = _x(DAY + timedelta(hours=hour))
        parts.append(
            f'<line x1="{x:.1f}" y1="{H - PAD_B}" x2="{x:.1f}" y2="{H - PAD_B + 4}" class="axis"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD_B + 16}" class="tick" text-anchor="middle">{hour:02d}:00</text>'
        )
    for frac in (0.5, 1.0):
        y = H - PAD_B - frac * (H - PAD_T - PAD_B)
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{round(max_y * frac)}</text>'
        )
    return parts


def _y(value: float, max_y: float) -> float:
    return H - PAD_B - (value / max_y) * (H - PAD_T - PAD_B) if max_y else H - PAD_B


def _svg(parts: Sequence[str], title: str, chart_id: str) -> str:
    body = "\n".join(parts)
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_e(title)}</title>\n{body}\n</svg>"
    )


def _bucket(when: datetime, minutes: int) -> datetime:
    offset = int((when - DAY).total_seconds() // (minutes * 60))
    return DAY + timedelta(minutes=offset * minutes)


def volume_chart(
    posts_by_route: Mapping[str, Sequence[Post]], marks: Sequence[tuple[datetime, str, str]]
) -> str:
    """Mentions per 15 minutes, one line per route, incident events marked."""
    minutes = 15
    slots = [DAY + timedelta(minutes=minutes * i) for i in range(24 * 60 // minutes)]
    counts = {
        r: Counter(_bucket(p.created_at, minutes) for p in ps) for r, ps in posts_by_route.items()
    }
    max_y = max([1, *(max(c.values(), default=0) for c in counts.values())])
    parts = _axes(max_y, "posts / 15 min")
    for i, (when, label, color) in enumerate(marks):
        x = _x(when)
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{H - PAD_B}" stroke="{color}" stroke-dasharray="4 3" class="mark"/>'
        )
        anchor = "end" if i == 0 else "start"
        dx = -4 if i == 0 else 4
        parts.append(
            f'<text x="{x + dx:.1f}" y="{PAD_T + 12 + 14 * i}" class="tick" fill="{color}" text-anchor="{anchor}">{_e(label)}</text>'
        )
    for route, counter in counts.items():
        points = " ".join(
            f"{_x(s + timedelta(minutes=minutes / 2)):.1f},{_y(counter.get(s, 0), max_y):.1f}"
            for s in slots
        )
        color = ROUTE_COLORS.get(route, "#333")
        parts.append(
            f'<polyline class="series" data-route="{_e(route)}" points="{points}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
    return _svg(parts, "Mention volume over time by route", "volume")


def sentiment_chart(posts: Sequence[Post]) -> str:
    """Posts per hour stacked by sentiment."""
    per_hour: dict[int, Counter[str]] = defaultdict(Counter)
    for p in posts:
        label = (p.annotations.get("sentiment") or {}).get("label", "neutral")
        per_hour[(p.created_at - DAY) // timedelta(hours=1)][label] += 1
    max_y = max([1, *(sum(c.values()) for c in per_hour.values())])
    parts = _axes(max_y, "posts / hour")
    width = (W - PAD_L - PAD_R) / 24 - 3
    for hour in range(24):
        base = 0
        for label in ("negative", "neutral", "positive"):
            n = per_hour[hour][label]
            if not n:
                continue
            y0, y1 = _y(base, max_y), _y(base + n, max_y)
            x = _x(DAY + timedelta(hours=hour)) + 1.5
            parts.append(
                f'<rect class="bar" data-sentiment="{label}" x="{x:.1f}" y="{y1:.1f}" width="{width:.1f}" '
                f'height="{y0 - y1:.1f}" fill="{SENTIMENT_COLORS[label]}"><title>{hour:02d}:00 {label}: {n}</title></rect>'
            )
            base += n
    return _svg(parts, "Sentiment of mentions per hour", "sentiment")


def timeline_chart(alerts: Sequence[Mapping[str, Any]], onset: datetime) -> str:
    """Spike, incident and escalation events on the evening's timeline."""
    start = onset - timedelta(hours=1)
    end = max([onset + timedelta(hours=3), *(a["at"] + timedelta(minutes=20) for a in alerts)])
    span = (end - start).total_seconds()

    def x(when: datetime) -> float:
        return float(PAD_L + (when - start).total_seconds() / span * (W - PAD_L - PAD_R))

    palette = {
        "spike": "#f08c00",
        "incident.opened": "#d9480f",
        "incident.updated": "#fd7e14",
        "escalation": "#7048e8",
        "incident.acknowledged": "#1c7ed6",
        "incident.resolved": "#2f9e44",
    }
    present = {a["kind"] for a in alerts}
    kinds = [k for k in palette if k in present] or ["incident.opened"]
    colors = [palette[k] for k in kinds]
    row = (H - PAD_T - PAD_B) / len(kinds)
    parts = [
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" class="axis"/>'
    ]
    t = start.replace(minute=0)
    while t <= end:
        if t >= start:
            parts.append(
                f'<text x="{x(t):.1f}" y="{H - PAD_B + 16}" class="tick" text-anchor="middle">{t:%H:%M}</text>'
            )
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{PAD_T}" x2="{x(t):.1f}" y2="{H - PAD_B}" class="grid"/>'
            )
        t += timedelta(minutes=30)
    ox = x(onset)
    parts.append(
        f'<line x1="{ox:.1f}" y1="{PAD_T}" x2="{ox:.1f}" y2="{H - PAD_B}" stroke="#e03131" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<text x="{ox + 4:.1f}" y="{H - PAD_B - 4}" class="tick" fill="#e03131">train stuck</text>'
    )
    for i, (kind, color) in enumerate(zip(kinds, colors, strict=True)):
        y = PAD_T + row * i + row / 2
        parts.append(
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_e(kind.replace("incident.", ""))}</text>'
        )
        for a in alerts:
            if a["kind"] == kind:
                parts.append(
                    f'<circle class="event" data-kind="{_e(kind)}" cx="{x(a["at"]):.1f}" cy="{y:.1f}" r="6" fill="{color}">'
                    f"<title>{a['at']:%H:%M} {_e(a['title'])}</title></circle>"
                )
    return _svg(parts, "Spike and incident timeline", "timeline").replace(
        f'viewBox="0 0 {W} {H}"', f'viewBox="-70 0 {W + 70} {H}"'
    )


CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f8f9fa;color:#212529}
header{background:#0b3d91;color:#fff;padding:24px 32px}header h1{margin:0 0 4px;font-size:24px}
main{max-width:980px;margin:0 auto;padding:16px 24px 48px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;margin:16px 0}
h2{font-size:18px;margin:0 0 8px}.chart{width:100%;height:auto}
.axis{stroke:#495057;stroke-width:1}.grid{stroke:#e9ecef;stroke-width:1}.tick{font-size:11px;fill:#495057}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:12px 16px}
.card b{display:block;font-size:26px}.legend span{margin-right:14px}.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:6px 8px;border-bottom:1px solid #e9ecef;vertical-align:top}
.neg{color:#e03131}.pos{color:#2f9e44}.muted{color:#868e96;font-size:13px}
"""


def _legend(colors: Mapping[str, str]) -> str:
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i class="sw" style="background:{c}"></i>{_e(k)}</span>'
            for k, c in colors.items()
        )
        + "</p>"
    )


def _by(draft: Mapping[str, Any]) -> str:
    author = draft.get("author")
    return f"@{author}: " if author else ""


def write_report(
    result: DemoResult,
    deliveries: Sequence[Delivery],
    drafts: Sequence[Mapping[str, Any]],
    path: Path,
    *,
    onset: datetime,
) -> None:
    """Write the report to *path*."""
    posts_by_route: dict[str, list[Post]] = defaultdict(list)
    for d in deliveries:
        if isinstance(d.item, Post):
            posts_by_route[d.route].append(d.item)
    archive = {p.key: p for p in posts_by_route.get("archive", [])}
    all_posts = sorted(archive.values(), key=lambda p: p.created_at)
    marks = [(onset, "train stuck", "#e03131")]
    for inc in result.incidents:
        marks.append((inc["opened_at"], "incident opened", "#d9480f"))
    top = sorted(
        (p for p in all_posts if (p.engagement.likes or 0) > 0),
        key=lambda p: -(p.engagement.likes or 0),
    )[:8]
    langs = Counter(p.lang or "?" for p in all_posts)
    sentiments = Counter(
        (p.annotations.get("sentiment") or {}).get("label", "neutral") for p in all_posts
    )
    cards = [
        ("posts read", result.read),
        ("routed to support", len(posts_by_route.get("support", []))),
        ("routed to operations", len(posts_by_route.get("operations", []))),
        ("incidents", len(result.incidents)),
        ("emails sent", len(result.emails)),
        ("replies awaiting approval", result.drafts),
    ]
    rows = []
    for a in result.alerts:
        rows.append(
            f"<tr><td>{a['at']:%H:%M}</td><td>{_e(a['kind'])}</td><td>{_e(a['severity'])}</td>"
            f"<td>{_e(a['route'] or '')}</td><td>{_e(a['title'])}</td></tr>"
        )
    top_rows = []
    for p in top:
        label = (p.annotations.get("sentiment") or {}).get("label", "")
        cls = "neg" if label == "negative" else "pos" if label == "positive" else ""
        top_rows.append(
            f"<tr><td>{p.created_at:%H:%M}</td><td>{_e(p.platform)}</td><td>@{_e(p.author.handle)}</td>"
            f"<td>{_e(p.text)}</td><td>{p.engagement.likes or 0}</td><td class='{cls}'>{_e(label)}</td></tr>"
        )
    draft_rows = []
    for draft in list(drafts)[:5]:
        draft_rows.append(
            f"<tr><td>{_e(draft.get('lang') or '')}</td><td>{_e(_by(draft))}{_e(draft.get('post'))}</td>"
            f"<td>{_e(draft.get('reply'))}</td><td>{_e(draft.get('status'))}</td></tr>"
        )
    sinks = "".join(
        f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in sorted(result.delivered.items())
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.missing)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>socialplug demo: Northline Rail, {DAY:%d %B %Y}</title><style>{CSS}</style></head>
<body><header><h1>Northline Rail: a day of mentions</h1>
<div>A simulated day ({DAY:%d %B %Y}) on loopback Mastodon and Bluesky servers{", and an RSS news feed" if any(p.platform == "feed" for p in all_posts) else ""}, run through a socialplug pipeline in {result.seconds:.1f}s.</div></header>
<main>
<div class="cards">{"".join(f'<div class="card"><b>{v}</b>{_e(k)}</div>' for k, v in cards)}</div>
<section><h2>Mention volume over time, by route</h2>{_legend(ROUTE_COLORS)}{volume_chart(posts_by_route, marks)}</section>
<section><h2>Sentiment</h2>{_legend(SENTIMENT_COLORS)}{sentiment_chart(all_posts)}
<p class="muted">{", ".join(f"{k}: {v}" for k, v in sentiments.most_common())} · languages: {", ".join(f"{k} {v}" for k, v in langs.most_common())}</p></section>
<section><h2>Spike and incident timeline</h2>{timeline_chart(result.alerts, onset)}
<table><tr><th>time</th><th>alert</th><th>severity</th><th>route</th><th>title</th></tr>{"".join(rows)}</table></section>
<section><h2>Top posts</h2><table><tr><th>time</th><th>platform</th><th>author</th><th>text</th><th>likes</th><th>sentiment</th></tr>{"".join(top_rows)}</table></section>
<section><h2>Replies drafted, awaiting approval</h2><table><tr><th>lang</th><th>post</th><th>draft</th><th>status</th></tr>{"".join(draft_rows)}</table>
<p class="muted">{result.drafts} drafts in the state store; nothing is published without a person's approval (<code>socialplug approvals list</code>).</p></section>
<section><h2>Deliveries</h2><table><tr><th>route</th><th>deliveries</th></tr>{sinks}</table>
<p class="muted">Webhook requests received: {result.webhook_requests} · emails received: {len(result.emails)} · rows in the SQLite archive: {result.archived}</p>
<ul class="muted">{notes}</ul></section>
</main></body></html>
"""
    path.write_text(page, encoding="utf-8")
