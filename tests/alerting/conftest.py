"""
Fixtures for alerting tests.
"""

from __future__ import annotations

import pytest
from alerting_support import DictStore, rail_router

from socialplug.routing import Router


@pytest.fixture(name="store")
def _store() -> DictStore:
    return DictStore()


@pytest.fixture(name="router")
def _router() -> Router:
    return rail_router()
