"""
Sources: where posts come from.
"""

from __future__ import annotations

from ._iterable import IterableSource as IterableSource
from ._jsonl import JSONLSource as JSONLSource


__all__ = ["IterableSource", "JSONLSource"]
