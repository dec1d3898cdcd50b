"""
ETL job: deliver what is new in a file of mentions, resume next time, fail loudly.

Run it from cron or a scheduler; it exits non-zero when the run was not clean (a source
error, a dead letter, an undecodable line), after delivering and committing what it could.

    python examples/etl_job.py [--input FILE] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from socialplug import Pipeline, Route, Router, SQLiteStateStore
from socialplug.filters import where
from socialplug.sinks import JSONLSink
from socialplug.sources import JSONLSource
from socialplug.sync import run_once


DATA = Path(__file__).parent / "data" / "rail_mentions.jsonl"


def build(source_file: Path, workdir: Path) -> Pipeline:
    """Complaints to one table, everything else to another; state in workdir."""
    complaint = where(lambda p: any(w in p.text.lower() for w in ("stuck", "delay", "refund")))
    return Pipeline(
        name="mentions-etl",
        sources=[JSONLSource(source_file, name="rail-mentions")],
        router=Router(
            [Route(name="complaints", sinks="complaints", when=complaint)],
            default=Route(name="other", sinks="other"),
        ),
        sinks={
            "complaints": JSONLSink(workdir / "complaints.jsonl"),
            "other": JSONLSink(workdir / "other.jsonl"),
        },
        state=SQLiteStateStore(workdir / "state.db"),
    )


def main(argv: list[str] | None = None) -> int:
    """Run once; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument("--input", type=Path, default=DATA)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="socialplug-etl-"))
    workdir.mkdir(parents=True, exist_ok=True)

    report = run_once(build(args.input, workdir), timeout=300)
    print(f"{'ok' if report.ok else 'NOT OK'}: {report.summary()}")
    for sink, count in sorted(report.delivered.items()):
        print(f"  {sink}: {count} delivered")
    for error in report.errors:
        print(f"  error: {error}", file=sys.stderr)
    if report.malformed:
        print(f"  {report.malformed} undecodable line(s) kept as dead letters", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
