"""
The offline demo: the expected incident and deliveries, and a report that renders in a real
browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "socialplug", "demo", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), out


def test_demo_creates_the_incident_and_deliveries(demo):
    data, out = demo
    assert data["ok"] is True
    assert data["errors"] == []
    assert data["seconds"] < 60
    (incident,) = data["incidents"]
    assert incident["route"] == "operations"
    # The train gets stuck at 17:10; the surge is detected within the next half hour.
    assert "T17:" in incident["opened_at"] or " 17:" in incident["opened_at"]
    assert incident["escalated"] == ["management"]
    assert incident["resolved_at"] is not None
    assert data["read"] == data["posts_published"]
    assert data["archived"] == data["read"]
    assert data["delivered"]["operations"] > 150
    assert data["webhook_requests"] == data["delivered"]["support"]
    assert data["emails_about_incident"] >= 2  # to operations, and the escalation
    assert data["drafts"] > 0
    report = Path(data["report"])
    assert report == out.resolve() / "report.html"
    text = report.read_text()
    assert text.count("<svg") >= 3
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in text


def test_demo_report_renders_in_chromium(demo, tmp_path):
    _, out = demo
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    report = (out / "report.html").resolve()
    shot = tmp_path / "report.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    taken = subprocess.run(
        [*common, "--window-size=1000,2400", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert shot.exists(), taken.stderr
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG")
    width = int.from_bytes(png[16:20], "big")
    assert width == 1000
    # The rendered DOM, after layout: every chart has drawn shapes, and the console is clean.
    dom = subprocess.run(
        [*common, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    html = dom.stdout
    for chart in ("volume", "sentiment", "timeline"):
        start = html.index(f'<svg id="{chart}"')
        body = html[start : html.index("</svg>", start)]
        shapes = body.count("<polyline") + body.count("<rect") + body.count("<circle")
        assert shapes > 0, chart
    assert _console_messages(dom.stderr) == []
    # The same check does see errors on a page that has them.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>console.error('boom'); nope();</script></body></html>")
    bad = subprocess.run(
        [*common, "--enable-logging=stderr", "--v=0", "--dump-dom", broken.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert len(_console_messages(bad.stderr)) == 2
    # Pixels: the volume chart's colored lines are on the screenshot, not a blank page.
    assert _colored_pixels(png) > 500


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _colored_pixels(png: bytes) -> int:
    """Count strongly colored pixels in the top of a PNG (stdlib only: zlib, filter rules)."""
    import struct
    import zlib

    pos, chunks, header = 8, [], None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            chunks.append(data)
        pos += 12 + length
    assert header is not None
    width, height, depth, color = header[:4]
    assert depth == 8
    assert color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    prev = bytearray(stride)
    count = 0
    i = 0
    for _ in range(min(height, 900)):  # the header and the volume chart
        f = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp):
            r, g, bl = line[x], line[x + 1], line[x + 2]
            if max(r, g, bl) - min(r, g, bl) > 120:
                count += 1
        prev = line
    return count


def test_demo_leaves_files_to_explore_with_the_command_line(demo):
    _, out = demo
    backtest = subprocess.run(
        [sys.executable, "-m", "socialplug", "backtest", str(out / "pipeline.toml"),
         str(out / "posts.jsonl"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr
    (monitor,) = json.loads(backtest.stdout)["monitors"]
    (incident,) = monitor["incidents"]
    assert incident["opened_at"].startswith("2026-11-20 17:")
    assert incident["latency"] < 30 * 60
