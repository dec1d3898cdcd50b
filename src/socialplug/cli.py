"""
The ``socialplug`` command: run, check and operate pipelines described in TOML files.

Exit codes:

====  ==============================================================================
0     success (and a run stopped by SIGINT/SIGTERM after draining, or approvals serve
      stopped by them)
1     the command worked but found failures: errors, dead letters or malformed items
      in a run report, no match for ``query test``, a replay that failed again
2     usage or pipeline-file error (every problem is printed with file and line)
3     the feature is not available in this installation (a missing extra or
      component); the message says what to install
4     not found: the incident, dead letter or approval named does not exist
====  ==============================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TextIO

import anyio
import attrs

from . import __version__
from .exceptions import ConfigurationError, MissingExtraError, SocialplugError


__all__ = [
    "EXIT_FAILURES",
    "EXIT_NOT_AVAILABLE",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_NOT_AVAILABLE = 3
EXIT_NOT_FOUND = 4

_EPILOG = """\
exit codes: 0 ok; 1 failures in the report (errors, dead letters, no match);
2 usage or pipeline-file error; 3 feature not available (missing extra);
4 incident, dead letter or approval not found.

Start with:  socialplug demo
Docs:        docs/how-to/cli.md and docs/how-to/configure.md
"""


class _Exit(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fail(code: int, message: str) -> NoReturn:
    raise _Exit(code, message)


# -- output helpers ---------------------------------------------------------------------


def _emit_json(data: Any, out: TextIO | None = None) -> None:
    json.dump(data, out or sys.stdout, indent=2, default=str, ensure_ascii=False)
    (out or sys.stdout).write("\n")


def _report_dict(report: Any) -> dict[str, Any]:
    data = attrs.asdict(report)
    data["ok"] = report.ok
    return data


def _print_report(report: Any, *, as_json: bool) -> int:
    if as_json:
        _emit_json(_report_dict(report))
    else:
        print(report.summary())
        for error in report.errors:
            print(f"  error: {error}")
    return EXIT_OK if report.ok else EXIT_FAILURES


def _load(path: str) -> Any:
    from . import config  # noqa: PLC0415

    try:
        return config.load(path)
    except config.ConfigError as exc:
        _fail(EXIT_USAGE, str(exc))


def _parse_when(value: str) -> datetime:
    text = value.strip()
    now = datetime.now(UTC)
    if text == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "yesterday":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    if text.endswith(" ago"):
        from .config import parse_duration  # noqa: PLC0415

        try:
            return now - parse_duration(text[:-4])
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            msg = f"not a date: {value!r} (use 2026-11-20, 2026-11-20T08:00Z or '2h ago')"
            raise argparse.ArgumentTypeError(msg) from None
        parsed = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        msg = f"expected HOST:PORT, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return host.strip("[]") or "127.0.0.1", int(port)


# -- run and backfill ---------------------------------------------------------------------


def _setup_logging(args: argparse.Namespace) -> None:
    from .observe import configure_logging  # noqa: PLC0415

    level = "DEBUG" if args.verbose > 1 else "INFO" if args.verbose else "WARNING"
    if getattr(args, "command", None) == "run" and not args.once and not args.verbose:
        level = "INFO"
    configure_logging(level=level, json_lines=args.log_json)


def _approval_routes(pipeline: Any, stats: Any) -> Any:
    """The approval callbacks of *pipeline*'s reply sinks that make links, or ``None``."""
    replies = sys.modules.get("socialplug.sinks.replies")  # loaded if the file has one
    if replies is None:
        return None
    return replies._ApprovalRoutes.of(pipeline.sinks, stats.approvals)


def _print_approvals(routes: Any, base: str) -> None:
    for prefix, names in routes.served:
        print(
            f"serving the approval links of {', '.join(names)} on {base}{prefix}/drafts/",
            flush=True,
        )


