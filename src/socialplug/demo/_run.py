"""
The demo's pipeline and its run over the simulated day.
"""

from __future__ import annotations

import html
import importlib.util
import json
import sqlite3
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import anyio
import attrs

from ..alerting import Incidents, Monitor, Spike
from ..clock import ManualClock
from ..filters import QuerySet
from ..model import Alert, Post, item_to_dict
from ..pipeline import Pipeline, SinkPolicy
from ..routing import Escalation, Route, Router, Tier
from ..sinks import MemorySink
from ..sinks.sql import SQLiteSink
from ..sinks.webhook import WebhookSink
from ..sources.bluesky import BlueskySource, Feed
from ..sources.mastodon import MastodonSource, Timeline
from ..state import SQLiteStateStore
from ..testing.bluesky import BlueskyServer
from ..testing.mastodon import MastodonServer
from ._local import (
    DraftReplies,
    MailSink,
    SMTPReceiver,
    WebhookReceiver,
    drafted,
    reply_text,
)
from ._report import write_report
from ._world import DAY, INCIDENT_START, WorldPost, generate


__all__ = ["DemoResult", "run_demo"]


def _step(at: datetime) -> timedelta:
    """How far each run jumps: finer in the evening rush, coarse at night."""
    hour = at.hour
    if hour < 6 or hour >= 21:
        return timedelta(minutes=30)
    if 16 <= hour < 20:
        return timedelta(minutes=10)
    return timedelta(minutes=20)


QUERIES = {
    "incident": (
        'stuck OR tunnel OR "no announcement" OR evacuat* OR "power failure" OR fest OR '
        "bloqué OR bloqués OR atrapados OR vast"
    ),
    "delay": "late OR delay* OR delayed OR verspätung OR retard OR tarde OR vertraging",
    "service": "refund OR ticket OR app OR luggage OR crowded OR wifi OR seats",
}

_NEGATIVE = (  # noqa: SIM905 - a word list reads best as text
    "stuck late delay delayed unacceptable slow crowded scared nobody no refund "
    "verspätung fest stecken retard pénible bloqué bloqués tarde atrapados vertraging balen "
    "vast failure again"
).split()
_POSITIVE = (  # noqa: SIM905
    "great thanks nice smooth miracles pünktlich angenehme danke merci tranquilo bien "
    "keurig helping"
).split()


def lexicon_sentiment(post: Post, /) -> Post:
    """
    A small multilingual word-list sentiment, enough for the demo (the ``sentiment`` extra
    brings VADER for English).
    """
    words = [w.strip(".,!?:;\"'()#@").casefold() for w in post.text.split()]
    neg = sum(w in _NEGATIVE for w in words)
    pos = sum(w in _POSITIVE for w in words) + (2 if "on time" in post.text.casefold() else 0)
    pos += 2 if "op tijd" in post.text.casefold() or "à l'heure" in post.text else 0
    score = (pos - neg) / max(1, pos + neg)
    label = "negative" if score < -0.05 else "positive" if score > 0.05 else "neutral"
    return post.annotate(sentiment={"score": round(score, 3), "label": label})


def _mention_volume(post: Post, /) -> tuple[str, ...]:
    """Count every mention under the key ``operations``: a surge is the operations team's."""
    return ("operations",)


def _is_support(post: Post, /) -> bool:
    matched = post.annotations.get("matched") or ()
    sentiment = post.annotations.get("sentiment") or {}
    return bool(matched) or sentiment.get("label") == "negative"


