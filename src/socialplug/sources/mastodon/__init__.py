"""
Mastodon: hashtag, public, local, account, list and home timelines, notifications and search,
on one or several servers, polled over REST or streamed (server-sent events).

:func:`to_post` maps one status exactly as the API returns it; :class:`MastodonSource` is a
thin shell around it. Streaming needs the ``mastodon`` extra (``httpx-sse``).
"""

from __future__ import annotations

from ._convert import notification_to_post as notification_to_post
from ._convert import status_key as status_key
from ._convert import to_post as to_post
from ._source import MastodonSource as MastodonSource
from ._timeline import Timeline as Timeline


__all__ = ["MastodonSource", "Timeline", "notification_to_post", "status_key", "to_post"]
