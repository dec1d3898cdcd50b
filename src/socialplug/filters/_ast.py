"""
The query language: syntax tree, parser and printer.

See ``docs/query-language.md`` for the reference. The grammar::

    query    := or_expr
    or_expr  := and_expr ( "OR" and_expr )*
    and_expr := unary ( "AND" unary | "NOT" unary | unary )*      adjacent terms: AND
    unary    := "NOT" unary | "-" unary | near
    near     := primary ( ("NEAR/n" | "ONEAR/n") primary )?
    primary  := "(" or_expr ")" | term
    term     := WORD | WORD"*" | "\\"" PHRASE "\\"" ["~" n] | "#" TAG | "@" NAME
              | FIELD ":" (WORD | "\\"" PHRASE "\\"")

Precedence, tightest first: NEAR/ONEAR, NOT, AND, OR.
"""

from __future__ import annotations

import re
import sys
from typing import Literal, TypeAlias

import attrs

from ..exceptions import ConfigurationError
from ._text import fold as _fold


__all__ = [
    "FIELDS",
    "And",
    "Field",
    "Near",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Slop",
    "Term",
    "parse",
]

#: Field operators and what they look at.
FIELDS = ("author", "lang", "platform", "site", "title", "url")

_WORD_RUN = re.compile(r"\w+")
_TAG_RE = re.compile(r"\w+")
_MENTION_RE = re.compile(r"[\w.]+(?:@[\w.-]+)?")
_NEAR_RE = re.compile(r"(O?NEAR)/(\d+)")
_SLOP_RE = re.compile(r"~(\d+)")
_OPERATORS = frozenset({"AND", "OR", "NOT"})


def fold(text: str) -> str:
    """Lower-case and collapse whitespace (accents are folded at compile time, if asked)."""
    # interned: thousands of queries repeat the same few thousand terms
    return sys.intern(_fold(text, accents=False))


# A bare word the printer may write without quotes.
_BARE_RE = re.compile(r'[^\s()"]+')


class QuerySyntaxError(ConfigurationError):
    """
    A query does not parse.

    The message points at the column with a caret and says what was expected.

    Attributes:
        query: The query text.
        column: 1-based column of the problem.
        expected: What the parser expected there.
    """

    def __init__(self, query: str, column: int, expected: str) -> None:
        self.query = query
        self.column = column
        self.expected = expected
        line = query.replace("\n", " ").replace("\t", " ")
        message = f"{expected} at column {column}\n  {line}\n  {' ' * (column - 1)}^"
        super().__init__(message)


@attrs.frozen
class Term:
    """
    A term.

    Attributes:
        kind: ``"text"`` (a word or a phrase), ``"prefix"`` (``refund*``), ``"tag"``
            (``#tag``) or ``"mention"`` (``@name``).
        value: The folded text (without ``#``, ``@`` or ``*``).
    """

    kind: Literal["text", "prefix", "tag", "mention"]
    value: str

    def __str__(self) -> str:
        v = self.value
        if self.kind == "tag":
            return "#" + v
        if self.kind == "mention":
            return "@" + v
        if self.kind == "prefix":
            return v + "*"
        if _needs_quotes(v):
            return '"' + v + '"'
        return v


@attrs.frozen
class Slop:
    """``"w1 w2 ..."~n``: every word within a window of the words plus *slop* others."""

    words: tuple[str, ...]
    slop: int

    def __str__(self) -> str:
        return '"' + " ".join(self.words) + '"~' + str(self.slop)


@attrs.frozen
class Field:
    """``name:value`` on a post field (author, lang, platform, site, title, url)."""

    name: str
    value: str

    def __str__(self) -> str:
        v = self.value
        if _needs_quotes(v) or v.endswith("*"):
            return f'{self.name}:"{v}"'
        return f"{self.name}:{v}"


