"""Paths and skips shared by the source tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SOCIALPLUG_SHARED", ROOT.parent / "shared"))
OWN = ROOT / "tests" / "fixtures"


def shared_fixtures(platform: str) -> Path:
    """Return ``../shared/fixtures/<platform>``; skip (fail in CI) when it is absent."""
    folder = SHARED / "fixtures" / platform
    if not folder.is_dir():
        reason = f"shared recorded fixtures not found at {folder} (set SOCIALPLUG_SHARED)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)
    return folder
