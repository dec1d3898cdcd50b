"""
Sinks: where posts and alerts are delivered.
"""

from __future__ import annotations

from ._callable import CallableSink as CallableSink
from ._console import ConsoleSink as ConsoleSink
from ._jsonl import JSONLSink as JSONLSink
from ._memory import MemorySink as MemorySink


__all__ = ["CallableSink", "ConsoleSink", "JSONLSink", "MemorySink"]
