"""
Query pushdown: what each platform's search can do for a query.

A translation is a *relaxation*: the platform search returns a superset of what the query
matches (parts it cannot express are dropped and listed), and sources re-check every post
locally, so a query means the same on every platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..exceptions import ConfigurationError
from ._ast import And, Field, Near, Node, Not, Or, Slop, Term


__all__ = ["PLATFORMS", "Pushdown", "to_platform"]

PLATFORMS = ("bluesky", "mastodon", "reddit", "x")
_MAX_QUERIES = 10

# leaf kinds each platform's search understands
_TERMS = {
    "bluesky": {"text", "tag", "mention"},
    "reddit": {"text", "tag", "mention"},
    "x": {"text", "tag", "mention"},
    "mastodon": {"tag"},
}
_FIELDS = {
    "bluesky": {"author", "lang", "site", "url"},
    "reddit": {"author", "site", "url", "title"},
    "x": {"author", "lang", "site", "url"},
    "mastodon": set(),
}


@attrs.frozen(kw_only=True)
class Pushdown:
    """
    What a platform's search can do for a query.

    Attributes:
        platform: The platform.
        queries: Search strings to run (their union is a superset of the query's matches);
            empty when the platform cannot narrow the search at all.
        params: Extra request parameters (Mastodon: ``{"hashtags": [...]}`` to follow).
        untranslated: The parts of the query left to the local re-check, in words.
        exact: Whether nothing was left out (results are re-checked anyway).
    """

    platform: str
    queries: tuple[str, ...] = ()
    params: Mapping[str, Any] = attrs.field(factory=dict)
    untranslated: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """Whether the platform search expresses the whole query."""
        return not self.untranslated


def _relax(node: Node, platform: str, notes: list[str]) -> Node | None:
    """Return a node the platform can express that the query implies, or None (no limit)."""
    if isinstance(node, Term):
        if node.kind in _TERMS[platform]:
            return node
        notes.append(f"{node} (not supported by {platform} search)")
        return None
    if isinstance(node, Field):
        if node.name in _FIELDS[platform]:
            return node
        notes.append(f"{node} (not supported by {platform} search)")
        return None
    if isinstance(node, Near | Slop):
        notes.append(f"{node} (proximity)")
        terms: list[Node] = (
            [node.left, node.right]
            if isinstance(node, Near)
            else [Term("text", w) for w in node.words]
        )
        return _relax(And(tuple(terms)), platform, [])
    if isinstance(node, Not):
        notes.append(f"{node} (negation)")
        return None
    kids = [_relax(c, platform, notes) for c in node.children]
    if isinstance(node, Or):
        if any(k is None for k in kids):
            notes.append(f"{node} (an alternative cannot be searched)")
            return None
        return Or(tuple(k for k in kids if k is not None))
    kept = [k for k in kids if k is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def _dnf(node: Node) -> list[list[Node]]:
    if isinstance(node, Or):
        return [conj for c in node.children for conj in _dnf(c)]
    if isinstance(node, And):
        out: list[list[Node]] = [[]]
        for c in node.children:
            out = [a + b for a in out for b in _dnf(c)]
        return out
    return [[node]]


def _quote(v: str) -> str:
    return '"' + v + '"' if " " in v or not v.isalnum() else v


def _leaf(node: Node, platform: str) -> str:
    if isinstance(node, Term):
        if node.kind == "tag":
            return node.value if platform == "reddit" else "#" + node.value
        if node.kind == "mention":
            return node.value if platform == "reddit" else "@" + node.value
        return _quote(node.value)
    assert isinstance(node, Field)
    name, v = node.name, node.value
    if platform == "x":
        name = {"author": "from", "site": "url"}.get(name, name)
    elif platform == "bluesky":
        name = {"author": "from", "site": "domain"}.get(name, name)
    return f"{name}:{_quote(v) if name == 'title' else v}"


def _render_lucene(node: Node, platform: str, *, top: bool = True) -> str:
    if isinstance(node, And | Or):
        sep = " OR " if isinstance(node, Or) else (" " if platform == "x" else " AND ")
        parts = [_render_lucene(c, platform, top=False) for c in node.children]
        parts = list(dict.fromkeys(parts))
        if len(parts) == 1:
            return parts[0]
        text = sep.join(parts)
        return text if top else "(" + text + ")"
    return _leaf(node, platform)


def _conjunctions(node: Node, notes: list[str]) -> list[list[Node]]:
    """DNF of *node*, with Or groups dropped (relaxed) until at most _MAX_QUERIES remain."""
    while True:
        conj = _dnf(node)
        if len(conj) <= _MAX_QUERIES or not isinstance(node, And):
            return conj[:_MAX_QUERIES] if len(conj) <= _MAX_QUERIES else []
        ors = [c for c in node.children if isinstance(c, Or)]
        if not ors:
            return []
        widest = max(ors, key=lambda c: len(_dnf(c)))
        notes.append(f"{widest} (too many alternatives for separate searches)")
        rest = tuple(c for c in node.children if c is not widest)
        if not rest:
            return []
        node = rest[0] if len(rest) == 1 else And(rest)


def to_platform(ast: Node, platform: str) -> Pushdown:
    """
    Translate *ast* for *platform*; see :meth:`socialplug.filters.Query.to_platform`.

    Raises:
        ConfigurationError: Unknown platform.
    """
    if platform not in PLATFORMS:
        msg = f"no query pushdown for platform {platform!r}; known: {', '.join(PLATFORMS)}"
        raise ConfigurationError(msg)
    notes: list[str] = []
    relaxed = _relax(ast, platform, notes)
    if relaxed is None:
        notes.append("the whole query (nothing the platform search can narrow on)")
        return Pushdown(platform=platform, untranslated=tuple(notes))
    if platform in ("reddit", "x"):
        return Pushdown(
            platform=platform,
            queries=(_render_lucene(relaxed, platform),),
            untranslated=tuple(notes),
        )
    conjunctions = _conjunctions(relaxed, notes)
    if platform == "bluesky":
        queries = tuple(
            dict.fromkeys(
                " ".join(dict.fromkeys(_leaf(n, platform) for n in conj)) for conj in conjunctions
            )
        )
        if not queries:
            notes.append("the whole query (too many alternatives)")
        return Pushdown(platform=platform, queries=queries, untranslated=tuple(notes))
    # mastodon: hashtag timelines to follow; every alternative must carry a hashtag
    tags: list[str] = []
    for conj in conjunctions:
        tag = next((n.value for n in conj if isinstance(n, Term) and n.kind == "tag"), None)
        if tag is None:
            notes.append("an alternative without a hashtag: read the public timeline")
            return Pushdown(platform=platform, untranslated=tuple(notes))
        tags.append(tag)
    if not conjunctions:
        notes.append("the whole query (too many alternatives)")
    return Pushdown(
        platform=platform,
        params={"hashtags": list(dict.fromkeys(tags))},
        untranslated=tuple(notes),
    )
