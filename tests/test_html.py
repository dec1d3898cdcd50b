"""
HTML to text: paragraphs and line breaks, Mastodon's split links, entities, dropped
scripts, and bad markup that never raises.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialplug._html import HTMLText, html_to_text


def test_paragraphs_and_line_breaks():
    """Paragraphs are separated by one blank line, <br> by a newline."""
    got = html_to_text("<p>first line<br>second line</p><p>next paragraph</p>")
    assert got.text == "first line\nsecond line\n\nnext paragraph"


def test_whitespace_collapses_within_lines():
    """Runs of spaces, tabs, source newlines and no-break spaces collapse to one space."""
    assert html_to_text("<p>  a \t b\u00a0\u00a0c  </p>").text == "a b c"
    assert html_to_text("<div>x</div>\n\n\n<div>y</div>").text == "x\n\ny"


def test_mastodon_link_spans_form_the_full_url():
    """Mastodon's invisible and ellipsis spans are joined, so the URL appears whole."""
    markup = (
        '<p>Delays today: <a href="https://rail.example/status/updates/2026-11-20" '
        'rel="nofollow noopener" target="_blank"><span class="invisible">https://</span>'
        '<span class="ellipsis">rail.example/status/upda</span>'
        '<span class="invisible">tes/2026-11-20</span></a> sorry</p>'
    )
    got = html_to_text(markup)
    assert got.text == "Delays today: https://rail.example/status/updates/2026-11-20 sorry"
    assert got.links == ("https://rail.example/status/updates/2026-11-20",)


def test_mentions_and_hashtags_keep_their_text():
    """Mention and hashtag links keep @ and # with the name."""
    markup = (
        '<p><span class="h-card"><a href="https://rail.example/@ops" class="u-url mention">'
        '@<span>ops</span></a></span> see <a href="https://rail.example/tags/delay" '
        'class="mention hashtag" rel="tag">#<span>delay</span></a></p>'
    )
    got = html_to_text(markup)
    assert got.text == "@ops see #delay"
    assert got.links == ("https://rail.example/@ops", "https://rail.example/tags/delay")


def test_links_are_unique_and_in_order():
    """Each href is listed once, in document order."""
    markup = '<a href="https://b.example">b</a><a href="https://a.example">a</a><a href="https://b.example">b</a>'
    assert html_to_text(markup).links == ("https://b.example", "https://a.example")


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("&amp;lt;", "&lt;"),
        ("<p>a &amp;lt;b&amp;gt; c</p>", "a &lt;b&gt; c"),
        ("<p>it&#39;s &quot;fine&quot; &amp; &lt;ok&gt;</p>", 'it\'s "fine" & <ok>'),
        ("caf&eacute; &#x1F686;", "café 🚆"),
        ("fish &amp; chips", "fish & chips"),
        ("plain text, no markup", "plain text, no markup"),
    ],
)
def test_entities_are_decoded_exactly_once(markup, text):
    """Character references are decoded once: an escaped entity stays an entity."""
    assert html_to_text(markup).text == text


def test_script_and_style_are_dropped():
    """Script and style contents never reach the text, even nested or unclosed."""
    markup = (
        "<style>p { color: red }</style><p>kept</p>"
        "<script>alert('x')</script><p>also kept</p><script>never closed"
    )
    assert html_to_text(markup).text == "kept\n\nalso kept"


@pytest.mark.parametrize(
    "markup",
    ["<p<", "<a href=", "</p></div></span>", "<![CDATA[x", "<!--", "&#99999999999;", "<<<>>>",
     "<p>unclosed <b>bold <i>both", "<a href='x'", "&#xZZ;", "<br/><br/><hr/>", "\x00<p>\x00"],
)  # fmt: skip
def test_malformed_markup_never_raises(markup):
    """Broken fragments give some text, never an exception."""
    assert isinstance(html_to_text(markup), HTMLText)


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>a <![ x</p>", "a <![ x"),
        ("<![foo[bar]]>baz", "<![foo[bar]]>baz"),
        ("a <![ <b>bold</b>", "a <![ bold"),
        ("<![CDATA[x]]>y", "y"),
        ("<![if !supportLists]>b<![endif]>", "b"),
    ],
)
def test_malformed_marked_sections_stay_text(markup, text):
    """A "<![" that opens no section html.parser knows is text (older Pythons raised)."""
    assert html_to_text(markup).text == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/&#;=\"' apbrscriptdiv!-x0123\n")), max_size=60))
def test_random_markup_never_raises(markup):
    """Random tag soup converts without raising, with no blank runs or edge spaces."""
    text = html_to_text(markup).text
    assert "\n\n\n" not in text
    assert text == text.strip()
