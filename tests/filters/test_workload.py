"""
The QuerySet computes the benchmark workload's rule matches exactly (WORKLOAD.md section 5).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialplug import Post
from socialplug.filters import QuerySet


ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".." / "shared" / "bench"
SAMPLE = ROOT / "tests" / "fixtures" / "query" / "workload_sample.json"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _need_bench() -> Path:
    if not (BENCH / "gen_workload.py").exists():
        reason = f"{BENCH} is absent (the shared benchmark folder is not checked out)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return BENCH


def _checksum(pairs: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for a, b in sorted(pairs):
        h.update(f"{a}\t{b}\n".encode())
    return h.hexdigest()[:16]


def test_shipped_sample_matches_the_reference() -> None:
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    qs = QuerySet({r["id"]: r["query"] for r in doc["rules"]}, fold_accents=False)
    assert len(qs) == 500
    mismatches = []
    for p in doc["posts"]:
        post = Post(
            platform="mastodon", id=p["id"], text=p["text"], tags=p["hashtags"], created_at=NOW
        )
        got = qs.match(post)
        if got != p["expected"]:
            mismatches.append((p["id"], got, p["expected"]))
    assert mismatches == []
    assert sum(len(p["expected"]) for p in doc["posts"]) > 300
    regex = QuerySet(
        {r["id"]: r["query"] for r in doc["rules"]}, fold_accents=False, engine="regex"
    )
    for p in doc["posts"][:60]:
        post = Post(
            platform="mastodon", id=p["id"], text=p["text"], tags=p["hashtags"], created_at=NOW
        )
        assert regex.match(post) == p["expected"]


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any, list[Any]]]:
    bench = _need_bench()
    out = tmp_path_factory.mktemp("workload")
    gen = str(bench / "gen_workload.py")
    subprocess.run(
        [sys.executable, gen, "--posts", "20000", "--rules", "500", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *(sys.executable, gen, "--rules", "5000", "--rules-file", "rules_5000.json"),
            *("--skip-posts", "--out", str(out)),
        ],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(bench))
    try:
        import common  # type: ignore[import-not-found]

        with (out / "posts.jsonl").open(encoding="utf-8") as f:
            parsed = [common.parse_normalize(line) for line in f]
        yield out, common, parsed
    finally:
        sys.path.remove(str(bench))


@pytest.mark.parametrize(
    ("rules_file", "expected"),
    [("rules.json", "2343b8737157726f"), ("rules_5000.json", "6a67e4e9e3805cf9")],
)
def test_head_of_the_workload_routes_exactly(
    workload: tuple[Path, Any, list[Any]], rules_file: str, expected: str
) -> None:
    """The 20,000-post head: dedupe, match with QuerySet, route: the published checksum."""
    folder, common, parsed = workload
    rules = common.load_rules(folder / rules_file)
    qs = QuerySet({r["id"]: r["query"] for r in rules}, fold_accents=False)
    routes = {r["id"]: r["route"] for r in rules}
    reference = common.RuleSet(rules)
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    pairs: list[tuple[str, str]] = []
    matches: list[tuple[str, str]] = []
    reference_matches: list[tuple[str, str]] = []
    for bp in parsed:
        if bp.id in seen_ids:
            continue
        seen_ids.add(bp.id)
        if bp.text in seen_texts:
            continue
        seen_texts.add(bp.text)
        post = Post(platform="mastodon", id=bp.id, text=bp.text, tags=bp.hashtags, created_at=NOW)
        names = qs.match(post)
        matches += [(n, bp.id) for n in names]
        pairs += sorted({(routes[n], bp.id) for n in names})
        reference_matches += [
            (rules[i]["id"], bp.id) for i in reference.match(bp.text, bp.hashtags)
        ]
    assert _checksum(pairs) == expected
    assert _checksum(matches) == _checksum(reference_matches)
