"""
Alerting: spike detection, incidents, escalation, throttles, digests, gap alerts and
backtests in simulated time.

:class:`Monitor` is the :class:`~socialplug.typing.Detector` a pipeline runs; the other
names configure it or replay history through it.
"""

from __future__ import annotations

from ._ack import AckApp as AckApp
from ._ack import ack_app as ack_app
from ._backtest import BacktestReport as BacktestReport
from ._backtest import Fired as Fired
from ._backtest import IncidentReport as IncidentReport
from ._backtest import backtest as backtest
from ._digest import Digest as Digest
from ._escalation import acknowledge as acknowledge
from ._escalation import resolve_incident as resolve_incident
from ._gap import Gaps as Gaps
from ._incidents import Incidents as Incidents
from ._keys import KeyFunction as KeyFunction
from ._keys import by_matched as by_matched
from ._keys import by_route as by_route
from ._keys import everything as everything
from ._keys import sentiment_of as sentiment_of
from ._monitor import Monitor as Monitor
from ._spike import Spike as Spike
from ._throttle import Bucket as Bucket
from ._throttle import Throttle as Throttle


__all__ = [
    "AckApp",
    "BacktestReport",
    "Bucket",
    "Digest",
    "Fired",
    "Gaps",
    "IncidentReport",
    "Incidents",
    "KeyFunction",
    "Monitor",
    "Spike",
    "Throttle",
    "ack_app",
    "acknowledge",
    "backtest",
    "by_matched",
    "by_route",
    "everything",
    "resolve_incident",
    "sentiment_of",
]
