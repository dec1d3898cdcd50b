"""
Sources: where posts come from.
"""

from __future__ import annotations

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource
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
