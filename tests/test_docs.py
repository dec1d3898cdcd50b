"""
Every ```python block in docs/ runs.

The blocks of one page run in order in one namespace (a page may build on its earlier
blocks), in a fresh interpreter, in a temporary folder holding a copy of ``examples/data``,
with proxies pointing nowhere so that nothing reaches beyond loopback. A block opts out with
``<!-- skip: reason -->`` on the line before its fence; a block that needs a machine service
says so with ``<!-- service: Redis 6379 -->`` there instead, and its page is skipped (failed
in CI) when nothing listens on that port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import attrs
import pytest


ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^`]*$")
SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.*?)\s*-->\s*$")
SERVICE = re.compile(r"^\s*<!--\s*service:\s*(?P<name>.+?)\s+(?P<port>\d+)\s*-->\s*$")

RUNNER = """
import json, sys
blocks = json.loads(open(sys.argv[1], encoding="utf-8").read())
namespace = {"__name__": "__main__"}
for block in blocks:
    code = compile("\\n" * block["line"] + block["code"], block["file"], "exec")
    exec(code, namespace)
"""


def require_service(name: str, port: int) -> None:
    """Skip (fail in CI) unless something listens on 127.0.0.1:*port*."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return
    except OSError:
        reason = f"{name} is not running on 127.0.0.1:{port}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@attrs.frozen
class Block:
    file: str
    line: int  # of the first code line, 0-based
    code: str
    skip: str | None
    service: tuple[str, int] | None = None


def blocks_of(page: Path) -> list[Block]:
    """The fenced python blocks of *page*, with their skip reasons."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, lang = len(match["indent"]), match["lang"]
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if lang in ("python", "py"):
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            skipped = SKIP.match(before)
            service = SERVICE.match(before)
            code = "\n".join(line[indent:] for line in lines[start:end])
            rel = page.relative_to(ROOT).as_posix()
            out.append(
                Block(
                    rel,
                    start,
                    code,
                    skipped["reason"] if skipped else None,
                    (service["name"], int(service["port"])) if service else None,
                )
            )
        i = end + 1
    return out


def pages() -> list[Path]:
    return sorted(
        p
        for p in DOCS.rglob("*.md")
        if not any(part.startswith(".") for part in p.relative_to(DOCS).parts)
    )


PAGES = [p for p in pages() if blocks_of(p)]


def test_the_docs_have_code():
    """The tutorials and how-to guides carry runnable examples (the collector finds them)."""
    found = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "tutorials/notebook-quickstart.md", "how-to/write-a-sink.md"} <= found


def test_skips_give_reasons():
    """Every opted-out block says why."""
    for page in PAGES:
        for block in blocks_of(page):
            assert block.skip is None or block.skip.strip(), f"{block.file}:{block.line}"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_code_runs(page, tmp_path):
    """The page's python blocks run, in order, offline, without error."""
    runnable = [b for b in blocks_of(page) if b.skip is None]
    if not runnable:
        pytest.skip("every block of this page opts out")
    for service in sorted({b.service for b in runnable if b.service is not None}):
        require_service(*service)
    blocks = [{"file": b.file, "line": b.line, "code": b.code} for b in runnable]
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "examples" / "data")
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    (tmp_path / "runner.py").write_text(RUNNER, encoding="utf-8")
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "ALL_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [sys.executable, "runner.py", "blocks.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{page.name} failed:\n{done.stdout}\n{done.stderr}"


def load_nav_hook():
    spec = importlib.util.spec_from_file_location("nav_slots", DOCS / ".hooks" / "nav_slots.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nav_slots_expand_globs_and_drop_empty_sections(tmp_path):
    """Glob entries list the pages not named elsewhere, sorted; empty sections vanish."""
    for page in ("index.md", "how-to/a.md", "how-to/b.md", "how-to/c.md", "extra.md"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("# x\n")
    nav = [
        {"Home": "index.md"},
        {"How-to": ["how-to/b.md", "how-to/*.md"]},
        {"Sinks": ["sinks/*.md"]},
        {"More": ["*.md"]},
    ]
    config = load_nav_hook().on_config({"nav": nav, "docs_dir": str(tmp_path)})

    assert config["nav"] == [
        {"Home": "index.md"},
        {"How-to": ["how-to/b.md", "how-to/a.md", "how-to/c.md"]},
        {"More": ["extra.md"]},
    ]