@attrs.frozen
class Near:
    """``left NEAR/n right`` (either order) or ``left ONEAR/n right`` (left first)."""

    left: Term
    right: Term
    distance: int
    ordered: bool

    def __str__(self) -> str:
        op = "ONEAR" if self.ordered else "NEAR"
        return f"{self.left} {op}/{self.distance} {self.right}"


@attrs.frozen
class Not:
    """Negation."""

    child: Node

    def __str__(self) -> str:
        return "NOT " + _wrap(self.child)


@attrs.frozen
class And:
    """Conjunction of two or more children."""

    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrap(c) for c in self.children)


@attrs.frozen
class Or:
    """Disjunction of two or more children."""

    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(_wrap(c) for c in self.children)


Node: TypeAlias = Term | Slop | Field | Near | Not | And | Or


def _wrap(node: Node) -> str:
    if isinstance(node, And | Or):
        return "(" + str(node) + ")"
    return str(node)


def _needs_quotes(value: str) -> bool:
    """Whether a folded text value must be quoted to parse back to itself."""
    if not _BARE_RE.fullmatch(value) or value in _OPERATORS:
        return True
    c = value[0]
    if c in "-#@" or value.endswith("*") or _NEAR_RE.fullmatch(value):
        return True
    head, sep, _ = value.partition(":")
    return bool(sep) and head in FIELDS


# ---------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------

_Kind = Literal["(", ")", "AND", "OR", "NOT", "NEAR", "TERM", "END"]


@attrs.frozen
class _Token:
    kind: _Kind
    column: int  # 0-based
    node: Node | None = None
    distance: int = 0
    ordered: bool = False


_EMPTY_PHRASE = "empty phrase: expected some text between the quotes"


def _error(query: str, pos: int, expected: str) -> QuerySyntaxError:
    return QuerySyntaxError(query, pos + 1, expected)


def _read_phrase(query: str, pos: int) -> tuple[str, int]:
    """Read ``"..."`` starting at *pos* (the quote); return the content and the next pos."""
    end = query.find('"', pos + 1)
    if end < 0:
        raise _error(query, pos, 'unterminated phrase: expected a closing "')
    return query[pos + 1 : end], end + 1


def _text_term(query: str, pos: int, raw: str) -> Term:
    value = fold(raw)
    if not value:
        raise _error(query, pos, _EMPTY_PHRASE)
    return Term("text", value)


def _word_node(query: str, pos: int, word: str) -> Node:
    """Interpret a bare word (no spaces, parentheses or quotes)."""
    if word.startswith("#") and len(word) > 1:
        if not _TAG_RE.fullmatch(word[1:]):
            raise _error(query, pos, "hashtag: expected only letters, digits or _ after #")
        return Term("tag", fold(word[1:]))
    if word.startswith("@") and len(word) > 1 and _MENTION_RE.fullmatch(word[1:]):
        return Term("mention", fold(word[1:]))
    head, sep, rest = word.partition(":")
    if sep and head in FIELDS and rest:
        return _field(query, pos, head, rest)
    if len(word) > 1 and word.endswith("*") and word.rstrip("*"):
        return Term("prefix", fold(word[:-1]))
    return _text_term(query, pos, word)