@attrs.frozen(kw_only=True)
class DemoResult:
    """What the demo did, and where its report is."""

    report: Path
    posts_published: int
    read: int
    delivered: dict[str, int]
    webhook_requests: int
    emails: list[str]
    emails_about_incident: int
    archived: int
    drafts: int
    incidents: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    errors: list[str]
    missing: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the run produced the incident and every delivery, with no errors."""
        return bool(self.incidents) and not self.errors and self.webhook_requests > 0

    def summary(self) -> str:
        """A few lines for people."""
        lines = [
            f"simulated day: {self.posts_published} posts published, {self.read} read "
            f"in {self.seconds:.1f}s",
            "deliveries: " + ", ".join(f"{k} {v}" for k, v in sorted(self.delivered.items())),
            f"webhook requests: {self.webhook_requests}; emails: {len(self.emails)}; "
            f"archived: {self.archived}; drafted replies awaiting approval: {self.drafts}",
        ]
        for incident in self.incidents:
            lines.append(
                f"incident {incident['key']}: opened {incident['opened_at']:%H:%M}"
                + (
                    f", escalated to {', '.join(incident['escalated'])}"
                    if incident["escalated"]
                    else ""
                )
                + (
                    f", resolved {incident['resolved_at']:%H:%M}"
                    if incident["resolved_at"]
                    else ""
                )
            )
        for text in self.missing:
            lines.append(f"note: {text}")
        for error in self.errors:
            lines.append(f"error: {error}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data = attrs.asdict(self)
        data["report"] = str(self.report)
        data["ok"] = self.ok
        return data


def _publish(posts: Iterable[WorldPost], mastodon: Any, bluesky: Any, site: Any) -> None:
    for p in posts:
        if p.platform == "mastodon":
            mastodon.add_status(
                content=f"<p>{html.escape(p.text)}</p>",
                username=p.author,
                tags=["northline"],
                created_at=p.at,
                language=p.lang,
                favourites_count=p.likes,
            )
        elif p.platform == "bluesky":
            view = bluesky.add_post(text=p.text, handle=f"{p.author}.bsky.test", created_at=p.at,
                                    langs=[p.lang])  # fmt: skip
            view["likeCount"] = p.likes
        elif site is not None:
            site.add("/news.xml", title=p.title or p.text[:60], text=p.text, published=p.at)


def _feeds() -> tuple[Any, Any] | None:
    if importlib.util.find_spec("feedparser") is None:
        return None
    from ..sources.feeds import FeedsSource  # noqa: PLC0415
    from ..testing.feeds import FeedSite  # noqa: PLC0415

    return FeedsSource, FeedSite


def _mail(port: int, to: str) -> Any:
    """socialplug's EmailSink (the ``email`` extra), else the demo's small stdlib one."""
    if importlib.util.find_spec("aiosmtplib") is None:
        return MailSink("127.0.0.1", port, to=to)
    from ..sinks.email import EmailSink  # noqa: PLC0415

    return cast(Any, EmailSink)("127.0.0.1", port, to=[to], tls="none", digest=True,
                     sender="Northline monitor <socialplug@northline.example>")  # fmt: skip


def _drafts(state: SQLiteStateStore, clock: ManualClock) -> Any:
    """socialplug's ReplySink with an approval queue, else the demo's drafts store."""
    try:
        from ..sinks.replies import ApprovalQueue, ReplySink  # noqa: PLC0415
    except ImportError:
        return DraftReplies(state)
    return ReplySink(ApprovalQueue(state, clock=clock), reply_text, clock=clock)


def build_pipeline(
    *,
    mastodon_url: str,
    bluesky_url: str,
    feed_url: str | None,
    feeds_source: Any,
    state: SQLiteStateStore,
    clock: ManualClock,
    webhook_url: str,
    smtp_port: int,
    archive: Path,
    recorder: MemorySink,
) -> Pipeline:
    """The pipeline the demo runs (also a readable example of a complete one)."""
    sources: list[Any] = [
        MastodonSource(servers=mastodon_url, timelines=Timeline.tag("northline"),
                       streaming=False, since=DAY, name="mastodon"),
        BlueskySource(feeds=Feed.search("northline"), service=bluesky_url, since=DAY,
                      name="bluesky"),
    ]  # fmt: skip
    if feed_url is not None and feeds_source is not None:
        sources.append(feeds_source(urls=[feed_url], name="news"))
    queries = QuerySet(QUERIES)
    routes: Any = [
            Route(name="operations", sinks=("ops_mail", "recorder"), team="operations",
                  priority="P2", when=lambda p: "incident" in (p.annotations.get("matched") or ()),
                  escalation=Escalation(Tier(after=timedelta(minutes=20), route="management"))),
            Route(name="support", sinks=("support_hook", "drafts", "recorder"), team="support",
                  priority="P3", when=_is_support),
            Route(name="management", sinks=("mgmt_mail", "recorder"), team="management",
                  priority="P1", when=lambda p: False),
            Route(name="archive", sinks=("archive", "recorder"), team="data"),
    ]  # fmt: skip
    router = Router(routes, fan_out=True)
    spikes: Any = [
            Spike(name="surge", key=_mention_volume, window=timedelta(minutes=30),
                  bucket=timedelta(minutes=5), min_count=20, ratio=4.0,
                  warmup=timedelta(hours=2), history=timedelta(days=1),
                  cooldown=timedelta(minutes=30), negative_share=None),
    ]  # fmt: skip
    monitor = Monitor(
        router=router,
        spikes=spikes,
        incidents=Incidents(quiet=timedelta(minutes=45)),
        clock=clock,
    )  # fmt: skip
    return Pipeline(
        name="northline-demo",
        sources=sources,
        transforms=[queries.annotate, lexicon_sentiment],
        router=router,
        detectors=[monitor],
        sinks={
            "support_hook": WebhookSink(webhook_url),
            "ops_mail": _mail(smtp_port, "operations@northline.example"),
            "mgmt_mail": _mail(smtp_port, "management@northline.example"),
            "archive": SQLiteSink(archive, table="mentions"),
            "drafts": _drafts(state, clock),
            "recorder": recorder,
        },
        policies={
            "ops_mail": SinkPolicy(batch_size=50, batch_wait=0.05),
            "mgmt_mail": SinkPolicy(batch_size=50, batch_wait=0.05),
        },
        state=state,
        clock=clock,
        drain_timeout=10,
    )


def run_demo(*, out: Path = Path("socialplug-demo"), quiet: bool = False) -> DemoResult:
    """Run the demo and write ``out/report.html``; return what happened."""
    return anyio.run(_run, Path(out), quiet)


def _fresh(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("state.db", "archive.db"):
        for suffix in ("", "-wal", "-shm"):
            (out / (name + suffix)).unlink(missing_ok=True)


async def _run(out: Path, quiet: bool) -> DemoResult:  # noqa: FBT001
    t0 = time.perf_counter()
    _fresh(out)
    world = generate()
    missing = [
        "sinks: socialplug.sinks.webhook.WebhookSink, socialplug.sinks.sql.SQLiteSink, "
        "socialplug.sinks.replies.ReplySink and socialplug.sinks.email.EmailSink (with the "
        "'email' extra; else a small stdlib mailer)"
    ]
    feeds = _feeds()
    if feeds is None:
        missing.append("no RSS news feed: install 'socialplug[feeds]' to include one")
    clock = ManualClock(DAY)
    state = SQLiteStateStore(out / "state.db")
    recorder = MemorySink()
    site = None
    errors: list[str] = []
    with (
        MastodonServer(rate_limit=None) as mastodon,
        BlueskyServer(rate_limit=None) as bluesky,
        WebhookReceiver() as hook,
        SMTPReceiver() as smtp,
    ):
        feed_url = None
        if feeds is not None:
            site = feeds[1]()
            site.add("/news.xml", title="Northline Rail: engineering works this weekend",
                     text="Weekend engineering works between Harbour and Central.",
                     published=DAY - timedelta(hours=20))  # fmt: skip
            site.__enter__()
            feed_url = site.url("/news.xml")
        try:
            pipeline = build_pipeline(
                mastodon_url=mastodon.url,
                bluesky_url=bluesky.url,
                feed_url=feed_url,
                feeds_source=feeds[0] if feeds else None,
                state=state,
                clock=clock,
                webhook_url=hook.url,
                smtp_port=smtp.port,
                archive=out / "archive.db",
                recorder=recorder,
            )
            read = 0
            step_start = DAY
            index = 0
            while step_start < DAY + timedelta(days=1):
                step_end = step_start + _step(step_start)
                batch = []
                while index < len(world) and world[index].at < step_end:
                    batch.append(world[index])
                    index += 1
                _publish(batch, mastodon, bluesky, site)
                clock.set(step_end)
                report = await pipeline.run_once()
                read += report.read
                errors.extend(report.errors)
                if not quiet and step_end.minute == 0 and step_end.hour % 3 == 0:
                    print(f"  {step_end:%H:%M} simulated, {read} posts read", flush=True)
                step_start = step_end
            # Let the quiet period pass so the incident resolves.
            clock.set(clock.now() + timedelta(hours=1))
            report = await pipeline.run_once()
            errors.extend(report.errors)
        finally:
            if site is not None:
                site.__exit__(None, None, None)
        await anyio.sleep(0.05)
        webhook_requests = len(hook.bodies)
        emails = [str(m["Subject"]).strip() for m in smtp.messages]
        about = sum(
            any(w in m.as_string() for w in ("Incident opened", "Escalated to management"))
            for m in smtp.messages
        )
    drafts = await drafted(state)
    await state.aclose()
    with sqlite3.connect(out / "archive.db") as db:
        archived = int(db.execute("SELECT count(*) FROM mentions").fetchone()[0])
    deliveries = recorder.deliveries
    delivered: dict[str, int] = {}
    for d in deliveries:
        delivered[d.route] = delivered.get(d.route, 0) + 1
    alerts = _alerts(d.item for d in deliveries if isinstance(d.item, Alert))
    incidents = _incidents(alerts)
    result = DemoResult(
        report=(out / "report.html").resolve(),
        posts_published=sum(1 for p in world if p.platform != "feed" or feeds)
        + (1 if feeds else 0),
        read=read,
        delivered=delivered,
        webhook_requests=webhook_requests,
        emails=emails,
        emails_about_incident=about,
        archived=archived,
        drafts=len(drafts),
        incidents=incidents,
        alerts=alerts,
        errors=errors,
        missing=missing,
        seconds=time.perf_counter() - t0,
    )
    write_report(result, deliveries, drafts, out / "report.html", onset=INCIDENT_START)
    _write_inspection_files(out, [d.item for d in deliveries if d.route == "archive"])
    return result


def _write_inspection_files(out: Path, posts: list[Any]) -> None:
    """``posts.jsonl`` and ``pipeline.toml``: to explore the run with the command line."""
    posts = sorted(posts, key=lambda p: p.created_at)
    with (out / "posts.jsonl").open("w", encoding="utf-8") as f:
        for post in posts:
            f.write(json.dumps(item_to_dict(post), ensure_ascii=False) + "\n")
    queries = "\n".join(
        f"{name} = {json.dumps(text, ensure_ascii=False)}" for name, text in QUERIES.items()
    )
    state = json.dumps(str((out / "state.db").resolve()))
    archive = json.dumps(str((out / "posts.jsonl").resolve()))
    replay = json.dumps(str((out / "replay.jsonl").resolve()))
    (out / "pipeline.toml").write_text(
        f"""# The demo's routes and spike detector over its recorded posts, for the command line:
