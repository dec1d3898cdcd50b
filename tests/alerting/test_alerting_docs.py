"""
The code blocks of the routing and spike-alert how-to pages run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest


DOCS = Path(__file__).resolve().parents[2] / "docs" / "how-to"


@pytest.mark.parametrize("page", ["routing.md", "spike-alerts.md"])
def test_page_code_blocks_run(page):
    """Every python block of the page runs, in order, in one namespace."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    namespace: dict[str, object] = {"__name__": "docs"}

    assert blocks
    for block in blocks:
        exec(compile(block, f"{page}", "exec"), namespace)
