"""
State stores: cursors, seen keys, dead letters and records for stateful stages.
"""

from __future__ import annotations

from ._memory import MemoryStateStore as MemoryStateStore
from ._sqlite import SQLiteStateStore as SQLiteStateStore


__all__ = ["MemoryStateStore", "SQLiteStateStore"]
