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

    def parse_marked_section(self, i: int, report: bool = True) -> int:  # noqa: FBT001, FBT002
        # Python before 3.13 raises AssertionError on a malformed "<![" section ("<![ x",
        # "<![foo[...]]>"): its "<![" is kept as text and parsing goes on after it.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            self.handle_data(self.rawdata[i : i + 3])
            return i + 3

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
    text, links, anchors = html_parts(markup, drop_classes)
    if not anchors:
        return HTMLText(text=text, links=links)
    return HTMLText(
        text=text,
        links=links,
        anchors=tuple(
            [Anchor(href=href, text=words, classes=classes) for href, words, classes in anchors]
        ),
    )


# One <a>: href, text and classes, as Anchor has them.
AnchorParts = tuple[str, str, frozenset[str]]


def html_parts(
    markup: str, drop_classes: Iterable[str] = ()
) -> tuple[str, tuple[str, ...], list[AnchorParts]]:
    """
    What :func:`html_to_text` gives, as plain tuples: text, links and anchors. For callers
    on a hot path that read the anchors once (Mastodon's mapping).
    """
    if "<" not in markup and "&" not in markup:
        return _tidy(markup), (), []
    # Two ways, the same result (tests hold the first to the second): a loop over the tags
    # split out by one regular expression, for the plain markup platforms send, and
    # html.parser for everything else (comments, doctypes, scripts, odd quoting, ...).
    drop = frozenset(drop_classes) if drop_classes else _NO_CLASSES
    if drop and not any(name in markup for name in drop):  # no element to drop
        drop = _NO_CLASSES
    fast = _plain_parse(markup, drop)
    if fast is not None:
        return fast
    parser = _Parser(frozenset(drop_classes))
    parser.feed(markup)
    parser.close()
    return (
        _tidy("".join(parser.parts)),
        tuple(parser.links),
        [(a.href, a.text, a.classes) for a in parser.anchors],
    )


_NO_CLASSES: frozenset[str] = frozenset()
_CLASS_SETS: dict[str, frozenset[str]] = {}  # a class attribute's value -> its classes


def _classes(value: str | None) -> frozenset[str]:
    if not value:
        return _NO_CLASSES
    classes = _CLASS_SETS.get(value)
    if classes is None:
        classes = frozenset(value.split())
        if len(_CLASS_SETS) < 512:  # pages use few distinct values; keep the memo small
            _CLASS_SETS[value] = classes
    return classes


# The plain grammar: a tag is "<", a name of ASCII letters and digits, attributes each
# after ASCII whitespace (names of letters, digits and "-_:.", values quoted), an
# optional "/" and ">"; an end tag is "</", a name, whitespace and ">".
# html.parser reads such a tag exactly so, and when every "<" of the markup starts one
# (the rest is text), it reads the markup as the loop below does.
_WS = "[ \t\n\r\f]"
_PLAIN_TAG = re.compile(
    rf"""<(?:([a-zA-Z][a-zA-Z0-9]*)((?:{_WS}+[a-zA-Z_:][-a-zA-Z0-9_:.]*"""
    rf"""(?:="[^"]*"|='[^']*')?)*){_WS}*(/?)|/([a-zA-Z][a-zA-Z0-9]*){_WS}*)>"""
)
_ATTR = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)"|='([^']*)')?""")
# The link tag as Mastodon writes it (href, class, rel, translate, target) or as some
# other servers do (class, href, rel, target): in that order, no name twice. Other links
# go through _PLAIN_TAG.
_COMMON_LINK = re.compile(
    r'<a (?:href="([^"]*)"(?: class="([^"]*)"|)(?: rel="[^"]*"|)(?: translate="no"|)'
    r'|class="([^"]*)" href="([^"]*)"(?: rel="[^"]*"|))(?: target="_blank"|)>'
)
# "<" up to the next ">": the candidate tags, each then checked against the grammar (so a
# value holding ">" fails it, as html.parser would read past that ">").
_SPLIT = re.compile(r"(<[^>]*>)")
# Stands for a tag that adds no text, so that text on either side of it never joins into a
# tag or a character reference; removed before the text is tidied.
_GAP = "\x00"
_RAW_TEXT = frozenset({"script", "style", "textarea", "title"})
# What the commonest tags add to the text, found by one dict look-up.
_KNOWN_TAGS = {
    "<p>": "\n\n", "</p>": "\n\n", "<br>": "\n", "<br/>": "\n", "<br />": "\n",
    "<span>": _GAP, "</span>": _GAP, '<span class="invisible">': _GAP,
    '<span class="ellipsis">': _GAP, '<span class="h-card">': _GAP,
    '<span class="h-card" translate="no">': _GAP,
}  # fmt: skip


def _attributes(raw: str) -> dict[str, str]:
    """Attribute names and values as html.parser gives them; the last of a name wins."""
    out: dict[str, str] = {}
    for name, dq, sq in _ATTR.findall(raw):
        value = dq or sq
        out[name.lower()] = unescape(value) if "&" in value else value
    return out


