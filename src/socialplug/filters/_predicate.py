"""
Composable predicates: the filter algebra (``&``, ``|``, ``~``).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ..model import Post
from ..typing import Filter


__all__ = ["Predicate", "where"]


def _label_of(fn: object) -> str:
    label = getattr(fn, "label", None)
    if isinstance(label, str):
        return label
    return str(getattr(fn, "__qualname__", None) or repr(fn))


@attrs.frozen
class Predicate:
    """
    A composable :class:`~socialplug.typing.Filter`.

    Combine with ``&``, ``|`` and ``~``; plain functions may appear on either side::

        keep = where(is_english) & ~where(is_reply)

    Attributes:
        test: The function deciding.
        label: A readable name, used in reprs, logs and run reports.
    """

    test: Callable[[Post], bool] = attrs.field(eq=False, repr=False)
    label: str

    def __call__(self, post: Post, /) -> bool:
        """Return whether to keep *post*."""
        return self.test(post)

    def __and__(self, other: Filter) -> Predicate:
        left, right = self.test, where(other)
        return Predicate(lambda p: left(p) and right(p), f"({self.label} & {right.label})")

    def __rand__(self, other: Filter) -> Predicate:
        return where(other) & self

    def __or__(self, other: Filter) -> Predicate:
        left, right = self.test, where(other)
        return Predicate(lambda p: left(p) or right(p), f"({self.label} | {right.label})")

    def __ror__(self, other: Filter) -> Predicate:
        return where(other) | self

    def __invert__(self) -> Predicate:
        test = self.test
        return Predicate(lambda p: not test(p), f"~{self.label}")


def where(fn: Filter | Callable[[Post], bool], /, *, label: str | None = None) -> Predicate:
    """
    Lift any filter-shaped callable into a composable :class:`Predicate`.
    """
    if isinstance(fn, Predicate) and label is None:
        return fn
    return Predicate(fn, label or _label_of(fn))
