"""
Routing: which teams' sinks receive a post or an alert, and who hears next when nobody
acknowledges.
"""

from __future__ import annotations

from ._escalation import PRIORITIES as PRIORITIES
from ._escalation import Escalation as Escalation
from ._escalation import Tier as Tier
from ._router import Route as Route
from ._router import Router as Router


__all__ = ["PRIORITIES", "Escalation", "Route", "Router", "Tier"]
