"""Escaping and truncation shared by the sinks."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from socialplug.sinks import _render as r

from .conftest import HOSTILE, make_alert, make_post


def test_truncate_keeps_short_text_and_marks_cut_text() -> None:
    assert r.truncate("short", 10) == "short"
    cut = r.truncate("a" * 20, 10)
    assert len(cut) == 10
    assert cut.endswith(r.ELLIPSIS)


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_truncate_never_exceeds_the_limit(text: str, limit: int) -> None:
    out = r.truncate(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text


def test_truncate_does_not_split_an_escape_or_entity() -> None:
    assert not r.truncate("abc\\*defghij", 5).rstrip(r.ELLIPSIS).endswith("\\")
    assert "&am" not in r.truncate("abcd &amp; efgh", 8)


@given(st.text(), st.integers(min_value=0, max_value=100))
def test_truncate_bytes_respects_utf8_length(text: str, limit: int) -> None:
    assert len(r.truncate_bytes(text, limit).encode()) <= max(limit, 0)


def test_slack_escape_neutralises_every_special_sequence() -> None:
    out = r.slack_escape(HOSTILE)
    assert "<" not in out
    assert ">" not in out
    assert "&amp; done" in out
    assert not re.search(r"@(channel|here|everyone)\b", out)


def test_markdown_escape_breaks_links_mentions_and_html() -> None:
    out = r.markdown_escape(HOSTILE)
    assert "](" not in out.replace("\\](", "").replace("\\(", "")
    assert "\\[https://good" in out
    assert "\\<script\\>" in out
    assert not re.search(r"(?<!\\)@(channel|here|everyone|room)\b", out)
    assert "@U024" not in r.markdown_escape("@U024", all_mentions=True)


def test_html_escape() -> None:
    assert r.html_escape('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"


def test_safe_url_refuses_markup_and_other_schemes() -> None:
    assert r.safe_url("https://example.com/a?b=1&c=2") == "https://example.com/a?b=1&c=2"
    spoof = "https://x.example/a)[click](https://evil.example"
    assert r.safe_url(spoof) == "https://x.example/a%29%5Bclick%5D%28https://evil.example"
    for bad in ("javascript:alert(1)", "https://x.example/|spoof", "https://a b", "ftp://x", None):
        assert r.safe_url(bad) is None


def test_cards_of_posts_and_alerts() -> None:
    post = make_post(7, spoiler="train")
    c = r.card(post)
    assert c.kind == "post"
    assert c.text.startswith("CW: train")
    assert c.url == post.url
    a = r.card(make_alert())
    assert a.severity == "P1"
    assert ("count", "42") in a.fields
    assert [s.text for s in a.samples] == ["The 8:15 train is stuck in the tunnel", "Still stuck"]


def test_status_of_alert_kinds() -> None:
    assert r.status_of(make_alert("incident.opened")) == "trigger"
    assert r.status_of(make_alert("incident.updated")) == "trigger"
    assert r.status_of(make_alert("incident.acknowledged")) == "acknowledge"
    assert r.status_of(make_alert("incident.resolved")) == "resolve"


def _unescaped(text: str, chars: str) -> list[int]:
    """Positions of *chars* not preceded by an odd number of backslashes."""
    out = []
    for i, ch in enumerate(text):
        if ch in chars:
            run = len(text[:i]) - len(text[:i].rstrip("\\"))
            if run % 2 == 0:
                out.append(i)
    return out


@given(st.text())
def test_escapers_leave_no_markup(text: str) -> None:
    slack = r.slack_escape(text)
    assert "<" not in slack
    assert ">" not in slack
    md = r.markdown_escape(text)
    assert _unescaped(md, "[]<>`*_|~#") == []
    html_out = r.html_escape(text)
    assert "<" not in html_out
    assert '"' not in html_out
