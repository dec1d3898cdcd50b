"""Every Python block of docs/sinks runs (construction and rendering only, no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


DOCS = Path(__file__).resolve().parents[2] / "docs" / "sinks"
PAGES = ["slack", "teams", "discord", "matrix", "mattermost", "email", "webhook",
         "github", "jira", "zendesk", "pagerduty", "opsgenie", "replies"]  # fmt: skip
BLOCKS = [
    pytest.param(block, id=f"{name}.md:{i}")
    for name in PAGES
    for i, block in enumerate(
        re.findall(r"```python\n(.*?)```", (DOCS / f"{name}.md").read_text(), re.S)
    )
]


@pytest.mark.parametrize("code", BLOCKS)
def test_block_runs(code: str) -> None:
    exec(compile(code, "<docs>", "exec"), {"__name__": "docs"})


def test_the_overview_runs_and_links_every_page() -> None:
    overview = (DOCS / "people.md").read_text()
    for name in PAGES:
        assert f"({name}.md)" in overview
    for block in re.findall(r"```python\n(.*?)```", overview, re.S):
        exec(compile(block, "<docs>", "exec"), {"__name__": "docs"})
