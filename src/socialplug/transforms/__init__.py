"""
Transforms: enrichment steps (``Post -> Post``) writing to ``annotations``: language,
sentiment, canonical URLs, gazetteer entities. None blocks the event loop.
"""

from __future__ import annotations

from ._gazetteer import Gazetteer as Gazetteer
from ._lang import DetectLanguage as DetectLanguage
from ._sentiment import HttpSentimentModel as HttpSentimentModel
from ._sentiment import Sentiment as Sentiment
from ._sentiment import SentimentError as SentimentError
from ._sentiment import SentimentModel as SentimentModel
from ._sentiment import Vader as Vader
from ._urls import TRACKING_PARAMETERS as TRACKING_PARAMETERS
from ._urls import AddressGuard as AddressGuard
from ._urls import BlockedAddressError as BlockedAddressError
from ._urls import CanonicalizeUrls as CanonicalizeUrls
from ._urls import canonicalize_url as canonicalize_url


__all__ = [
    "TRACKING_PARAMETERS",
    "AddressGuard",
    "BlockedAddressError",
    "CanonicalizeUrls",
    "DetectLanguage",
    "Gazetteer",
    "HttpSentimentModel",
    "Sentiment",
    "SentimentError",
    "SentimentModel",
    "Vader",
    "canonicalize_url",
]
