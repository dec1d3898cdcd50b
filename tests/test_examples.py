"""
Every example runs offline, quickly, and prints what it promises.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(
    name: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < 20, f"{name} took too long"
    return done


def test_every_example_is_covered():
    """Each example script has a test here, has a main() and stays under 80 lines."""
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert DEDICATED <= set(scripts)
    for name in sorted(DEDICATED):
        text = (EXAMPLES / name).read_text(encoding="utf-8")
        assert "def main(" in text
        assert len(text.splitlines()) < 80, name


def test_etl_job_resumes_and_exits_zero(tmp_path):
    """The job delivers everything once, a rerun reads nothing new, both exit 0."""
    first = run("etl_job.py", "--workdir", str(tmp_path / "w"), cwd=tmp_path)
    second = run("etl_job.py", "--workdir", str(tmp_path / "w"), cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("ok: read 36,")
    assert "complaints: 12 delivered" in first.stdout
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("ok: read 0,")
    lines = (tmp_path / "w" / "complaints.jsonl").read_text().splitlines()
    assert len(lines) == 12


def test_etl_job_fails_when_the_run_is_not_clean(tmp_path):
    """An undecodable line makes the exit code non-zero; the good lines still land."""
    bad = tmp_path / "input.jsonl"
    good = (EXAMPLES / "data" / "rail_mentions.jsonl").read_text().splitlines()[:3]
    bad.write_text("\n".join([*good, "{broken"]) + "\n")

    done = run("etl_job.py", "--input", str(bad), "--workdir", str(tmp_path / "w"), cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout.startswith("NOT OK: read 3,")
    assert "1 undecodable line(s)" in done.stderr


def test_notebook_quickstart(tmp_path):
    """The quickstart counts posts by language and delivers the English complaints."""
    done = run("notebook_quickstart.py", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "36 posts from 2026-11-20" in done.stdout
    counts = dict(
        line.split()[:2]
        for line in done.stdout.splitlines()
        if line.startswith("  ") and "#" in line
    )
    assert counts == {"en": "27", "de": "3", "fr": "3", "es": "3"}
    assert "read 36, kept 6," in done.stdout


def test_dead_letters_are_listed_and_replayed(tmp_path):
    """Refused deliveries become dead letters, and a replay empties the list."""
    done = run("dead_letters.py", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "run:    ok=False" in done.stdout
    assert "dead letters: 3" in done.stdout
    assert "replay: ok=True delivered=3" in done.stdout
    assert "dead letters left: 0" in done.stdout
    assert "tickets opened: 3" in done.stdout


def test_fastapi_webhook_receives_one_signed_push(tmp_path):
    """The receiver mounted in FastAPI accepts the signed push; the pipeline delivers it."""
    done = run("fastapi_webhook.py", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "business endpoint: 200 shipped" in lines
    assert any(line.startswith("webhook: 202 {'id': ") for line in lines), done.stdout
    assert any(line.startswith("read 1, kept 1,") and "delivered 1," in line for line in lines)
    assert "arrived: webhook evt-1 by acme: Order 1042 refunded" in lines
    assert sum(line.startswith("arrived:") for line in lines) == 1


def check_plots(done: subprocess.CompletedProcess[str], tmp_path: Path) -> list[str]:
    """The two PNG files are printed, exist under *tmp_path*, and are real PNG images."""
    assert done.returncode == 0, done.stderr
    assert "36 posts, sentiment by" in done.stdout
    hours = [line.split() for line in done.stdout.splitlines() if line[:3] in {"06:", "10:"}]
    assert hours == [["06:00", "9"], ["10:00", "1"]]
    plots = [Path(line[6:]) for line in done.stdout.splitlines() if line.startswith("plot: ")]
    assert sorted(p.name for p in plots) == ["sentiment_split.png", "volume_per_hour.png"]
    for plot in plots:
        assert plot.is_relative_to(tmp_path)
        data = plot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), plot
        assert len(data) > 1000, plot
    return done.stdout.splitlines()


def test_notebook_dataframe_plots_volume_and_sentiment(tmp_path):
    """Volume per hour and the sentiment split are computed and plotted to PNG files."""
    pytest.importorskip("vaderSentiment", reason="the sentiment extra is not installed")
    done = run("notebook_dataframe.py", cwd=tmp_path, env={"TMPDIR": str(tmp_path)})

    lines = check_plots(done, tmp_path)
    assert "36 posts, sentiment by VADER (English posts only)" in lines
    split = dict(line.split() for line in lines if line.split()[:1] == ["unscored"])
    assert split == {"unscored": "9"}  # the German, French and Spanish posts


def test_notebook_dataframe_without_vader(tmp_path):
    """Without VADER the keyword lexicon labels every post."""
    script = EXAMPLES / "notebook_dataframe.py"
    code = (
        "import runpy, sys; sys.modules['vaderSentiment'] = None; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    lines = check_plots(done, tmp_path)
    assert "36 posts, sentiment by keyword lexicon" in lines
    counts = {
        parts[0]: int(parts[1])
        for parts in map(str.split, lines)
        if parts[:1] in (["positive"], ["negative"], ["neutral"])
    }
    assert sum(counts.values()) == 36
    assert counts["negative"] > 0
    assert counts["positive"] > 0


DEDICATED = {
    "etl_job.py",
    "notebook_quickstart.py",
    "dead_letters.py",
    "fastapi_webhook.py",
    "notebook_dataframe.py",
}


@pytest.mark.parametrize(
    "name", sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in DEDICATED)
)
def test_other_examples_run(name, tmp_path):
    """Examples without a dedicated test at least run cleanly."""
    done = run(name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
