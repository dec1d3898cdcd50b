"""
Drive tests/workers/ticker_service.py: start it, let posts flow, signal it, read the outcome.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


WORKERS = Path(__file__).parent / "workers"


def signal_ticker(db: Path, mode: str, signum: int) -> tuple[int, dict[str, Any], str]:
    """
    Run the ticker service (*mode* ``sync`` or ``async``) on *db*, send it *signum* once posts
    flow, and return its exit status, its final JSON line and the cursor it committed.
    """
    proc = subprocess.Popen(
        [sys.executable, str(WORKERS / "ticker_service.py"), str(db), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert "ready" == proc.stdout.readline().strip()
    time.sleep(0.2)
    os.kill(proc.pid, signum)
    out, _ = proc.communicate(timeout=30)
    result = json.loads(out.strip().splitlines()[-1])
    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute("SELECT cursor FROM cursors").fetchone()[0]
    finally:
        conn.close()
    return proc.returncode, result, cursor
