"""
Sources: where posts come from.

Platform sources live in their public modules (``socialplug.sources.reddit``, ...) and are
re-exported here; optional dependencies (feedparser, uvicorn) load only when used.
"""

from __future__ import annotations

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource
from .bluesky import BlueskySource as BlueskySource
from .bluesky import JetstreamSource as JetstreamSource
from .feeds import FeedsSource as FeedsSource
from .hackernews import HackerNewsSource as HackerNewsSource
from .http import HTTPSource as HTTPSource
from .mastodon import MastodonSource as MastodonSource
from .reddit import RedditSource as RedditSource
from .webhook import WebhookSource as WebhookSource
from .x import XSource as XSource


__all__ = [
    "BlueskySource",
    "FeedsSource",
    "HTTPSource",
    "HackerNewsSource",
    "IterableSource",
    "JSONLSource",
    "JetstreamSource",
    "MastodonSource",
    "RedditSource",
    "WebhookSource",
    "XSource",
]
