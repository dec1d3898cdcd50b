"""
Bluesky: search, author feeds, notifications and custom feeds over XRPC, and the whole
network live through Jetstream.

:func:`to_post` maps one item exactly as the API returns it (a postView, a feedViewPost, a
notification, a Jetstream commit event); :class:`BlueskySource` and :class:`JetstreamSource`
are thin shells around it. Jetstream needs the ``bluesky`` extra (``websockets``).
"""

from __future__ import annotations

from ._convert import at_uri_to_url as at_uri_to_url
from ._convert import maybe_post as maybe_post
from ._convert import post_key as post_key
from ._convert import to_post as to_post
from ._feed import Feed as Feed
from ._jetstream import JetstreamSource as JetstreamSource
from ._session import Session as Session
from ._source import BlueskySource as BlueskySource


__all__ = [
    "BlueskySource",
    "Feed",
    "JetstreamSource",
    "Session",
    "at_uri_to_url",
    "maybe_post",
    "post_key",
    "to_post",
]