def cmd_run(args: argparse.Namespace) -> int:
    """``socialplug run``."""
    from .observe import Stats, instrument, serve_http  # noqa: PLC0415

    loaded = _load(args.file)
    stats = Stats()
    routes = _approval_routes(loaded.pipeline, stats)
    pipeline = instrument(loaded.pipeline, stats)
    if routes is not None and args.http is None and not args.once:
        names = ", ".join(n for _, group in routes.served for n in group)
        print(
            f"socialplug: nothing here serves the approve/reject links of {names}: "
            "add --http HOST:PORT, or run 'socialplug approvals serve'",
            file=sys.stderr,
        )

    async def main() -> Any:
        async with anyio.create_task_group() as tg:
            if args.http is not None:
                host, port = args.http
                handler = routes.handle if routes is not None else None
                bound = await tg.start(partial(serve_http, handler=handler), host, port, stats)
                print(f"serving /healthz /readyz /metrics on http://{host}:{bound}", flush=True)
                if routes is not None:
                    _print_approvals(routes, f"http://{host}:{bound}")
            stats.ready = True
            report = await pipeline.run(follow=not args.once, handle_signals=True)
            tg.cancel_scope.cancel()
        return report

    report = anyio.run(main)
    return _print_report(report, as_json=args.json)


class _Progress:
    """A progress bar over time (since -> now) using rich when installed, else plain lines."""

    def __init__(self, since: datetime, until: datetime, *, enabled: bool) -> None:
        self.since, self.until = since, until
        self.total = max(1.0, (until - since).total_seconds())
        self.posts = 0
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None
        self._last_plain = -1
        if not enabled or not sys.stderr.isatty():
            return
        try:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:
            return
        self._bar = Progress(
            TextColumn("backfill"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[posts]} posts"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("backfill", total=self.total, posts=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.total, posts=self.posts)
            self._bar.stop()
        elif self.enabled:
            print(f"backfill: 100% {self.posts} posts", file=sys.stderr)

    def page(self, _source: str, page: Any) -> None:
        self.posts += len(page.posts)
        if not page.posts:
            return
        newest = max(p.created_at for p in page.posts)
        done = min(self.total, max(0.0, (newest - self.since).total_seconds()))
        if self._bar is not None:
            self._bar.update(self._task, completed=done, posts=self.posts)
        elif self.enabled:
            percent = int(100 * done / self.total)
            if percent // 10 != self._last_plain // 10:
                self._last_plain = percent
                print(f"backfill: {percent:3d}% {self.posts} posts", file=sys.stderr, flush=True)


@attrs.define(eq=False)
class _BackfillState:
    """The real store for seen keys, dead letters and records; cursors neither read nor kept."""

    inner: Any

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    async def get_cursor(self, source: str, /) -> str | None:
        return None

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        return None


def cmd_backfill(args: argparse.Namespace) -> int:
    """``socialplug backfill``."""
    from . import plugins  # noqa: PLC0415
    from .observe import Stats, instrument  # noqa: PLC0415

    loaded = _load(args.file)
    pipeline = loaded.pipeline
    since: datetime = args.since
    until: datetime = args.until or datetime.now(UTC)
    sources = []
    skipped = []
    for source in pipeline.sources:
        if attrs.has(type(source)) and "since" in {f.name for f in attrs.fields(type(source))}:
            sources.append(attrs.evolve(source, since=since))
        else:
            skipped.append(source.name)
    del plugins
    if not sources:
        _fail(
            EXIT_NOT_AVAILABLE,
            "none of the sources can read from a date (they have no 'since' setting): "
            + ", ".join(skipped),
        )
    if skipped:
        print(f"backfill: skipping sources without 'since': {', '.join(skipped)}", file=sys.stderr)
    progress = _Progress(since, until, enabled=not args.no_progress and not args.json)
    stats = Stats()
    pipeline = instrument(
        attrs.evolve(pipeline, sources=sources, state=_BackfillState(pipeline.state)),
        stats,
        on_page=progress.page,
    )
    with progress:
        report = anyio.run(lambda: pipeline.run(follow=False, handle_signals=True))
    return _print_report(report, as_json=args.json)


def cmd_check(args: argparse.Namespace) -> int:
    """``socialplug check``."""
    loaded = _load(args.file)
    if args.json:
        p = loaded.pipeline
        _emit_json(
            {
                "ok": True,
                "file": str(loaded.path),
                "name": p.name,
                "sources": [s.name for s in p.sources],
                "sinks": {k: type(v).__name__ for k, v in p.sinks.items()},
                "routes": [r.name for r in getattr(p.router, "routes", ())],
                "detectors": [d.name for d in p.detectors],
                "queries": dict(loaded.queries),
                "graph": loaded.graph,
            }
        )
    else:
        print(loaded.graph)
        print(f"ok: {loaded.path} is valid")
    return EXIT_OK


# -- query test ---------------------------------------------------------------------------


def _read_posts(path: str) -> tuple[list[Any], int]:
    from .model import Post  # noqa: PLC0415

    posts, bad = [], 0
    try:
        handle = Path(path).open(encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        _fail(EXIT_USAGE, f"cannot read {path}: {exc.strerror}")
    with handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                item = data.get("item")
                if isinstance(item, dict) and "route" in data:
                    data = item
                data.pop("type", None)
                posts.append(Post.from_dict(data))
            except (ValueError, TypeError, KeyError, AttributeError):
                bad += 1
    return posts, bad


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    import re  # noqa: PLC0415
    import unicodedata  # noqa: PLC0415

    def fold(s: str) -> str:
        return "".join(
            c for c in unicodedata.normalize("NFKD", s.casefold()) if not unicodedata.combining(c)
        )

    # Fold character by character so spans map back to the original text.
    folded, index = [], []
    for i, ch in enumerate(text):
        for f in fold(ch):
            folded.append(f)
            index.append(i)
    hay = "".join(folded)
    spans = []
    for term in terms:
        t = fold(term.strip('"'))
        if not t:
            continue
        prefix = t.endswith("*")
        pattern = re.escape(t.rstrip("*")) + (r"\w*" if prefix else "")
        for m in re.finditer(rf"(?<!\w){pattern}(?!\w)", hay):
            if m.end() > m.start():
                spans.append((index[m.start()], index[m.end() - 1] + 1))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _highlight(text: str, spans: Sequence[tuple[int, int]], *, color: bool) -> str:
    start, end = ("\x1b[1;33m", "\x1b[0m") if color else ("[[", "]]")
    out, last = [], 0
    for s, e in spans:
        out += [text[last:s], start, text[s:e], end]
        last = e
    out.append(text[last:])
    return "".join(out)


def cmd_query_test(args: argparse.Namespace) -> int:
    """``socialplug query test``."""
    from . import filters  # noqa: PLC0415

    query_cls = getattr(filters, "Query", None)
    if query_cls is None:
        _fail(EXIT_NOT_AVAILABLE, "the query language is not available in this installation")
    try:
        query = query_cls(args.query)
    except (ValueError, SocialplugError) as exc:
        _fail(EXIT_USAGE, f"invalid query: {exc}")
    posts, bad = _read_posts(args.posts)
    matches = []
    for post in posts:
        if query(post):
            terms = list(query.matched_terms(post))
            matches.append((post, terms, _spans(post.text, terms)))
    if args.json:
        _emit_json(
            {
                "query": args.query,
                "posts": len(posts),
                "unreadable": bad,
                "matched": len(matches),
                "matches": [
                    {
                        "key": p.key,
                        "created_at": p.created_at.isoformat(),
                        "author": p.author.handle,
                        "text": p.text,
                        "terms": terms,
                        "spans": spans,
                    }
                    for p, terms, spans in matches[: args.limit]
                ],
            }
        )
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        for post, terms, spans in matches[: args.limit]:
            when = post.created_at.strftime("%Y-%m-%d %H:%M")
            print(f"{when} @{post.author.handle} [{', '.join(terms)}]")
            print(f"  {_highlight(post.text, spans, color=color)}")
        more = len(matches) - args.limit
        if more > 0:
            print(f"... and {more} more")
        print(
            f"{len(matches)} of {len(posts)} posts match"
            + (f" ({bad} unreadable lines skipped)" if bad else "")
        )
    return EXIT_OK if matches else EXIT_FAILURES


# -- backtest -----------------------------------------------------------------------------


def cmd_backtest(args: argparse.Namespace) -> int:
    """``socialplug backtest``."""
    from .alerting import Monitor, backtest  # noqa: PLC0415

    loaded = _load(args.file)
    pipeline = loaded.pipeline
    monitors = [d for d in pipeline.detectors if isinstance(d, Monitor)]
    if not monitors:
        _fail(EXIT_USAGE, f"{args.file} has no [[detectors]] of type 'monitor' to backtest")
    posts, bad = _read_posts(args.posts)
    kept = []
    for post in posts:
        if all(f(post) for f in pipeline.filters):
            kept.append(post)

    async def run() -> list[Any]:
        out = []
        for monitor in monitors:
            enriched = []
            for post in kept:
                current: Any = post
                for t in pipeline.transforms:
                    result = t(current)
                    if result is not None and not hasattr(result, "key"):
                        result = await result
                    current = result
                    if current is None:
                        break
                if current is not None:
                    enriched.append(current)
            router = getattr(pipeline.router, "routes", None) and pipeline.router
            out.append(await backtest(enriched, monitor, router=router or None))
        return out

    reports = anyio.run(run)
    data: list[dict[str, Any]] = []
    for monitor, report in zip(monitors, reports, strict=True):
        incidents = [
            {
                "key": i.key,
                "subject": i.subject,
                "route": i.route,
                "opened_at": i.opened_at,
                "latency": i.latency.total_seconds() if i.latency else None,
                "updates": i.updates,
                "escalations": [[w, r] for w, r in i.escalations],
                "resolved_at": i.resolved_at,
            }
            for i in report.incidents
        ]
        alerts = [
            {"at": f.at, "kind": f.alert.kind, "title": f.alert.title, "routes": f.routes}
            for f in report.alerts
        ]
        data.append({"monitor": monitor.name, "incidents": incidents, "alerts": alerts})
    if args.json:
        _emit_json({"posts": len(posts), "kept": len(kept), "monitors": data})
    else:
        print(
            f"{len(kept)} of {len(posts)} posts replayed" + (f" ({bad} unreadable)" if bad else "")
        )
        for entry in data:
            print(f"monitor {entry['monitor']}: {len(entry['alerts'])} alerts")
            for a in entry["alerts"]:
                print(
                    f"  {a['at']:%Y-%m-%d %H:%M} {a['kind']:<18} {a['title']} -> {', '.join(a['routes'])}"
                )
            for i in entry["incidents"]:
                latency = f", detected after {i['latency'] / 60:.0f} min" if i["latency"] else ""
                print(f"  incident {i['key']} ({i['subject']}){latency}")
    return EXIT_OK


# -- dead letters, incidents, approvals, state -----------------------------------------------


def _letter_dict(letter: Any) -> dict[str, Any]:
    return {
        "id": letter.id,
        "kind": letter.kind,
        "origin": letter.origin,
        "route": letter.route,
        "key": letter.key,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "created_at": letter.created_at.isoformat(),
    }


def cmd_dlq(args: argparse.Namespace) -> int:
    """``socialplug dlq list|replay|purge``."""
    loaded = _load(args.file)
    pipeline = loaded.pipeline
    store = pipeline.state

    async def letters() -> list[Any]:
        try:
            found: list[Any] = await store.dead_letters(origin=args.origin, limit=args.limit)
        finally:
            await store.aclose()
        return found

    if args.action == "list":
        found = anyio.run(letters)
        if args.json:
            _emit_json([_letter_dict(x) for x in found])
        else:
            for x in found:
                print(
                    f"#{x.id} {x.created_at:%Y-%m-%d %H:%M} {x.kind:<9} {x.origin:<16} "
                    f"attempts={x.attempts} {x.reason}"
                )
            print(f"{len(found)} dead letter(s)")
        return EXIT_OK
    if args.action == "replay":
        report = anyio.run(
            lambda: pipeline.replay_dead_letters(sink=args.origin, limit=args.limit)
        )
        return _print_report(report, as_json=args.json)
    # purge
    if args.origin is None and not args.id and not args.all:
        _fail(EXIT_USAGE, "dlq purge needs --id N (repeatable), --origin NAME or --all")

    async def purge() -> int:
        try:
            found = await store.dead_letters(origin=args.origin, limit=args.limit)
            ids = [x.id for x in found if x.id is not None and (not args.id or x.id in args.id)]
            if args.id and len(ids) < len(set(args.id)):
                missing = sorted(set(args.id) - set(ids))
                _fail(EXIT_NOT_FOUND, f"no dead letter with id {', '.join(map(str, missing))}")
            return int(await store.remove_dead_letters(ids))
        finally:
            await store.aclose()

    removed = anyio.run(purge)
    if args.json:
        _emit_json({"removed": removed})
    else:
        print(f"removed {removed} dead letter(s)")
    return EXIT_OK


def _monitor_name(loaded: Any, wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in loaded.monitors:
            _fail(
                EXIT_USAGE,
                f"no monitor named {wanted!r} (monitors: {', '.join(loaded.monitors) or 'none'})",
            )
        return wanted
    if not loaded.monitors:
        _fail(EXIT_USAGE, f"{loaded.path} has no [[detectors]] of type 'monitor'")
    return str(loaded.monitors[0])


def cmd_incidents(args: argparse.Namespace) -> int:
    """``socialplug incidents list|ack|resolve``."""
    from .alerting import acknowledge, resolve_incident  # noqa: PLC0415
    from .alerting._escalation import acks_namespace, incidents_namespace  # noqa: PLC0415

    loaded = _load(args.file)
    monitor = _monitor_name(loaded, args.monitor)
    store = loaded.pipeline.state
    decide = {"ack": acknowledge, "resolve": resolve_incident}.get(args.action)

    async def run() -> Any:
        try:
            records = await store.records(incidents_namespace(monitor))
            acks = await store.records(acks_namespace(monitor))
            if decide is None:
                return records, acks
            ok = await decide(
                store, args.incident, by=args.by, at=datetime.now(UTC), monitor=monitor
            )
            return ok, acks
        finally:
            await store.aclose()

    result, acks = anyio.run(run)
    if decide is not None:
        if not result:
            _fail(EXIT_NOT_FOUND, f"no open incident {args.incident!r} in monitor {monitor!r}")
        done = "acknowledged" if args.action == "ack" else "resolved"
        if args.json:
            _emit_json({"incident": args.incident, f"{done}_by": args.by})
        elif args.action == "ack":
            print(f"acknowledged {args.incident} as {args.by}; escalation stops at the next tick")
        else:
            print(f"resolved {args.incident} as {args.by}; its route is told at the next tick")
        return EXIT_OK
    rows = []
    for record in result.values():
        if not isinstance(record, dict) or "key" not in record:
            continue
        ack = acks.get(record["key"])
        rows.append(
            {
                "incident": record["key"],
                "subject": record.get("subject"),
                "title": record.get("title"),
                "route": record.get("route"),
                "severity": record.get("severity"),
                "opened_at": datetime.fromtimestamp(record["opened_at"], UTC).isoformat()
                if isinstance(record.get("opened_at"), int | float)
                else None,
                "posts": record.get("posts"),
                "acknowledged_by": record.get("acked_by") or (ack or {}).get("by"),
            }
        )
    if args.json:
        _emit_json(rows)
    else:
        for r in rows:
            acked = f" acked by {r['acknowledged_by']}" if r["acknowledged_by"] else ""
            print(
                f"{r['incident']}  {r['severity'] or ''} {r['route'] or '-'}  {r['title']}  "
                f"posts={r['posts']}{acked}"
            )
        print(f"{len(rows)} open incident(s) in monitor {monitor!r}")
    return EXIT_OK


def _serve_approvals(args: argparse.Namespace, loaded: Any) -> int:
    """``socialplug approvals serve``: the approval links, until SIGINT/SIGTERM."""
    import signal  # noqa: PLC0415

    from .observe import Stats, serve_http  # noqa: PLC0415

    stats = Stats()
    routes = _approval_routes(loaded.pipeline, stats)
    if routes is None:
        _fail(
            EXIT_USAGE,
            f"{loaded.path} has no replies sink that makes approve/reject links "
            "(give its [sinks.NAME] of type 'replies' a callback_url and a secret)",
        )
    host, port = args.http

    async def main() -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async with anyio.create_task_group() as tg:
                    handler = partial(serve_http, handler=routes.handle)
                    bound = await tg.start(handler, host, port, stats)
                    stats.ready = True
                    _print_approvals(routes, f"http://{host}:{bound}")
                    async for _ in signals:
                        tg.cancel_scope.cancel()
                        break
        finally:
            with anyio.CancelScope(shield=True):
                await routes.aclose()
                await loaded.pipeline.state.aclose()

    anyio.run(main)
    if args.json:
        _emit_json(dict(stats.approvals))
    else:
        print(
            "approvals: "
            + (", ".join(f"{k} {v}" for k, v in sorted(stats.approvals.items())) or "no decisions")
        )
    return EXIT_OK


def cmd_approvals(args: argparse.Namespace) -> int:
    """``socialplug approvals list|approve|reject|publish|serve`` (drafts of replies sinks)."""
    import importlib  # noqa: PLC0415

    try:
        replies: Any = importlib.import_module("socialplug.sinks.replies")
        queue_cls = replies.ApprovalQueue
    except (ImportError, AttributeError):
        _fail(
            EXIT_NOT_AVAILABLE,
            "approvals are not available in this installation: the replies sink with "
            "approval (socialplug.sinks.replies) is not installed",
        )
    loaded = _load(args.file)
    store = loaded.pipeline.state
    if args.action == "serve":
        if type(store).__name__ == "MemoryStateStore":
            _fail(
                EXIT_USAGE,
                f"{loaded.path} keeps its state in memory: the drafts of 'socialplug run' "
                'are not there (give it a [state] such as type = "sqlite")',
            )
        return _serve_approvals(args, loaded)
    if type(store).__name__ == "MemoryStateStore":
        print(
            f"socialplug: {loaded.path} keeps its state in memory: there are no drafts to "
            'see from here (give it a [state] such as type = "sqlite")',
            file=sys.stderr,
        )
    # The repliers of the file's reply sinks, one per platform: approving posts at once.
    repliers: dict[str, Any] = {}
    for sink in loaded.pipeline.sinks.values():
        if isinstance(sink, replies.ReplySink):
            for replier in sink.repliers:
                repliers.setdefault(replier.platform, replier)
    if args.action == "publish" and not repliers:
        _fail(
            EXIT_USAGE,
            f"{loaded.path} has no replies sink with a replier to post with "
            "(add a mastodon or bluesky table to its [sinks.NAME] of type 'replies')",
        )

    async def run() -> Any:
        queue = queue_cls(store)
        try:
            if args.action == "list":
                return await queue.drafts(status=None if args.all else "pending")
            if args.action == "publish":
                return await replies.publish_approved(queue, repliers)
            if await queue.get(args.draft) is None:
                _fail(EXIT_NOT_FOUND, f"no draft {args.draft!r}")
            if args.action == "reject":
                return await queue.reject(args.draft, by=args.by, reason=args.reason or "")
            draft = await queue.approve(args.draft, by=args.by, text=args.text)
            if repliers:
                for done in await replies.publish_approved(queue, repliers):
                    if done.id == draft.id:
                        draft = done
            return draft
        finally:
            for replier in repliers.values():
                await replier.aclose()
            await store.aclose()

    result = anyio.run(run)
    if args.action in ("list", "publish"):
        if args.json:
            _emit_json([d.to_dict() for d in result])
        else:
            for d in result:
                print(
                    f"{d.id}  [{d.status}] {d.platform} -> {d.reply_to_url or d.reply_to or '-'}"
                )
                print(f"    {d.posted_url or d.text}")
            print(
                f"{len(result)} draft(s)"
                + (" posted or failed" if args.action == "publish" else "")
            )
        failed = args.action == "publish" and any(d.status == "failed" for d in result)
        return EXIT_FAILURES if failed else EXIT_OK
    if args.json:
        _emit_json(result.to_dict())
    else:
        print(f"{args.action}d {result.id} as {args.by}")
        if result.status == "posted":
            print(f"posted: {result.posted_url or result.posted_id}")
        elif result.status == "approved" and repliers:
            print("not posted yet: 'socialplug approvals publish' tries again")
    return EXIT_FAILURES if result.status == "failed" else EXIT_OK


def cmd_state(args: argparse.Namespace) -> int:
    """``socialplug state show``."""
    from .alerting._escalation import incidents_namespace  # noqa: PLC0415

    loaded = _load(args.file)
    pipeline = loaded.pipeline
    store = pipeline.state

    async def run() -> dict[str, Any]:
        try:
            cursors = {s.name: await store.get_cursor(s.name) for s in pipeline.sources}
            letters = await store.dead_letters()
            by_origin: dict[str, int] = {}
            for x in letters:
                by_origin[x.origin] = by_origin.get(x.origin, 0) + 1
            incidents = {
                m: len(await store.records(incidents_namespace(m))) for m in loaded.monitors
            }
        finally:
            await store.aclose()
        return {
            "store": type(store).__name__,
            "path": str(getattr(store, "path", "")) or None,
            "cursors": cursors,
            "dead_letters": by_origin,
            "open_incidents": incidents,
        }

    data = anyio.run(run)
    if args.json:
        _emit_json(data)
    else:
        print(f"state store: {data['store']}" + (f" at {data['path']}" if data["path"] else ""))
        for name, cursor in data["cursors"].items():
            print(f"  cursor {name}: {cursor if cursor is not None else '(none yet)'}")
        for origin, n in data["dead_letters"].items():
            print(f"  dead letters {origin}: {n}")
        for m, n in data["open_incidents"].items():
            print(f"  open incidents {m}: {n}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``socialplug demo``."""
    from .demo import run_demo  # noqa: PLC0415

    result = run_demo(out=Path(args.out), quiet=args.json)
    if args.json:
        _emit_json(result.to_json())
    else:
        print(result.summary())
        print(f"report: {result.report}")
    return EXIT_OK if result.ok else EXIT_FAILURES


def cmd_plugins(args: argparse.Namespace) -> int:
    """``socialplug plugins``."""
    from . import plugins  # noqa: PLC0415

    rows = [
        {"kind": kind, "name": p.name, "value": p.value, "distribution": p.distribution}
        for kind in plugins.KINDS
        for p in plugins.plugins(kind)
    ]
    if args.json:
        _emit_json(rows)
    else:
        for kind in plugins.KINDS:
            names = [
                f"{r['name']}"
                + ("" if r["distribution"] == "socialplug" else f" ({r['distribution']})")
                for r in rows
                if r["kind"] == kind
            ]
            print(f"{kind:<11} {', '.join(names) or '-'}")
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    common.add_argument("--log-json", action="store_true", help="log as JSON lines on stderr")

    parser = argparse.ArgumentParser(
        prog="socialplug",
        description="Run and operate social-media pipelines described in TOML files.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"socialplug {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, help: str, func: Callable[[argparse.Namespace], int], **kw: Any
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common], **kw)
        p.set_defaults(func=func)
        return p

    p = add("run", "run a pipeline: follow the sources until SIGINT/SIGTERM (or --once)", cmd_run)
    p.add_argument("file", metavar="FILE", help="the pipeline file (TOML)")
    p.add_argument(
        "--once", action="store_true", help="read what is new, deliver, commit and exit (ETL)"
    )
    p.add_argument(
        "--http",
        type=_address,
        metavar="HOST:PORT",
        help="serve /healthz, /readyz and /metrics, and the approval links of replies sinks",
    )

    p = add(
        "backfill", "re-read the sources from a date (stored cursors are left alone)", cmd_backfill
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--since",
        type=_parse_when,
        required=True,
        metavar="DATE",
        help="2026-11-20, an ISO time or '6h ago'",
    )
    p.add_argument(
        "--until", type=_parse_when, metavar="DATE", help="end of the progress bar (default: now)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add("check", "validate a pipeline file and print its graph", cmd_check)
    p.add_argument("file", metavar="FILE")

    q = sub.add_parser("query", help="work with queries", description="work with queries")
    qsub = q.add_subparsers(dest="query_command", metavar="ACTION", required=True)
    p = qsub.add_parser(
        "test", help="show which posts of a JSONL file a query matches", parents=[common]
    )
    p.set_defaults(func=cmd_query_test)
    p.add_argument("query", metavar="QUERY", help="e.g. '\"stuck train\" OR delay* NOT lang:de'")
    p.add_argument(
        "posts",
        metavar="FILE.jsonl",
        help="posts, one JSON object a line (a JSONL sink's output works)",
    )
    p.add_argument("--limit", type=int, default=50, help="matches to print (default 50)")

    p = add(
        "backtest",
        "replay recorded posts through the routes and monitors of a pipeline file",
        cmd_backtest,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("posts", metavar="FILE.jsonl")

    p = add("dlq", "list, replay or purge dead letters", cmd_dlq)
    p.add_argument("action", choices=("list", "replay", "purge"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--origin", metavar="NAME", help="only those of this sink or source")
    p.add_argument("--limit", type=int, metavar="N")
    p.add_argument(
        "--id", type=int, action="append", metavar="N", help="purge: this dead letter (repeatable)"
    )
    p.add_argument("--all", action="store_true", help="purge: every dead letter")

    p = add("incidents", "list, acknowledge or resolve incidents", cmd_incidents)
    p.add_argument("action", choices=("list", "ack", "resolve"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("incident", nargs="?", metavar="INCIDENT", help="ack/resolve: the incident key")
    p.add_argument(
        "--by", default=os.environ.get("USER", "cli"), help="who acknowledges (default: $USER)"
    )
    p.add_argument("--monitor", metavar="NAME", help="the monitor (default: the first)")

    p = add(
        "approvals",
        "list, approve, reject or publish drafted replies, or serve their approval links",
        cmd_approvals,
    )
    p.add_argument("action", choices=("list", "approve", "reject", "publish", "serve"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("draft", nargs="?", metavar="DRAFT", help="approve/reject: the draft id")
    p.add_argument(
        "--by", default=os.environ.get("USER", "cli"), help="who decides (default: $USER)"
    )
    p.add_argument("--text", help="approve: the reply text to post instead of the draft's")
    p.add_argument("--reason", help="reject: why")
    p.add_argument("--all", action="store_true", help="list: decided drafts too")
    p.add_argument(
        "--http",
        type=_address,
        default=("127.0.0.1", 8090),
        metavar="HOST:PORT",
        help="serve: where to listen (default 127.0.0.1:8090), with /healthz and /readyz",
    )

    s = sub.add_parser(
        "state", help="inspect the state store", description="inspect the state store"
    )
    ssub = s.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    p = ssub.add_parser("show", help="cursors, dead letters and open incidents", parents=[common])
    p.set_defaults(func=cmd_state)
    p.add_argument("file", metavar="FILE")

    p = add(
        "demo", "run the offline demo: a simulated day of a rail company, with a report", cmd_demo
    )
    p.add_argument(
        "--out",
        default="socialplug-demo",
        metavar="DIR",
        help="where to write the report (default ./socialplug-demo)",
    )

    add("plugins", "list the components installed, by kind", cmd_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``socialplug`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) in ("incidents", "approvals") and args.action not in (
        "list",
        "publish",
        "serve",
    ):
        target = getattr(args, "incident", None) if args.command == "incidents" else args.draft
        if target is None:
            parser.error(f"{args.command} {args.action} needs the key of what to {args.action}")
    _setup_logging(args)
    try:
        return int(args.func(args))
    except _Exit as exc:
        if exc.message:
            print(f"socialplug: {exc.message}", file=sys.stderr)
        return exc.code
    except MissingExtraError as exc:
        print(f"socialplug: {exc}", file=sys.stderr)
        return EXIT_NOT_AVAILABLE
    except ConfigurationError as exc:
        print(f"socialplug: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last word of a command line tool
        from .observe import redact  # noqa: PLC0415

        print(f"socialplug: failed: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        if args.verbose:
            raise
        return EXIT_FAILURES
