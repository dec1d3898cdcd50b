"""
The fast HTML path (`_plain_parse`) against the reference, html.parser (`_Parser`): the same
text, links and anchors on every recorded markup and on generated markup, with and without
dropped classes; and the fast path does answer for Mastodon's markup.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from socialplug._html import _NO_CLASSES, _Parser, _plain_parse, _tidy, html_parts, html_to_text


def reference(markup: str, drop: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    parser = _Parser(drop)
    parser.feed(markup)
    parser.close()
    anchors = [(a.href, a.text, a.classes) for a in parser.anchors]
    return _tidy("".join(parser.parts)), tuple(parser.links), anchors


def assert_agrees(markup: str, drop: frozenset[str] = frozenset()) -> None:
    expected = reference(markup, drop)
    fast = _plain_parse(markup, drop or _NO_CLASSES)
    if fast is not None:
        assert fast == expected, markup
    assert html_parts(markup, drop) == expected, markup
    got = html_to_text(markup, drop_classes=drop)
    assert (got.text, got.links) == expected[:2]
    assert [(a.href, a.text, a.classes) for a in got.anchors] == expected[2]


def strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)


def recorded_markup(folder: Path) -> set[str]:
    out: set[str] = set()
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json" and not path.name.endswith(".meta.json"):
            try:
                data = json.loads(path.read_bytes())
            except ValueError:
                continue
            out.update(s for s in strings(data) if "<" in s or "&" in s)
        elif path.suffix == ".xml":
            try:
                root = ET.fromstring(path.read_bytes())
            except (ET.ParseError, ValueError):  # a few test feeds are not well-formed
                continue
            out.update(e.text for e in root.iter() if e.text and ("<" in e.text or "&" in e.text))
    return out


@pytest.mark.parametrize("platform", ["mastodon", "hackernews", "reddit", "feeds"])
def test_agrees_with_html_parser_on_recorded_markup(shared_fixtures, platform):
    markup = recorded_markup(shared_fixtures(platform))
    assert len(markup) > 20
    for text in markup:
        assert_agrees(text)
        assert_agrees(text, frozenset({"quote-inline", "invisible"}))


def test_mastodon_markup_takes_the_fast_path(shared_fixtures):
    """Every recorded Mastodon status content is plain markup: no fallback to html.parser."""
    folder = shared_fixtures("mastodon")
    contents = {s for s in recorded_markup(folder) if s.startswith("<p>")}
    assert len(contents) > 200
    slow = [c for c in contents if _plain_parse(c, _NO_CLASSES) is None]
    assert slow == []


# Generated markup: the pieces platforms send, the pieces that trip tokenizers, and text.
_NAMES = ["p", "br", "a", "span", "div", "b", "A", "P", "Br", "li", "hr", "h1", "script",
          "style", "title", "em", "abbr", "article"]  # fmt: skip
_VALUES = ['"x"', '"https://ex.example/a?b=1&amp;c=2"', "'y'", "z", '"a>b"', '"<p>"', '""',
           '"mention hashtag"', '"quote-inline"', "'a\"b'", '"&quot;"', '"invisible"']  # fmt: skip
_TEXT = ["text", " ", "  ", "\n", "\t", "\u00a0", "\u3000", "\x0b", "\x1c", "&amp;", "&am",
         "p;", "&#39;", "&#39", "&", "#", ";", "<", ">", "&lt;p&gt;", "é", "🚆", "@", "x\x00",
         "<!-- c -->", "<!DOCTYPE html>", "<?x?>", "</>", "</ a>", "<3", "=", '"', "'"]  # fmt: skip

_attribute = st.tuples(
    st.sampled_from(["href", "class", "HREF", "Class", "rel", "data-x", "title", "a:b"]),
    st.sampled_from(["=", " = ", "=="]) | st.just("="),
    st.sampled_from(_VALUES),
    st.booleans(),
).map(lambda t: f"{t[0]}{t[1]}{t[2]}" if t[3] else t[0])
_start_tag = st.tuples(
    st.sampled_from(_NAMES),
    st.lists(_attribute, max_size=3),
    st.sampled_from(["", "/", " /", " "]),
    st.sampled_from([" ", "\n", "  ", "\t", "\x0b"]),
).map(lambda t: f"<{t[0]}{''.join(t[3] + a for a in t[1])}{t[2]}>")
_end_tag = st.tuples(st.sampled_from(_NAMES), st.sampled_from(["", " ", " x", '"">'])).map(
    lambda t: f"</{t[0]}{t[1]}>"
)
_markup = st.lists(
    st.one_of(_start_tag, _end_tag, st.sampled_from(_TEXT), st.text(max_size=4)), max_size=25
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_markup, st.sampled_from([frozenset(), frozenset({"quote-inline"}), frozenset({"x"})]))
@example("<b <p>>", frozenset())
@example('<b x=">" <p>>', frozenset())
@example("&am<b>p;", frozenset())
@example('<a href="x" href="y">t</a>', frozenset())
@example('</a title=">">x', frozenset())
@example('<p class="quote-inline"/>x<a href="u">y<br>z</a>', frozenset({"quote-inline"}))
def test_agrees_with_html_parser_on_generated_markup(markup, drop):
    assert_agrees(markup, drop)


# Mastodon's own shapes, recombined.
_MASTODON = [
    "<p>", "</p>", "<br>", "<br />", "</span>", "<span>", '<span class="invisible">',
    '<span class="ellipsis">', '<span class="h-card" translate="no">',
    '<a href="https://rail.example/@ops" class="u-url mention">',
    '<a href="https://rail.example/tags/delay" class="mention hashtag" rel="tag">',
    '<a href="https://x.example/a?b=1&amp;c=2" rel="nofollow noopener" translate="no" '
    'target="_blank">',
    '<a href="https://y.example/" class="mention hashtag" rel="nofollow noopener" '
    'target="_blank">',
    "</a>", "@", "#", "text", " ", "&#39;", "&amp;", ":emoji:", "https://", "é",
    '<p class="quote-inline">', "RE: ",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(_MASTODON), max_size=30).map("".join),
    st.sampled_from([frozenset(), frozenset({"quote-inline"})]),
)
def test_agrees_with_html_parser_on_mastodon_shapes(markup, drop):
    assert_agrees(markup, drop)
