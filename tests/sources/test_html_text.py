from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from socialplug._html import _Parser, _tidy, html_to_text


_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def reference_tidy(text: str) -> str:
    """The line-by-line definition the fast version must match."""
    out: list[str] = []
    blank = False
    for raw_line in text.split("\n"):
        line = _SPACES.sub(" ", raw_line).strip()
        if not line:
            blank = bool(out)
            continue
        if blank:
            out.append("")
            blank = False
        out.append(line)
    return "\n".join(out)


@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r\u00a0\u2003\u3000é🚆")), max_size=40))
def test_tidy_matches_its_definition(text):
    assert reference_tidy(text) == _tidy(text)


@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br>",
                "<br/>",
                '<a href="https://x.example/a?b=1&amp;c=2" class="mention">',
                "</a>",
                '<span class="invisible">',
                "</span>",
                "text",
                " ",
                "&amp;",
                "&#39;",
                "\n",
                "<div>",
                "</div>",
                "<b>",
                "</b>",
                "é",
                "<",
                ">",
                '<a class="hashtag" href="/t">',
                "#tag",
            ]
        ),
        max_size=30,
    )
)
def test_fast_tokenizer_matches_the_standard_parser(pieces):
    markup = "".join(pieces)
    parser = _Parser()
    parser.feed(markup)
    parser.close()

    fast = html_to_text(markup)

    assert reference_tidy("".join(parser.parts)) == fast.text
    assert tuple(parser.links) == fast.links
    assert tuple(parser.anchors) == fast.anchors


def test_a_stray_angle_bracket_before_a_tag_is_text():
    """A "<" that opens no tag stays text, as the standard parser has it."""
    assert "<text" == html_to_text('<<span class="invisible">text<p>').text
