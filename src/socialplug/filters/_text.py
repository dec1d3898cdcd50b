"""
Text folding and term semantics shared by the query language, the percolator and the
gazetteer.

Matching is case-insensitive and accent-insensitive: text and terms are both *folded*
(:func:`fold`) and a term occurs where its folded form appears in the folded text at a word
boundary. A boundary check applies at each edge of a term whose edge character is not a CJK,
Thai or emoji/symbol character, and means "the neighbouring character of the text, if any, is
not a word character" (``c.isalnum() or c == "_"``, Python's Unicode ``\\w``). On text that is
already lower-cased, accent-free and whitespace-collapsed this is exactly the regular expression
``(?<!\\w)term(?!\\w)``.
"""

from __future__ import annotations

import re
import unicodedata


__all__ = ["ScanTerm", "fold", "is_word_char", "loose_edge"]

#: Combining diacritical marks (U+0300-U+036F): what accent folding removes after NFD.
_MARKS_RE = re.compile("[\u0300-\u036f]")


def _accented_class() -> re.Pattern[str]:
    """A character class of every character below U+2000 that NFD splits off a mark from."""
    chars = [
        chr(cp)
        for cp in range(0xC0, 0x2000)
        if _MARKS_RE.search(unicodedata.normalize("NFD", chr(cp))) is not None
    ]
    return re.compile("[" + re.escape("".join(chars)) + "\u0300-\u036f]")


#: Characters whose accents folding removes (a cheap test before NFD).
_ACCENTED_RE = _accented_class()
#: Whitespace other than the plain space (what :meth:`str.split` splits on).
_OTHER_SPACE_RE = re.compile(
    "[" + re.escape("".join(chr(c) for c in range(0x3001) if chr(c).isspace() and c != 0x20)) + "]"
)


def fold(text: str, /, *, accents: bool = True) -> str:
    """
    Return *text* folded for matching: lower-cased with :meth:`str.lower`, whitespace collapsed
    to single spaces and stripped and, with *accents* (the default), accents removed (NFD,
    combining diacritical marks dropped, NFC again).

    ``fold("Café  Crème")`` is ``"cafe creme"``; with ``accents=False`` it is ``"café crème"``.
    Only Latin-style diacritics (U+0300-U+036F) go: Japanese voicing marks and Hangul syllables
    come back composed unchanged.
    """
    if accents and not text.isascii() and _ACCENTED_RE.search(text) is not None:
        text = unicodedata.normalize("NFC", _MARKS_RE.sub("", unicodedata.normalize("NFD", text)))
    text = text.lower()
    if (
        _OTHER_SPACE_RE.search(text) is None
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
    ):
        return text
    return " ".join(text.split())


def is_word_char(c: str, /) -> bool:
    """Return whether *c* is a word character (Python's Unicode ``\\w``)."""
    return c.isalnum() or c == "_"


_CJK_RANGES = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def loose_edge(c: str, /) -> bool:
    """
    Return whether a term edge character *c* needs no boundary check.

    True for scripts written without spaces between words (CJK, Thai, Lao, Khmer, Myanmar,
    Hangul) and for emoji and other non-ASCII symbols (Unicode category ``So``, emoji
    modifiers and joiners), so ``東京`` matches inside ``東京駅に`` and ``🔥`` matches in ``great🔥``.
    """
    cp = ord(c)
    if cp < 0x80:
        return False
    for lo, hi in _CJK_RANGES:
        if lo <= cp <= hi:
            return True
    if cp in (0x200D, 0xFE0F) or 0x1F3FB <= cp <= 0x1F3FF:
        return True
    return unicodedata.category(c) == "So"


class ScanTerm:
    """
    A folded string to find in folded text, with the boundary checks its edges need.

    *prefix* makes it a trailing-wildcard term (``refund*``): only the left edge is checked,
    since the word may go on.
    """

    __slots__ = ("left", "prefix", "right", "text")

    def __init__(self, text: str, *, prefix: bool = False) -> None:
        if not text:
            raise ValueError("empty term")
        self.text = text
        self.prefix = prefix
        self.left = not loose_edge(text[0])
        self.right = not prefix and not loose_edge(text[-1])

    @property
    def key(self) -> tuple[str, bool]:
        """Identity of the term (text and wildcard flag)."""
        return (self.text, self.prefix)

    def pattern(self) -> str:
        """Return the regular expression of an occurrence (for positions and fallbacks)."""
        body = re.escape(self.text)
        if self.prefix:
            body += r"\w*"
        return ("(?<!\\w)" if self.left else "") + body + ("(?!\\w)" if self.right else "")

    def regex(self) -> re.Pattern[str]:
        """Return the compiled :meth:`pattern`."""
        return re.compile(self.pattern())

    def spans(self, text: str, /) -> list[tuple[int, int]]:
        """Return every occurrence in folded *text* as ``(start, end)``, overlaps included."""
        rx = re.compile("(?=(" + self.pattern() + "))")
        return [(m.start(1), m.end(1)) for m in rx.finditer(text)]
