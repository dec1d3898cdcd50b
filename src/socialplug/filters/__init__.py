"""
Filters: predicates on posts, composable with ``&``, ``|`` and ``~``.
"""

from __future__ import annotations

from ._predicate import Predicate as Predicate
from ._predicate import where as where


__all__ = ["Predicate", "where"]
