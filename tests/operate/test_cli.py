"""
The ``socialplug`` command, run as a user runs it: in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "config"


def sp(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
):
    return subprocess.run(
        [sys.executable, "-m", "socialplug", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "posts.jsonl", tmp_path / "posts.jsonl")
    (tmp_path / "pipeline.toml").write_text(
        """
[pipeline]
name = "cli-test"

[state]
type = "sqlite"
path = "state.db"

[queries]
trouble = 'stuck OR delay* OR late OR "no announcement"'

[[sources]]
type = "jsonl"
name = "mentions"
path = "posts.jsonl"

[[routes]]
name = "support"
sinks = ["support"]
when = "trouble"
team = "support"

[[routes]]
name = "archive"
sinks = ["archive"]

[router]
fan_out = true

[[detectors]]
type = "monitor"
spikes = [{ window = "30m", bucket = "5m", min_count = 5, ratio = 2.0, threshold = 3.0, warmup = "1h", history = "1d" }]
incidents = { quiet = "2h" }

[sinks.support]
type = "jsonl"
path = "support.jsonl"

[sinks.archive]
type = "jsonl"
path = "archive.jsonl"
"""
    )
    return tmp_path


def test_help_reads_well():
    result = sp("--help")
    assert result.returncode == 0
    for command in ("run", "backfill", "check", "query", "dlq", "incidents", "approvals", "demo"):
        assert command in result.stdout
    assert "exit codes" in result.stdout
    sub = sp("run", "--help")
    assert "--once" in sub.stdout
    assert "--http" in sub.stdout


def test_check_prints_the_graph_and_json(workdir):
    result = sp("check", "pipeline.toml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "route support [P3 team=support] when stuck OR delay*" in result.stdout
    data = json.loads(sp("check", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert data["sources"] == ["mentions"]
    assert data["routes"] == ["support", "archive"]


def test_check_reports_every_problem_and_exits_2():
    result = sp("check", str(FIXTURES / "five_mistakes.toml"))
    assert result.returncode == 2
    assert "5 problems" in result.stderr
    assert "five_mistakes.toml:6: sources[0].type" in result.stderr
    assert "did you mean 'policies'?" in result.stderr


def test_usage_error_exits_2():
    result = sp("run")
    assert result.returncode == 2
    assert "FILE" in result.stderr


def test_run_once_delivers_and_resumes(workdir):
    first = sp("run", "pipeline.toml", "--once", "--json", cwd=workdir)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["read"] == 30
    assert report["ok"] is True
    archived = (workdir / "archive.jsonl").read_text().splitlines()
    assert len(archived) == 30
    second = json.loads(sp("run", "pipeline.toml", "--once", "--json", cwd=workdir).stdout)
    assert second["read"] == 0  # the cursor was committed
    state = json.loads(sp("state", "show", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert state["cursors"]["mentions"] is not None


def test_query_test_highlights_matches(workdir):
    missing = sp("query", "test", "stuck", "no-such-file.jsonl", cwd=workdir)
    assert missing.returncode == 2
    result = sp("query", "test", "stuck OR delay*", "posts.jsonl", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "[[" in result.stdout
    assert "posts match" in result.stdout
    data = json.loads(sp("query", "test", "stuck", "posts.jsonl", "--json", cwd=workdir).stdout)
    assert data["matched"] >= 1
    for match in data["matches"]:
        s, e = match["spans"][0]
        assert match["text"][s:e].casefold() == "stuck"
    none = sp("query", "test", "zeppelin", "posts.jsonl", cwd=workdir)
    assert none.returncode == 1
    bad = sp("query", "test", "stuck AND (", "posts.jsonl", cwd=workdir)
    assert bad.returncode == 2
    assert "invalid query" in bad.stderr


def test_dlq_list_replay_purge(workdir):
    # A sink that cannot write (its folder is a file) dead-letters everything.
    (workdir / "blocked").write_text("")
    text = (workdir / "pipeline.toml").read_text().replace('"archive.jsonl"', '"blocked/a.jsonl"')
    (workdir / "pipeline.toml").write_text(
        text + "\n[policies.archive]\nretry = { attempts = 1 }\n"
    )
    run = sp("run", "pipeline.toml", "--once", cwd=workdir)
    assert run.returncode == 1
    listed = json.loads(sp("dlq", "list", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert len(listed) == 30
    assert {x["origin"] for x in listed} == {"archive"}
    still = sp("dlq", "replay", "pipeline.toml", "--json", cwd=workdir)
    assert still.returncode == 1  # still failing
    (workdir / "blocked").unlink()
    (workdir / "blocked").mkdir()
    replayed = json.loads(sp("dlq", "replay", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert replayed["delivered"] == {"archive": 30}
    assert json.loads(sp("dlq", "list", "pipeline.toml", "--json", cwd=workdir).stdout) == []
    assert sp("dlq", "purge", "pipeline.toml", cwd=workdir).returncode == 2
    gone = sp("dlq", "purge", "pipeline.toml", "--id", "9999", cwd=workdir)
    assert gone.returncode == 4


def test_incidents_list_and_ack(workdir):
    shutil.copy(FIXTURES / "burst.jsonl", workdir / "posts.jsonl")
    assert sp("run", "pipeline.toml", "--once", cwd=workdir).returncode == 0
    incidents = json.loads(sp("incidents", "list", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert incidents, "the fixture's burst opens an incident"
    key = incidents[0]["incident"]
    acked = sp("incidents", "ack", "pipeline.toml", key, "--by", "ops", cwd=workdir)
    assert acked.returncode == 0, acked.stderr
    assert "acknowledged" in acked.stdout
    missing = sp("incidents", "ack", "pipeline.toml", "incident:nope", cwd=workdir)
    assert missing.returncode == 4
    resolve = sp("incidents", "resolve", "pipeline.toml", key, "--by", "ops", cwd=workdir)
    assert resolve.returncode == 0, resolve.stderr
    assert "resolved" in resolve.stdout
    assert sp("run", "pipeline.toml", "--once", cwd=workdir).returncode == 0
    still_open = json.loads(sp("incidents", "list", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert key not in [i["incident"] for i in still_open]
    gone = sp("incidents", "resolve", "pipeline.toml", key, cwd=workdir)
    assert gone.returncode == 4


def test_approvals(workdir):
    import importlib.util

    if importlib.util.find_spec("socialplug.sinks.replies") is None:
        result = sp("approvals", "list", "pipeline.toml", cwd=workdir)
        assert result.returncode == 3
        assert "not available" in result.stderr
        return
    from datetime import UTC, datetime

    import anyio

    from socialplug.sinks.replies import ApprovalQueue, Draft
    from socialplug.state import SQLiteStateStore

    async def add():
        store = SQLiteStateStore(workdir / "state.db")
        queue = ApprovalQueue(store)
        for i in (1, 2):
            await queue.add(
                Draft(
                    id=f"d{i}",
                    platform="mastodon",
                    text=f"Sorry ({i})",
                    created_at=datetime.now(UTC),
                    reply_to="1",
                )
            )
        await store.aclose()

    anyio.run(add)
    listed = json.loads(sp("approvals", "list", "pipeline.toml", "--json", cwd=workdir).stdout)
    assert [d["id"] for d in listed] == ["d1", "d2"]
    ok = sp("approvals", "approve", "pipeline.toml", "d1", "--by", "ana", cwd=workdir)
    assert ok.returncode == 0, ok.stderr
    no = sp("approvals", "reject", "pipeline.toml", "d2", "--reason", "tone", cwd=workdir)
    assert no.returncode == 0, no.stderr
    assert json.loads(sp("approvals", "list", "pipeline.toml", "--json", cwd=workdir).stdout) == []
    decided = json.loads(
        sp("approvals", "list", "pipeline.toml", "--all", "--json", cwd=workdir).stdout
    )
    assert {d["id"]: d["status"] for d in decided} == {"d1": "approved", "d2": "rejected"}
    assert sp("approvals", "approve", "pipeline.toml", "nope", cwd=workdir).returncode == 4


def test_replies_configured_in_a_pipeline_file_are_drafted_approved_and_posted(workdir):
    """A reply sink in TOML: ``run --once`` drafts, ``approvals list`` shows the drafts,
    ``approve`` posts one through the Mastodon imitation, exactly once; tokens never show."""
    from socialplug.testing.mastodon import MastodonServer

    token = "brand-access-token-77"
    (workdir / "replies.toml").write_text(
        """
