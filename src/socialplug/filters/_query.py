"""
``Query`` (one boolean query, a Filter) and ``QuerySet`` (a percolator of named queries).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

import attrs

from ..model import Post
from ..typing import Filter
from ._ast import And, Node, Not, Or, parse
from ._engine import Engine, EngineKind
from ._predicate import Predicate, where
from ._pushdown import Pushdown, to_platform


__all__ = ["Query", "QuerySet"]


def _rebuild_query(text: str, fold_accents: bool) -> Query:  # noqa: FBT001
    return Query(text, fold_accents=fold_accents)


def _rebuild_queryset(
    queries: dict[str, str],
    engine: EngineKind,
    fold_accents: bool,  # noqa: FBT001
) -> QuerySet:
    return QuerySet(queries, engine=engine, fold_accents=fold_accents)


def _engine_of(query: Query) -> Engine:
    return Engine([query.ast], accents=query.fold_accents)


@attrs.frozen(repr=False)
class Query:
    """
    A boolean query on posts: a :class:`~socialplug.typing.Filter`.

    ::

        q = Query('("eurostar" OR #eurostar) AND (delay* OR stuck) -#hiring')
        keep = q & where(lambda p: p.lang == "en")

    Matching is case- and accent-insensitive on Unicode word boundaries; see
    ``docs/query-language.md`` for the language. ``&``, ``|`` and ``~`` between two queries
    give a query (one scan of the text); with any other filter, a
    :class:`~socialplug.filters.Predicate`.

    Args:
        text: The query.
        fold_accents: Match accent-insensitively (``cafe`` matches ``café``, the default);
            ``False`` compares accents exactly (the benchmark workload's semantics).

    Raises:
        QuerySyntaxError: *text* does not parse; the message points at the column.

    Attributes:
        text: The query as given.
        ast: Its syntax tree; ``str(query)`` prints it in canonical form.
    """

    text: str = attrs.field(eq=False)
    fold_accents: bool = attrs.field(default=True, kw_only=True)
    ast: Node = attrs.field(
        init=False, default=attrs.Factory(lambda self: parse(self.text), takes_self=True)
    )
    _engine: Engine = attrs.field(
        init=False, eq=False, default=attrs.Factory(_engine_of, takes_self=True)
    )

    @classmethod
    def from_ast(cls, ast: Node, /, *, fold_accents: bool = True) -> Query:
        """Build a query from a syntax tree."""
        return cls(str(ast), fold_accents=fold_accents)

    @property
    def label(self) -> str:
        """A readable name for reports and logs (the canonical text)."""
        return f"Query({str(self.ast)!r})"

    def __repr__(self) -> str:
        return self.label

    def __str__(self) -> str:
        return str(self.ast)

    def __reduce__(self) -> tuple[Any, tuple[str, bool]]:
        # compiled functions do not pickle: ship the text, compile again (worker processes)
        return (_rebuild_query, (self.text, self.fold_accents))

    def __call__(self, post: Post, /) -> bool:
        """Return whether *post* matches."""
        engine = self._engine
        text = engine.fold(post.text)
        return engine.fns[0](engine.present(post, text), post, text)

    def matched_terms(self, post: Post, /) -> list[str]:
        """
        Return the terms of this query found in *post* (those not under a NOT), as written
        in canonical form (``eurostar``, ``#eurostar``, ``"le shuttle"``), whether or not the
        whole query matches.
        """
        engine = self._engine
        return engine.matched_terms(engine.present(post, engine.fold(post.text)), 0)

    def annotate(self, post: Post, /) -> Post:
        """
        Return *post* with ``annotations["matched_terms"]`` listing :meth:`matched_terms`
        (merged with terms already there), for highlighting. A transform.
        """
        terms = self.matched_terms(post)
        previous = post.annotations.get("matched_terms")
        if isinstance(previous, list | tuple):
            terms = list(dict.fromkeys([*previous, *terms]))
        return post.annotate(matched_terms=terms)

    def to_platform(self, platform: str, /) -> Pushdown:
        """
        Translate what *platform*'s search understands (``"bluesky"``, ``"reddit"``, ``"x"``,
        ``"mastodon"``).

        The translation is a relaxation: everything the query matches, the platform search
        returns; what it could not express is listed in ``untranslated`` and checked locally,
        as every result is re-checked with this query.
        """
        return to_platform(self.ast, platform)

    @overload
    def __and__(self, other: Query) -> Query: ...
    @overload
    def __and__(self, other: Filter) -> Query | Predicate: ...
    def __and__(self, other: Filter) -> Query | Predicate:
        """``self & other``: a query with a query, else a :class:`Predicate`."""
        if isinstance(other, Query):
            return Query.from_ast(And((self.ast, other.ast)), fold_accents=self.fold_accents)
        return where(self) & other

    def __rand__(self, other: Filter) -> Predicate:
        return where(other) & where(self)

    @overload
    def __or__(self, other: Query) -> Query: ...
    @overload
    def __or__(self, other: Filter) -> Query | Predicate: ...
    def __or__(self, other: Filter) -> Query | Predicate:
        """``self | other``: a query with a query, else a :class:`Predicate`."""
        if isinstance(other, Query):
            return Query.from_ast(Or((self.ast, other.ast)), fold_accents=self.fold_accents)
        return where(self) | other

    def __ror__(self, other: Filter) -> Predicate:
        return where(other) | where(self)

    def __invert__(self) -> Query:
        return Query.from_ast(Not(self.ast), fold_accents=self.fold_accents)


class QuerySet:
    """
    A percolator: thousands of named queries compiled together; :meth:`match` returns the
    names of those a post matches, in the mapping's order.

    A post is folded and scanned once (an Aho-Corasick automaton over every term when
    pyahocorasick is installed, the ``query`` extra; one regular expression per term
    otherwise) and only the queries indexed under a term found are evaluated.

    Args:
        queries: Name to query text, or to a :class:`Query` (its syntax tree is used; the
            set's *fold_accents* applies to every query).
        engine: ``"auto"`` (Aho-Corasick when installed), ``"aho-corasick"`` (raises
            :exc:`~socialplug.exceptions.MissingExtraError` without it) or ``"regex"``.
        fold_accents: Match accent-insensitively (the default); ``False`` compares accents
            exactly, which is the benchmark workload's semantics (there, ``uber`` must not
            match ``über``).

    Raises:
        QuerySyntaxError: A query does not parse; the message names it.
    """

    __slots__ = ("_engine", "_names")

    def __init__(
        self,
        queries: Mapping[str, str | Query],
        /,
        *,
        engine: EngineKind = "auto",
        fold_accents: bool = True,
    ) -> None:
        names = tuple(queries)
        asts: list[Node] = []
        for name in names:
            q = queries[name]
            if isinstance(q, Query):
                asts.append(q.ast)
                continue
            try:
                asts.append(parse(q))
            except Exception as exc:
                exc.add_note(f"in query {name!r}")
                raise
        self._names = names
        self._engine = Engine(asts, engine=engine, accents=fold_accents)

    def __repr__(self) -> str:
        return f"<QuerySet of {len(self._names)} queries ({self._engine.engine})>"

    def __len__(self) -> int:
        return len(self._names)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, str], EngineKind, bool]]:
        engine = self._engine
        texts = {name: str(ast) for name, ast in zip(self._names, engine.asts, strict=True)}
        kind: EngineKind = "regex" if engine.engine == "regex" else "auto"
        return (_rebuild_queryset, (texts, kind, engine.accents))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    @property
    def names(self) -> tuple[str, ...]:
        """The query names, in order."""
        return self._names

    @property
    def engine(self) -> str:
        """The scanner in use: ``"aho-corasick"`` or ``"regex"``."""
        return self._engine.engine

    def match(self, post: Post, /) -> list[str]:
        """Return the names of the queries *post* matches, in the mapping's order."""
        names = self._names
        return [names[q] for q in self._engine.match(post)]

    def match_indices(self, post: Post, /) -> list[int]:
        """Return the positions (in the mapping's order) of the queries *post* matches."""
        return self._engine.match(post)

    def __call__(self, post: Post, /) -> bool:
        """Return whether *post* matches at least one query (a Filter)."""
        return bool(self._engine.match(post))

    def annotate(self, post: Post, /) -> Post:
        """
        Return *post* with ``annotations["matched"]`` (names of the matching queries) and
        ``annotations["matched_terms"]`` (name to the terms found). A transform.
        """
        engine = self._engine
        text = engine.fold(post.text)
        p = engine.present(post, text)
        fns, exact = engine.fns, engine.exact
        hits = [q for q in engine.candidates(p) if exact[q] or fns[q](p, post, text)]
        names = self._names
        return post.annotate(
            matched=[names[q] for q in hits],
            matched_terms={names[q]: engine.matched_terms(p, q) for q in hits},
        )

    def filter(self, posts: Iterable[Post], /) -> Iterator[Post]:
        """Yield the annotated posts that match at least one query."""
        for post in posts:
            annotated = self.annotate(post)
            if annotated.annotations["matched"]:
                yield annotated
