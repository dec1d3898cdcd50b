"""
The public surface: explicit, sorted ``__all__`` everywhere, and a light ``import socialplug``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
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


def isort_style(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then the rest."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", public_modules())
def test_public_module_has_sorted_all_of_existing_names(name):
    """Every public module declares __all__, sorted (plainly or isort-style), and every
    name in it exists."""
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)

    assert names is not None, f"{name} has no __all__"
    assert list(names) in (sorted(names), sorted(names, key=isort_style)), (
        f"{name}.__all__ is not sorted"
    )
    assert len(set(names)) == len(names), f"{name}.__all__ lists a name twice"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def test_public_names_have_docstrings():
    """Every class and function exported by a public module has a docstring."""
    undocumented = []
    for name in public_modules():
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            is_code = inspect.isclass(obj) or inspect.isfunction(obj)
            if is_code and obj.__module__.startswith("socialplug") and not inspect.getdoc(obj):
                undocumented.append(f"{name}.{attr}")
    assert not undocumented


def dist_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def core_closure(requirements: list[str]) -> set[str]:
    """The distributions the core dependencies pull in, transitively (extras not followed)."""
    seen: set[str] = set()
    todo = [dist_name(r) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [dist_name(r) for r in requires if "extra ==" not in r]
    return seen


def extra_modules() -> set[str]:
    """Top-level import names of every optional dependency declared in pyproject.toml that
    the core dependencies do not already pull in."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    dists = {dist_name(req) for reqs in extras.values() for req in reqs} - {"socialplug"}
    dists -= core_closure(project["dependencies"])
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
