"""Every Python block of docs/sinks runs (construction and rendering only, no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


DOCS = Path(__file__).resolve().parents[2] / "docs" / "sinks"
BLOCKS = [
    pytest.param(block, id=f"{path.name}:{i}")
    for path in sorted(DOCS.glob("*.md"))
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))
]


@pytest.mark.parametrize("code", BLOCKS)
def test_block_runs(code: str) -> None:
    exec(compile(code, "<docs>", "exec"), {"__name__": "docs"})


def test_every_sink_module_has_a_page() -> None:
    modules = ["slack", "teams", "discord", "matrix", "mattermost", "email", "webhook",
               "github", "jira", "zendesk", "pagerduty", "opsgenie", "replies"]  # fmt: skip
    assert sorted(p.stem for p in DOCS.glob("*.md") if p.stem != "index") == sorted(modules)
