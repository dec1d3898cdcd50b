"""
Filters: predicates on posts, composable with ``&``, ``|`` and ``~``; the query language
(:class:`Query`, :class:`QuerySet`); everyday filters and :class:`Dedupe`.
"""

from __future__ import annotations

from ._ast import QuerySyntaxError as QuerySyntaxError
from ._basic import authors as authors
from ._basic import has_media as has_media
from ._basic import is_reply as is_reply
from ._basic import is_repost as is_repost
from ._basic import language as language
from ._basic import min_engagement as min_engagement
from ._basic import min_followers as min_followers
from ._basic import platforms as platforms
from ._basic import time_window as time_window
from ._dedupe import Dedupe as Dedupe
from ._predicate import Predicate as Predicate
from ._predicate import where as where
from ._pushdown import Pushdown as Pushdown
from ._query import Query as Query
from ._query import QuerySet as QuerySet
from ._text import fold as fold


__all__ = [
    "Dedupe",
    "Predicate",
    "Pushdown",
    "Query",
    "QuerySet",
    "QuerySyntaxError",
    "authors",
    "fold",
    "has_media",
    "is_reply",
    "is_repost",
    "language",
    "min_engagement",
    "min_followers",
    "platforms",
    "time_window",
    "where",
]
