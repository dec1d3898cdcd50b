"""Lazy re-exports: a package's public names that load their module on first use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, lazy: Mapping[str, str], names: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """
    Return the module ``__getattr__`` and ``__dir__`` of *package*.

    *lazy* maps each lazily exported name to the submodule that defines it; the first access
    imports that submodule and keeps the value in the package. ``dir()`` lists *names*.
    """
    listed = sorted(names)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook
        module = lazy.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook
        return list(listed)

    return __getattr__, __dir__