def _field(query: str, pos: int, name: str, raw: str) -> Field:
    value = fold(raw)
    if not value:
        raise _error(query, pos, f"{name}: expected a value")
    if name in ("author", "lang", "platform", "site") and " " in value:
        raise _error(query, pos, f"{name}: expected a single word")
    if name == "author":
        value = value.lstrip("@")
    return Field(name, value)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, n = 0, len(query)
    while pos < n:
        c = query[pos]
        if c.isspace():
            pos += 1
            continue
        if c in "()":
            tokens.append(_Token(c, pos))  # type: ignore[arg-type]
            pos += 1
            continue
        if c == "-" and pos + 1 < n and not query[pos + 1].isspace() and query[pos + 1] != ")":
            tokens.append(_Token("NOT", pos))
            pos += 1
            continue
        if c == '"':
            start = pos
            raw, pos = _read_phrase(query, pos)
            m = _SLOP_RE.match(query, pos)
            if m:
                pos = m.end()
                words = tuple(fold(raw).split())
                if not words:
                    raise _error(query, start, _EMPTY_PHRASE)
                node: Node = (
                    Term("text", words[0]) if len(words) == 1 else Slop(words, int(m.group(1)))
                )
            else:
                node = _text_term(query, start, raw)
            tokens.append(_Token("TERM", start, node))
            continue
        start = pos
        while pos < n and not query[pos].isspace() and query[pos] not in '()"':
            pos += 1
        word = query[start:pos]
        if word in _OPERATORS:
            tokens.append(_Token(word, start))  # type: ignore[arg-type]
            continue
        m = _NEAR_RE.fullmatch(word)
        if m:
            tokens.append(
                _Token("NEAR", start, distance=int(m.group(2)), ordered=m.group(1) == "ONEAR")
            )
            continue
        head, sep, rest = word.partition(":")
        if sep and head in FIELDS and not rest and pos < n and query[pos] == '"':
            raw, pos = _read_phrase(query, pos)
            tokens.append(_Token("TERM", start, _field(query, start, head, raw)))
            continue
        tokens.append(_Token("TERM", start, _word_node(query, start, word)))
    tokens.append(_Token("END", len(query.rstrip())))
    return tokens


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------

_MAX_DEPTH = 50
_EXPECT_OPERAND = 'expected a term, "(" or NOT'


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def fail(self, expected: str) -> QuerySyntaxError:
        return _error(self.query, self.peek().column, expected)

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise self.fail("empty query: expected a term")
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise self.fail('unbalanced ")": expected AND, OR, a term or the end')
        if tok.kind != "END":
            raise self.fail("expected AND, OR, a term or the end")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
                items.append(self.unary())
            elif kind in ("NOT", "(", "TERM"):
                items.append(self.unary())
            else:
                break
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        negations = 0
        while self.peek().kind == "NOT":
            tok = self.take()
            negations += 1
            if negations > _MAX_DEPTH:
                raise _error(self.query, tok.column, "too many NOT in a row: expected a term")
        node = self.near()
        for _ in range(negations):
            node = Not(node)
        return node

    def near(self) -> Node:
        left_tok = self.peek()
        left = self.primary()
        if self.peek().kind != "NEAR":
            return left
        op = self.take()
        right_tok = self.peek()
        right = self.primary()
        for tok, node in ((left_tok, left), (right_tok, right)):
            if not (isinstance(node, Term) and node.kind in ("text", "prefix")):
                raise _error(
                    self.query, tok.column, "NEAR/ONEAR: expected a word, phrase or prefix*"
                )
        if self.peek().kind == "NEAR":
            raise self.fail("chained NEAR: expected AND, OR or the end (use parentheses)")
        assert isinstance(left, Term)
        assert isinstance(right, Term)
        return Near(left, right, op.distance, op.ordered)

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            if self.peek().kind == ")":
                raise self.fail('empty parentheses: expected a term, "(" or NOT')
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise _error(
                    self.query, tok.column, "too deeply nested: expected at most 50 levels"
                )
            node = self.or_expr()
            self.depth -= 1
            if self.peek().kind != ")":
                raise self.fail('expected ")"')
            self.take()
            return node
        if tok.kind == "TERM":
            self.take()
            assert tok.node is not None
            return tok.node
        if tok.kind == "END":
            raise self.fail(_EXPECT_OPERAND + " before the end")
        raise self.fail(_EXPECT_OPERAND)


def parse(query: str, /) -> Node:
    """
    Parse *query* into its syntax tree.

    Raises:
        QuerySyntaxError: The query does not parse; the message points at the column.
    """
    return _Parser(query).parse()
