"""
Automation: ``nox`` runs lint, typecheck, tests and docs; ``nox -s bench`` the benchmark.
"""

from __future__ import annotations

import os
import pathlib
import tomllib

import nox


nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

ROOT = pathlib.Path(__file__).parent
SHARED = pathlib.Path(os.environ.get("SOCIALPLUG_SHARED", ROOT.parent / "shared"))
GROUPS = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]


def group(name: str) -> list[str]:
    """The requirements of a dependency group (works with any pip)."""
    out: list[str] = []
    for entry in GROUPS[name]:
        out += group(entry["include-group"]) if isinstance(entry, dict) else [entry]
    return out


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff check and format check."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src."""
    session.install("-e", ".[all]", *group("typing"))
    session.run("mypy", "src")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, with every extra installed (pass pytest arguments after --)."""
    session.install("-e", ".[all]", "-e", "examples/plugin_package", *group("tests"))
    session.run("pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation strictly (warnings fail)."""
    session.install("-e", ".[all]", *group("docs"))
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example offline."""
    session.install("-e", ".[all]", *group("examples"))
    for script in sorted((ROOT / "examples").glob("*.py")):
        session.run("python", str(script))


@nox.session
def bench(session: nox.Session) -> None:
    """
    The monitoring workload beside the hand-written baseline, in the same run.

    Settings come from the environment as in ../shared/bench/README.md (RUNS, N, RULESETS).
    """
    session.install("-e", ".[all]")
    script = SHARED / "bench" / "run_bench.sh"
    if not script.exists():
        session.error(f"benchmark harness not found at {script} (set SOCIALPLUG_SHARED)")
    python = pathlib.Path(session.bin) / "python"
    env = {
        "IMPLS": os.environ.get("IMPLS", "plain benchmarks/impl_socialplug.py"),
        "PY": str(python),
        "WORK": os.environ.get("WORK", ".bench"),
    }
    session.run("bash", str(script), env=env, external=True)


@nox.session
def peers(session: nox.Session) -> None:
    """Sources and sinks against real third-party servers on loopback (see ../shared/peers)."""
    session.install("-e", ".[all]", *group("tests"))
    session.run("pytest", "-m", "peers", "tests/peers", *session.posargs)