[state]
type = "sqlite"
path = "state.db"

[[sources]]
type = "jsonl"
name = "mentions"
path = "posts.jsonl"

[[filters]]
query = "stuck"

[sinks.replies]
type = "replies"
compose = "Sorry {author.name}, trains are being rerouted: https://status.example.com"

[sinks.replies.mastodon]
base_url = "${MASTODON_URL}"
token = "${MASTODON_TOKEN}"
visibility = "unlisted"
"""
    )
    with MastodonServer(token=token, rate_limit=None) as server:
        env = {"MASTODON_URL": server.url, "MASTODON_TOKEN": token}

        def run(*args: str):
            done = sp(*args, cwd=workdir, env=env)
            assert token not in done.stdout + done.stderr
            return done

        first = run("run", "replies.toml", "--once", "--json")
        assert first.returncode == 0, first.stderr
        drafted = json.loads(first.stdout)["delivered"]["replies"]
        assert drafted >= 2
        listed = json.loads(run("approvals", "list", "replies.toml", "--json").stdout)
        assert len(listed) == drafted
        draft, other = listed[0], listed[1]
        assert draft["status"] == "pending"
        assert draft["platform"] == "mastodon"
        assert draft["text"].startswith("@")  # the author is mentioned
        assert "trains are being rerouted" in draft["text"]
        assert not [r for r in server.requests if r.method == "POST"]  # nothing posted yet

        approved = run(
            "approvals", "approve", "replies.toml", draft["id"], "--by", "dana", "--json"
        )
        assert approved.returncode == 0, approved.stderr
        result = json.loads(approved.stdout)
        assert result["status"] == "posted"
        assert result["decided_by"] == "dana"
        (post,) = [r for r in server.requests if r.method == "POST"]
        assert post.path == "/api/v1/statuses"
        assert post.headers["idempotency-key"] == draft["id"]
        assert post.json()["in_reply_to_id"] == draft["reply_to"]
        assert post.json()["visibility"] == "unlisted"
        assert post.json()["status"] == draft["text"]

        rejected = run("approvals", "reject", "replies.toml", other["id"], "--reason", "tone")
        assert rejected.returncode == 0, rejected.stderr
        published = run("approvals", "publish", "replies.toml", "--json")
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout) == []  # nothing approved is left to post
        assert len([r for r in server.requests if r.method == "POST"]) == 1
        again = run("run", "replies.toml", "--once", "--json")
        assert json.loads(again.stdout)["read"] == 0  # committed: no second round of drafts
    decided = json.loads(run("approvals", "list", "replies.toml", "--all", "--json").stdout)
    status = {d["id"]: d["status"] for d in decided}
    assert status[draft["id"]] == "posted"
    assert status[other["id"]] == "rejected"
    assert len(decided) == drafted
    # The plain pipeline file has no replier: publishing is a usage error.
    assert sp("approvals", "publish", "pipeline.toml", cwd=workdir).returncode == 2


def test_backtest(workdir):
    shutil.copy(FIXTURES / "burst.jsonl", workdir / "burst.jsonl")
    result = sp("backtest", "pipeline.toml", "burst.jsonl", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["posts"] == 28
    (monitor,) = data["monitors"]
    assert monitor["monitor"] == "monitor"
    (incident,) = monitor["incidents"]
    assert incident["opened_at"].startswith("2026-11-20 09:")
    text = sp("backtest", "pipeline.toml", "burst.jsonl", cwd=workdir).stdout
    assert "incident.opened" in text


def test_backfill_reads_from_a_date_without_touching_cursors(tmp_path):
    from socialplug.testing.mastodon import MastodonServer, make_status

    with MastodonServer(rate_limit=None) as server:
        for i in range(5):
            server.add_status(make_status(content=f"<p>delay number {i}</p>", tags=["rail"]))
        (tmp_path / "p.toml").write_text(
            f"""
