"""The examples of docs/query-language.md run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from socialplug.filters import Query, QuerySyntaxError


DOC = Path(__file__).resolve().parents[2] / "docs" / "query-language.md"


def test_doc_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(QuerySyntaxError, match="too deeply nested"):
        Query("(" * 500 + "a" + ")" * 500)
    assert Query("(" * 50 + "a" + ")" * 50)(_post("a"))
    assert str(Query("NOT " * 40 + "a")).startswith("NOT NOT")
    assert Query("NOT " * 40 + "a")(_post("a"))
    with pytest.raises(QuerySyntaxError, match="too many NOT"):
        Query("-" * 300 + "a")


def _post(text: str):  # type: ignore[no-untyped-def]
    from socialplug.testing import make_post

    return make_post(text=text)
