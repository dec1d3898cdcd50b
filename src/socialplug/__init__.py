"""
socialplug: plug social media into the business.

Sources (Mastodon, Bluesky, Reddit, feeds, webhooks, ...) flow through filters and transforms
to a router and on to sinks (chat, email, tickets, databases, brokers, your own functions),
with at-least-once delivery, checkpoint-after-ack and no duplicate alerts.
"""

from __future__ import annotations

from . import exceptions, filters, routing
from ._http import RetryPolicy
from .model import Alert, Author, DeadLetter, Delivery, Engagement, Malformed, Media, Page, Post
from .routing import Route, Router
from .typing import Filter, Sink, Source, StateStore, Transform


__all__ = [
    "Alert",
    "Author",
    "DeadLetter",
    "Delivery",
    "Engagement",
    "Filter",
    "Malformed",
    "Media",
    "Page",
    "Post",
    "RetryPolicy",
    "Route",
    "Router",
    "Sink",
    "Source",
    "StateStore",
    "Transform",
    "exceptions",
    "filters",
    "routing",
]

__version__ = "0.1.0"