[state]
type = "sqlite"
path = "state.db"
[[sources]]
type = "mastodon"
name = "masto"
servers = ["{server.url}"]
timelines = [{{ tag = "rail" }}]
streaming = false
[sinks.out]
type = "jsonl"
path = "out.jsonl"
"""
        )
        result = sp("backfill", "p.toml", "--since", "2000-01-01", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["read"] == 5
        state = json.loads(sp("state", "show", "p.toml", "--json", cwd=tmp_path).stdout)
        assert state["cursors"] == {"masto": None}
        plain = sp("backfill", "p.toml", "--since", "2000-01-01", cwd=tmp_path)
        assert plain.returncode == 0, plain.stderr
        assert "backfill" in plain.stderr  # the progress display (plain when not a terminal)
        assert "duplicates 5" in plain.stdout  # seen keys kept the replay from re-delivering
    bad = sp("backfill", "p.toml", "--since", "last tuesday", cwd=tmp_path)
    assert bad.returncode == 2


def test_run_follow_serves_health_and_stops_on_sigterm(workdir):
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialplug", "run", "pipeline.toml", "--http", "127.0.0.1:0",
         "--json", "--log-json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "serving" in line, proc.stderr.read() if proc.poll() is not None else line
        base = line.strip().rsplit(" ", 1)[-1]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (workdir / "archive.jsonl").exists() and len(
                (workdir / "archive.jsonl").read_text().splitlines()
            ) == 30:
                break
            time.sleep(0.1)
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 200
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert 'socialplug_delivered_total{sink="archive"} 30.0' in metrics.text
        assert "socialplug_delivery_seconds_bucket" in metrics.text
        assert httpx.get(f"{base}/nope").status_code == 404
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["stopped_by"] == "SIGTERM"
    logs = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert logs, err
    assert all({"time", "level", "logger", "message"} <= set(x) for x in logs)


def test_the_example_pipeline_file_runs(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {"STATE_DIR": str(tmp_path)}
    check = sp("check", "examples/brand_monitor.toml", cwd=root, env=env)
    assert check.returncode == 0, check.stderr
    run = sp("run", "examples/brand_monitor.toml", "--once", "--json", cwd=root, env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["filtered"] >= 1  # the "train of thought" joke
    assert report["routed"]["operations"] > 0
    assert report["routed"]["archive"] == report["kept"]
    assert (tmp_path / "support.jsonl").exists()
