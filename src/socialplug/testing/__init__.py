"""
Helpers for testing pipelines and components offline: fakes, a loopback replay server, and
conformance checks for third-party sources and sinks.

Import it on purpose (``from socialplug.testing import ...``); ``import socialplug`` does
not load it.
"""

from __future__ import annotations

from ._conformance import ConformanceError as ConformanceError
from ._conformance import check_sink as check_sink
from ._conformance import check_source as check_source
from ._kit import CollectingSink as CollectingSink
from ._kit import FailingSink as FailingSink
from ._kit import StaticSource as StaticSource
from ._kit import make_post as make_post
from ._server import Recorded as Recorded
from ._server import ReplayServer as ReplayServer
from ._server import Reply as Reply
from ._server import serve as serve


__all__ = [
    "CollectingSink",
    "ConformanceError",
    "FailingSink",
    "Recorded",
    "ReplayServer",
    "Reply",
    "StaticSource",
    "check_sink",
    "check_source",
    "make_post",
    "serve",
]
