"""
MkDocs hook: nav entries written as glob patterns become the pages they match.

A pattern (``sources/*.md``) expands to the matching pages that the nav does not name
elsewhere, sorted by path; a pattern that matches nothing disappears, and so does a section
left empty. Pages contributed later then join the nav without editing ``mkdocs.yml``, and
the strict build passes before and after they exist.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any


GLOB = frozenset("*?[")


def _explicit(nav: Any, out: set[str]) -> None:
    if isinstance(nav, str):
        if not GLOB & set(nav):
            out.add(nav)
    elif isinstance(nav, dict):
        for value in nav.values():
            _explicit(value, out)
    elif isinstance(nav, list):
        for item in nav:
            _explicit(item, out)


def _expand(nav: Any, pages: list[str], named: set[str]) -> Any:
    if isinstance(nav, str):
        if not GLOB & set(nav):
            return nav
        hits = [p for p in pages if fnmatch.fnmatch(p, nav) and p not in named]
        hits = [p for p in hits if p.count("/") == nav.count("/")]
        named.update(hits)
        return hits or None
    if isinstance(nav, dict):
        out = {}
        for key, value in nav.items():
            expanded = _expand(value, pages, named)
            if expanded not in (None, []):
                out[key] = expanded
        return out or None
    if isinstance(nav, list):
        items: list[Any] = []
        for item in nav:
            expanded = _expand(item, pages, named)
            if isinstance(item, str) and isinstance(expanded, list):
                items.extend(expanded)
            elif expanded is not None:
                items.append(expanded)
        return items
    return nav


def on_config(config: Any) -> Any:
    """Expand glob patterns in ``nav`` against the Markdown files of ``docs_dir``."""
    nav = config.get("nav")
    if not nav:
        return config
    root = Path(config["docs_dir"])
    pages = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.md")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    named: set[str] = set()
    _explicit(nav, named)
    config["nav"] = _expand(nav, pages, named)
    return config
