"""
socialplug: plug social media into the business.

Sources (Mastodon, Bluesky, Reddit, feeds, webhooks, ...) flow through filters and transforms
to a router and on to sinks (chat, email, tickets, databases, brokers, your own functions),
with at-least-once delivery, checkpoint-after-ack and no duplicate alerts.
"""

from __future__ import annotations

from . import exceptions, filters, routing, sinks, sources, state, sync
from ._retry import RetryPolicy
from .clock import Clock, ManualClock, SystemClock
from .filters import Query, QuerySet
from .model import Alert, Author, DeadLetter, Delivery, Engagement, Malformed, Media, Page, Post
from .pipeline import Pipeline, RunReport, SinkPolicy
from .routing import Route, Router
from .state import MemoryStateStore, SQLiteStateStore
from .typing import Filter, Sink, Source, StateStore, Transform


__all__ = [
    "Alert",
    "Author",
    "Clock",
    "DeadLetter",
    "Delivery",
    "Engagement",
    "Filter",
    "Malformed",
    "ManualClock",
    "Media",
    "MemoryStateStore",
    "Page",
    "Pipeline",
    "Post",
    "Query",
    "QuerySet",
    "RetryPolicy",
    "Route",
    "Router",
    "RunReport",
    "SQLiteStateStore",
    "Sink",
    "SinkPolicy",
    "Source",
    "StateStore",
    "SystemClock",
    "Transform",
    "exceptions",
    "filters",
    "routing",
    "sinks",
    "sources",
    "state",
    "sync",
]

__version__ = "0.1.0"
