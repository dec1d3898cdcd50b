"""
Sources: where posts come from.

Platform sources load on first use, so ``import socialplug`` stays free of HTTP and
platform dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource


if TYPE_CHECKING:
    from .bluesky import BlueskySource as BlueskySource
    from .bluesky import JetstreamSource as JetstreamSource
    from .mastodon import MastodonSource as MastodonSource


__all__ = [
    "BlueskySource",
    "IterableSource",
    "JSONLSource",
    "JetstreamSource",
    "MastodonSource",
]

_LAZY = {
    "BlueskySource": ".bluesky",
    "JetstreamSource": ".bluesky",
    "MastodonSource": ".mastodon",
}


def __getattr__(name: str) -> Any:
    """Import a platform source when it is first asked for."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
