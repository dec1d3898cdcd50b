"""The source pages in docs/sources: code blocks compile and name real public objects."""

from __future__ import annotations

import ast
import importlib
import re

import pytest
from sources_support import ROOT


PAGES = sorted((ROOT / "docs" / "sources").glob("*.md"))
_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_code_blocks_compile_and_imports_exist(page):
    """Every Python block parses and every ``from socialplug... import X`` names a real X."""
    blocks = _BLOCK.findall(page.read_text())

    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("socialplug"):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module}.{alias.name} ({page.name})"