def _plain_parse(
    markup: str, drop: frozenset[str]
) -> tuple[str, tuple[str, ...], list[AnchorParts]] | None:
    """
    What :class:`_Parser` gives, for markup whose every "<" starts a tag of the plain
    grammar; ``None`` for anything else, and for raw-text elements (script, style, ...).

    One regular expression splits the tags from the text; each tag is replaced in place by
    what it adds to the text, and character references are decoded once over the whole
    text.
    """
    links: list[str] = []
    anchors: list[AnchorParts] = []
    # Tags that add no text become gaps only where text on both sides could join into a
    # character reference; nothing else can join ("<" in the text fails below anyway).
    gap = _GAP if "&" in markup else ""
    if gap and gap in markup:
        return None
    pieces = _SPLIT.split(markup)  # text, tag, text, ..., text
    link: tuple[str, frozenset[str], int] | None = None  # the open <a>: href, classes, index
    dropping: list[str] = []  # open elements inside a dropped one, outermost first
    known = _NO_TAGS if drop else _KNOWN_TAGS if gap else _KNOWN_TAGS_NO_GAP
    for index in range(1, len(pieces), 2):
        tag = pieces[index]
        added = known.get(tag)
        if added is not None:
            if added is not _END_LINK:
                pieces[index] = added
                continue
            # "</a>" (known only while nothing is dropped)
            pieces[index] = gap
            if link is not None:
                anchors.append(_link_parts(link, pieces, index, gap))
                link = None
            continue
        pieces[index] = gap
        if tag == "</a>" and not dropping:
            name, closing, raw, slash = "a", True, "", ""
        else:
            match = _COMMON_LINK.fullmatch(tag) if tag[:3] == "<a " and not drop else None
            if match is not None:
                href, classes, other_classes, other_href = match.groups()
                if href is None:
                    href, classes = other_href, other_classes
                if href:
                    if "&" in href:
                        href = unescape(href)
                    if href not in links:
                        links.append(href)
                    if classes and "&" in classes:
                        classes = unescape(classes)
                    link = (href, _classes(classes), index)
                continue
            match = _PLAIN_TAG.fullmatch(tag)
            if match is None:
                return None
            opening, raw, slash, ending = match.groups()
            closing = opening is None
            name = (ending if closing else opening).lower()
            if name in _RAW_TEXT:
                return None
        if dropping:
            pieces[index - 1] = gap
            if closing:
                if name in dropping:
                    while dropping.pop() != name:
                        pass
            elif name not in _VOID and not slash:
                dropping.append(name)
            continue
        if closing:
            if name in _BLOCK:
                pieces[index] = "\n\n"
            elif name == "a" and link is not None:
                anchors.append(_link_parts(link, pieces, index, gap))
                link = None
            continue
        attributes = _attributes(raw) if raw and (name == "a" or drop) else None
        if drop and attributes and name not in _VOID:
            class_text = attributes.get("class")
            if class_text and not drop.isdisjoint(class_text.split()):
                if not slash:
                    dropping.append(name)
                continue
        if name == "br":
            pieces[index] = "\n"
        elif name in _BLOCK:
            pieces[index] = "\n\n"
        elif name == "a" and attributes:
            href = attributes.get("href")
            if href:
                if href not in links:
                    links.append(href)
                link = (href, _classes(attributes.get("class")), index)
    if dropping:
        pieces[-1] = gap
    text = "".join(pieces)
    if "<" in text:  # a "<" in the text starts no tag of the grammar
        return None
    if gap:
        text = unescape(text).replace(gap, "")
    return _tidy(text), tuple(links), anchors


def _link_parts(
    link: tuple[str, frozenset[str], int], pieces: list[str], index: int, gap: str
) -> AnchorParts:
    """The anchor whose start tag is at *link*'s index and end tag at *index*."""
    href, classes, first = link
    words = "".join(pieces[first + 1 : index])
    if gap:
        words = unescape(words).replace(gap, "")
    if "  " in words or not words.isprintable():  # blanks other than single spaces
        return href, _squash(words), classes
    return href, words.strip(), classes


_END_LINK = "</a>"  # stands for itself: the end of a link, handled in the loop
_KNOWN_TAGS[_END_LINK] = _END_LINK
# The same, for markup without "&", where tags that add no text can simply go.
_KNOWN_TAGS_NO_GAP = {tag: "" if added == _GAP else added for tag, added in _KNOWN_TAGS.items()}
_NO_TAGS: dict[str, str] = {}
_ODD_BLANKS = ("\t", "\r", "\f", "\v", "\u00a0")  # blanks that become a space
_SPACE_RUNS = re.compile("  +")
_BLANK_RUNS = re.compile("\n\n\n+")


def _squash(text: str) -> str:
    """Collapse runs of blanks (not newlines) into one space; strip the ends."""
    for blank in _ODD_BLANKS:
        if blank in text:
            text = text.replace(blank, " ")
    if "  " in text:
        text = _SPACE_RUNS.sub(" ", text)
    return text.strip()


def _tidy(text: str) -> str:
    """Collapse spaces within lines; keep single newlines; merge blank runs into one."""
    # Substring checks and str methods (C loops over the text) rather than regular
    # expressions that try a match at every character.
    text = _squash(text)
    if "\n" in text:
        # str.strip takes every Unicode blank off the ends of a line, as the definition does.
        text = "\n".join([line.strip() for line in text.split("\n")])
        if "\n\n\n" in text:
            text = _BLANK_RUNS.sub("\n\n", text)
    return text
