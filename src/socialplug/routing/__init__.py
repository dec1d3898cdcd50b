"""
Routing: which teams' sinks receive a post or an alert.
"""

from __future__ import annotations

from ._router import Route as Route
from ._router import Router as Router


__all__ = ["Route", "Router"]
