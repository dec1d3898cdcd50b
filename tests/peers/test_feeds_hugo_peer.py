"""
Feeds against a real feed server nobody here wrote: Debian's ``hugo`` serving a generated site
(see ``../shared/peers/README.md``; ``apt-get install hugo``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from socialplug.sources.feeds import FeedsSource


pytestmark = [pytest.mark.peers, pytest.mark.anyio]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="hugo")
def _hugo(tmp_path: Path):
    exe = shutil.which("hugo")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hugo is not installed (apt-get install hugo)")
        pytest.skip("hugo is not installed (apt-get install hugo)")
    site = tmp_path / "site"
    (site / "content" / "posts").mkdir(parents=True)
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "hugo.toml").write_text(
        'baseURL = "http://example.org/"\ntitle = "ACME News"\nlanguageCode = "en"\n'
    )
    (site / "layouts" / "_default" / "single.html").write_text("{{ .Content }}")
    (site / "layouts" / "_default" / "list.html").write_text(
        "{{ range .Pages }}{{ .Title }}{{ end }}"
    )
    for i in (1, 2, 3):
        (site / "content" / "posts" / f"p{i}.md").write_text(
            f'---\ntitle: "Outage {i}"\ndate: 2026-11-2{i}T08:00:00Z\ntags: ["rail"]\n---\n'
            f"Trains delayed at [station {i}](/status/).\n"
        )
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "server", "--bind", "127.0.0.1", "--port", str(port), "--disableLiveReload",
         "--watch=false", "--source", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("hugo server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def test_against_hugo(hugo):
    """Hugo's home and tag feeds: each post once per feed, same key in both, then nothing new."""
    urls = [f"{hugo}/index.xml", f"{hugo}/tags/rail/index.xml", f"{hugo}/posts/index.xml"]
    source = FeedsSource(urls=urls)
    try:
        first = [p async for p in source.pages(None, follow=False)]
        second = [p async for p in source.pages(first[-1].cursor, follow=False)]
    finally:
        await source.aclose()

    posts = first[0].posts
    assert source.errors == {}
    assert len(posts) == 9
    assert len({p.key for p in posts}) == 3
    titles = [p.title for p in posts if p.source == source.name]
    assert {"Outage 1", "Outage 2", "Outage 3"} == set(titles)
    one = next(p for p in posts if p.title == "Outage 1")
    assert datetime(2026, 11, 21, 8, tzinfo=UTC) == one.created_at
    assert one.url is not None
    assert one.url.endswith("/posts/p1/")
    assert one.text == "Trains delayed at station 1."
    assert [p for page in second for p in page.posts] == []
    state = json.loads(first[-1].cursor or "")["feeds"]
    assert all(state[u].get("modified") or state[u].get("etag") for u in urls)
