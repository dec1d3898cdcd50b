"""
Filters: predicates on posts, composable with ``&``, ``|`` and ``~``, and the query language
(:class:`Query`, :class:`QuerySet`).
"""

from __future__ import annotations

from ._ast import QuerySyntaxError as QuerySyntaxError
from ._predicate import Predicate as Predicate
from ._predicate import where as where
from ._pushdown import Pushdown as Pushdown
from ._query import Query as Query
from ._query import QuerySet as QuerySet
from ._text import fold as fold


__all__ = ["Predicate", "Pushdown", "Query", "QuerySet", "QuerySyntaxError", "fold", "where"]
