"""
HTML to plain text, for platforms that send markup (Mastodon, Hacker News, feeds).

Paragraphs and ``<br>`` become line breaks, links keep their full text (Mastodon splits
long URLs into ``invisible``/``ellipsis`` spans: all of it is kept, so the URL is whole),
character references are decoded, and whitespace within lines is collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from html.parser import HTMLParser

import attrs


__all__ = ["Anchor", "HTMLText", "html_to_text"]

_BLOCK = frozenset(
    {"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
     "tr", "table", "section", "article", "header", "footer", "figure", "hr"}
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


@attrs.frozen(kw_only=True)
class Anchor:
    """
    One ``<a>`` element: where it points, its text and its classes.

    Platforms mark mentions and hashtags with classes (Mastodon: ``class="u-url mention"``
    and ``class="mention hashtag"``); callers classify anchors by :attr:`classes`.
    """

    href: str
    text: str
    classes: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class HTMLText:
    """
    The text of an HTML fragment and the links found in it.

    Attributes:
        text: Plain text; paragraphs separated by a blank line, ``<br>`` by a newline.
        links: ``href`` of every ``<a>``, in document order, without duplicates.
        anchors: Every ``<a>`` with an ``href``, in document order (duplicates kept).
    """

    text: str
    links: tuple[str, ...] = ()
    anchors: tuple[Anchor, ...] = ()


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip


class _Parser(HTMLParser):
    def __init__(self, drop_classes: frozenset[str] = frozenset()) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.anchors: list[Anchor] = []
        self._skip = 0
        self._drop_classes = drop_classes
        self._dropping: list[str] = []  # open tags inside a dropped element, outermost first
        self._anchor: tuple[str, frozenset[str], int] | None = None

    def handle_starttag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        if self._dropping:
            if tag not in _VOID:
                self._dropping.append(tag)
            return
        if self._drop_classes and tag not in _VOID:
            classes = dict(attrs_).get("class") or ""
            if classes and not self._drop_classes.isdisjoint(classes.split()):
                self._dropping.append(tag)
                return
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a":
            attributes = dict(attrs_)
            href = attributes.get("href")
            if href:
                if href not in self.links:
                    self.links.append(href)
                self._anchor = (
                    href,
                    frozenset((attributes.get("class") or "").split()),
                    len(self.parts),
                )

    def handle_startendtag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs_)
        if self._dropping and self._dropping[-1] == tag and tag not in _VOID:
            self._dropping.pop()

    def handle_endtag(self, tag: str) -> None:
        if self._dropping:
            if tag in self._dropping:
                while self._dropping and self._dropping.pop() != tag:
                    pass
            return
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a" and self._anchor is not None:
            href, classes, start = self._anchor
            self._anchor = None
            text = _SPACES.sub(" ", "".join(self.parts[start:])).strip()
            self.anchors.append(Anchor(href=href, text=text, classes=classes))

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._dropping:
            self.parts.append(data)


def html_to_text(markup: str, /, *, drop_classes: Iterable[str] = ()) -> HTMLText:
    """
    Convert an HTML fragment to :class:`HTMLText`. Never raises on bad markup.

    Elements carrying any class in *drop_classes* are left out with everything inside them
    (Mastodon's ``quote-inline`` fallback, for instance).
    """
    if "<" not in markup and "&" not in markup:
        return HTMLText(text=_tidy(markup))
    drop = frozenset(drop_classes)
    if not _NEEDS_FULL_PARSER.search(markup):
        return _fast_parse(markup, drop)
    parser = _Parser(drop)
    parser.feed(markup)
    parser.close()
    return HTMLText(
        text=_tidy("".join(parser.parts)),
        links=tuple(parser.links),
        anchors=tuple(parser.anchors),
    )


# Markup the fast tokenizer leaves to the standard parser: comments, doctypes, CDATA,
# processing instructions, raw-text elements, and a "<" that does not start a tag.
_NEEDS_FULL_PARSER = re.compile(
    r"<[!?]|<(?:script|style|textarea|title)\b|<(?![a-zA-Z/])|</(?![a-zA-Z])", re.IGNORECASE
)
_TAG = re.compile(r"""<(/?)([a-zA-Z][^\s/>]*)([^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*)>""")
_ATTR = re.compile(r"""([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")


_INLINE_TAG = re.compile(
    r"</?(?!(?:a|br|" + "|".join(sorted(_BLOCK, key=len, reverse=True)) + r")(?![^\s/>]))"
    r"""[a-zA-Z][^\s/>]*[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>""",
    re.IGNORECASE,
)


def _attributes(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, dq, sq, bare in _ATTR.findall(raw):
        value = dq or sq or bare
        out.setdefault(name.lower(), unescape(value) if "&" in value else value)
    return out


def _fast_parse(markup: str, drop_classes: frozenset[str]) -> HTMLText:
    """
    Tokenize simple markup (what social platforms send) with regular expressions, doing
    what :class:`_Parser` does, several times faster. Markup with comments, doctypes or
    raw-text elements goes to :class:`_Parser` instead.
    """
    if not drop_classes:
        # Inline elements (span, b, em, ...) change nothing here: strip them in C first, so
        # the loop below only sees anchors, line breaks and blocks.
        markup = _INLINE_TAG.sub("", markup)
    parts: list[str] = []
    links: list[str] = []
    anchors: list[Anchor] = []
    anchor: tuple[str, frozenset[str], int] | None = None
    dropping: list[str] = []
    pos = 0
    for match in _TAG.finditer(markup):
        start = match.start()
        if start > pos and not dropping:
            chunk = markup[pos:start]
            parts.append(unescape(chunk) if "&" in chunk else chunk)
        pos = match.end()
        closing, tag, raw = match.groups()
        tag = tag.lower()
        if closing:
            if dropping:
                if tag in dropping:
                    while dropping and dropping.pop() != tag:
                        pass
            elif tag in _BLOCK:
                parts.append("\n\n")
            elif tag == "a" and anchor is not None:
                href, classes, first = anchor
                anchor = None
                text = _SPACE_FIXES.sub(" ", "".join(parts[first:])).strip()
                anchors.append(Anchor(href=href, text=text, classes=classes))
            continue
        void = tag in _VOID or raw.endswith("/")
        if dropping:
            if not void:
                dropping.append(tag)
            continue
        attributes = _attributes(raw) if raw and (tag == "a" or drop_classes) else None
        if drop_classes and not void and attributes:
            classes_text = attributes.get("class")
            if classes_text and not drop_classes.isdisjoint(classes_text.split()):
                dropping.append(tag)
                continue
        if tag == "br":
            parts.append("\n")
        elif tag in _BLOCK:
            parts.append("\n\n")
        elif tag == "a" and attributes:
            link = attributes.get("href")
            if link:
                if link not in links:
                    links.append(link)
                anchor = (link, frozenset(attributes.get("class", "").split()), len(parts))
    if pos < len(markup) and not dropping:
        chunk = markup[pos:]
        parts.append(unescape(chunk) if "&" in chunk else chunk)
    return HTMLText(text=_tidy("".join(parts)), links=tuple(links), anchors=tuple(anchors))


_LINE_EDGES = re.compile(r"[^\S\n]*\n[^\S\n]*")
_BLANK_RUNS = re.compile(r"\n{3,}")


# What _SPACES would change: runs of two or more, and single non-space blanks.
_SPACE_FIXES = re.compile(r"[ \t\r\f\v\u00a0]{2,}|[\t\r\f\v\u00a0]")
_ODD_BLANKS = ("\t", "\r", "\f", "\v", "\u00a0")


def _tidy(text: str) -> str:
    """Collapse spaces within lines; keep single newlines; merge blank runs into one."""
    # Each substitution runs only when the cheap substring checks say it has work to do.
    odd = any(blank in text for blank in _ODD_BLANKS)
    if odd or "  " in text:
        text = _SPACE_FIXES.sub(" ", text)
    if "\n" in text:
        if odd or " \n" in text or "\n " in text or not text.isascii():
            text = _LINE_EDGES.sub("\n", text)
        if "\n\n\n" in text:
            text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()
