"""
The public surface: explicit, sorted ``__all__`` everywhere, and a light ``import socialplug``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import socialplug


ROOT = Path(__file__).resolve().parents[1]


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(socialplug.__path__, "socialplug."))


def public_modules() -> list[str]:
    names = ["socialplug", *all_modules()]
    return [n for n in names if not any(part.startswith("_") for part in n.split("."))]


@pytest.mark.parametrize("name", public_modules())
def test_public_module_has_sorted_all_of_existing_names(name):
    """Every public module declares __all__, sorted, and every name in it exists."""
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)

    assert names is not None, f"{name} has no __all__"
    assert list(names) == sorted(names), f"{name}.__all__ is not sorted"
    assert len(set(names)) == len(names), f"{name}.__all__ lists a name twice"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


@pytest.mark.parametrize("name", [n for n in all_modules() if n not in public_modules()])
def test_private_module_all_is_sorted_and_exists(name):
    """Private modules keep the same discipline, so re-exports stay honest."""
    module = importlib.import_module(name)
    names = list(getattr(module, "__all__", []))
    assert names == sorted(names)
    assert all(hasattr(module, n) for n in names)


def test_public_names_have_docstrings():
    """Every class and function exported by a public module has a docstring."""
    undocumented = []
    for name in public_modules():
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if (isinstance(obj, type) or callable(obj)) and not (obj.__doc__ or "").strip():
                undocumented.append(f"{name}.{attr}")
    assert not undocumented


def extra_modules() -> set[str]:
    """Top-level import names of every optional dependency declared in pyproject.toml."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    dists = {
        re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower().replace("_", "-")
        for reqs in extras.values()
        for req in reqs
    } - {"socialplug"}
    by_dist: dict[str, set[str]] = {}
    for module, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            by_dist.setdefault(owner.lower().replace("_", "-"), set()).add(module)
    names: set[str] = set()
    for dist in dists:
        names |= by_dist.get(dist, {dist.replace("-", "_")})
    return names


def test_import_socialplug_stays_light():
    """`import socialplug` loads neither httpx nor any optional extra nor the testing kit."""
    forbidden = sorted(extra_modules() | {"httpx", "httpcore", "socialplug.testing"})
    code = (
        "import json, sys, socialplug; "
        f"print(json.dumps([m for m in {forbidden!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(out.stdout) == []
    assert "orjson" in forbidden  # the check knows about the extras


def test_version_matches_the_project():
    """socialplug.__version__ is the version pyproject.toml declares."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert socialplug.__version__ == project["version"]
