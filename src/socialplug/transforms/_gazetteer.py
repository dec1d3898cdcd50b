"""
Gazetteer entity tags: products, places, people from lists the user supplies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from ..exceptions import ConfigurationError
from ..filters._ast import Term
from ..filters._ast import fold as _lower
from ..filters._engine import Engine
from ..model import Post


__all__ = ["Gazetteer"]


class Gazetteer:
    """
    A transform writing ``annotations["entities"]``: for each kind (``"product"``,
    ``"place"``, ``"person"``, ...), the names found in the post's text and title.

    Names match like query terms: case- and accent-insensitive, on word boundaries, in one
    scan of the text for all entries.

    ::

        Gazetteer({
            "product": {"iPhone 15": ["iphone 15", "iphone15"], "Pixel 8": ["pixel 8"]},
            "place": ["London", "Paris"],
        })

    Args:
        entries: Kind to names, or kind to a mapping of name to aliases.
        key: The annotation key.
        fold_accents: Accent-insensitive matching (default).
    """

    __slots__ = ("_engine", "_kinds", "key")

    def __init__(
        self,
        entries: Mapping[str, Iterable[str] | Mapping[str, Iterable[str]]],
        /,
        *,
        key: str = "entities",
        fold_accents: bool = True,
    ) -> None:
        kinds: list[tuple[str, str]] = []
        terms: list[Term] = []
        for kind, names in entries.items():
            pairs = (
                [(name, alias) for name, aliases in names.items() for alias in (name, *aliases)]
                if isinstance(names, Mapping)
                else [(name, name) for name in names]
            )
            for name, alias in pairs:
                value = _lower(alias)
                if not value:
                    raise ConfigurationError(f"Gazetteer: empty alias for {kind}/{name!r}")
                kinds.append((kind, name))
                terms.append(Term("text", value))
        self._kinds = tuple(kinds)
        self._engine = Engine(terms, accents=fold_accents)
        self.key = key

    def __repr__(self) -> str:
        return f"<Gazetteer of {len(self._kinds)} names>"

    def find(self, post: Post, /) -> dict[str, list[str]]:
        """Return kind to names found in *post*, each in the order of the entries."""
        found: dict[str, list[str]] = {}
        probe = post if not post.title else attrs.evolve(post, text=f"{post.title}\n{post.text}")
        for i in self._engine.match(probe):
            kind, name = self._kinds[i]
            names = found.setdefault(kind, [])
            if name not in names:
                names.append(name)
        return found

    def __call__(self, post: Post, /) -> Post:
        """Return *post* with the entities found."""
        return post.annotate(**{self.key: self.find(post)})
