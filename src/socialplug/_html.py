"""
HTML to plain text, for platforms that send markup (Mastodon, Hacker News, feeds).

Paragraphs and ``<br>`` become line breaks, links keep their full text (Mastodon splits
long URLs into ``invisible``/``ellipsis`` spans: all of it is kept, so the URL is whole),
character references are decoded, and whitespace within lines is collapsed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import attrs


__all__ = ["HTMLText", "html_to_text"]

_BLOCK = frozenset(
    {"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
     "tr", "table", "section", "article", "header", "footer", "figure", "hr"}
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


@attrs.frozen(kw_only=True)
class HTMLText:
    """
    The text of an HTML fragment and the links found in it.

    Attributes:
        text: Plain text; paragraphs separated by a blank line, ``<br>`` by a newline.
        links: ``href`` of every ``<a>``, in document order, without duplicates.
    """

    text: str
    links: tuple[str, ...] = ()


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a":
            href = dict(attrs_).get("href")
            if href and href not in self.links:
                self.links.append(href)

    def handle_startendtag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs_)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str, /) -> HTMLText:
    """
    Convert an HTML fragment to :class:`HTMLText`. Never raises on bad markup.
    """
    if "<" not in markup and "&" not in markup:
        return HTMLText(text=_tidy(markup))
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    return HTMLText(text=_tidy("".join(parser.parts)), links=tuple(parser.links))


def _tidy(text: str) -> str:
    """Collapse spaces within lines; keep single newlines; merge blank runs into one."""
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