#   socialplug check {out}/pipeline.toml
#   socialplug query test 'stuck OR bloqué' {out}/posts.jsonl
#   socialplug backtest {out}/pipeline.toml {out}/posts.jsonl
#   socialplug state show {out}/pipeline.toml
#   socialplug approvals list {out}/pipeline.toml

[pipeline]
name = "northline-demo-replay"

[state]
type = "sqlite"
path = {state}

[queries]
{queries}

[[sources]]
type = "jsonl"
name = "demo-posts"
path = {archive}

[[routes]]
name = "operations"
sinks = ["replay"]
when = "incident"
team = "operations"
priority = "P2"
alerts = true

[[routes]]
name = "support"
sinks = ["replay"]
when = "incident OR delay OR service"
team = "support"

[router]
fan_out = true

[[detectors]]
type = "monitor"
spikes = [{{ key = "everything", window = "30m", bucket = "5m", min_count = 20, ratio = 4.0, warmup = "2h", history = "1d", cooldown = "30m" }}]
incidents = {{ quiet = "45m" }}

[sinks.replay]
type = "jsonl"
path = {replay}
""",
        encoding="utf-8",
    )


def _alerts(items: Iterable[Alert]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for a in items:
        seen.setdefault(
            a.key,
            {
                "key": a.key,
                "kind": a.kind,
                "title": a.title,
                "summary": a.summary,
                "severity": a.severity,
                "incident": a.incident,
                "route": a.route,
                "team": a.team,
                "at": a.created_at,
            },
        )
    return sorted(seen.values(), key=lambda a: a["at"])


def _incidents(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for a in alerts:
        key = a["incident"]
        if not key:
            continue
        entry = out.setdefault(
            key,
            {"key": key, "opened_at": None, "route": a["route"], "title": a["title"],
             "escalated": [], "resolved_at": None, "updates": 0},
        )  # fmt: skip
        if a["kind"] == "incident.opened":
            entry["opened_at"] = a["at"]
            entry["title"] = a["title"]
        elif a["kind"] == "incident.updated":
            entry["updates"] += 1
        elif a["kind"] == "incident.resolved":
            entry["resolved_at"] = a["at"]
        elif a["kind"] == "escalation" and a["route"] not in entry["escalated"]:
            entry["escalated"].append(a["route"])
    return [e for e in out.values() if e["opened_at"] is not None]
