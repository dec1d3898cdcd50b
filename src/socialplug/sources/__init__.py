"""
Sources: where posts come from.

Platform sources live in their public modules (``socialplug.sources.reddit``, ...) and are
re-exported here; optional dependencies (feedparser, uvicorn) load only when used.
"""

from __future__ import annotations

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource
from .feeds import FeedsSource as FeedsSource
from .hackernews import HackerNewsSource as HackerNewsSource
from .http import HTTPSource as HTTPSource
from .reddit import RedditSource as RedditSource
from .webhook import WebhookSource as WebhookSource
from .x import XSource as XSource


__all__ = [
    "FeedsSource",
    "HTTPSource",
    "HackerNewsSource",
    "IterableSource",
    "JSONLSource",
    "RedditSource",
    "WebhookSource",
    "XSource",
]
