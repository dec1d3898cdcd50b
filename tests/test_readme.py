"""
The README's commands and CI stay in step, and the README's example runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[str]:
    return [line.strip() for line in README.splitlines() if line.startswith("    python -m pip")]


def test_ci_runs_the_readme_test_command():
    """.ci/run calls exactly the test command the README gives."""
    install_and_demo, install_and_test = commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    assert "examples/" in install_and_demo or "socialplug demo" in install_and_demo
    assert "nox -s tests" in install_and_test
    assert install_and_test in ci.splitlines()


def test_readme_example_runs(tmp_path):
    """The 15-line example in the README runs and resumes."""
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    code = code.replace("examples/data/", str(ROOT / "examples" / "data") + "/")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )

    assert "ops: " in out.stdout
    assert "read 36" in out.stdout
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
