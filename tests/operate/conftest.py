"""
Fixtures for the operating surface: the example plugin package, installed on demand.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from socialplug import plugins


ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PLUGIN = ROOT / "examples" / "plugin_package"


@pytest.fixture(scope="session")
def example_plugin() -> str:
    """
    The example plugin package, installed (editable) into this interpreter if it is not yet
    (``nox -s tests`` installs it beforehand).
    """
    try:
        importlib.metadata.distribution("socialplug-example")
    except importlib.metadata.PackageNotFoundError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "-e", str(EXAMPLE_PLUGIN)],
            check=True,
        )
        importlib.invalidate_caches()
    src = str(EXAMPLE_PLUGIN / "src")
    if src not in sys.path:  # an editable install made in this process is not on sys.path yet
        sys.path.append(src)
    plugins.refresh()
    return "socialplug-example"
