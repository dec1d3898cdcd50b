"""
Property tests of the query language: printing round-trips, the percolator equals a naive
loop, the boolean laws hold.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialplug import Post
from socialplug.filters import Query, QuerySet, fold, where
from socialplug.filters._ast import And, Field, Near, Node, Not, Or, Slop, Term, parse


WORDS = ["train", "stuck", "delay", "eurostar", "café", "t-mobile", "at&t", "東京", "🔥", "b"]
TAGS = ["eurostar", "hiring", "zürich"]


def make(text: str, tags: list[str]) -> Post:
    return Post(
        platform="mastodon",
        id="1",
        text=text,
        tags=tags,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        lang="en",
    )


words = st.sampled_from(WORDS)
text_terms = st.builds(lambda w: Term("text", fold(w, accents=False)), words)
phrases = st.lists(words, min_size=2, max_size=3).map(
    lambda ws: Term("text", " ".join(fold(w, accents=False) for w in ws))
)
leaves = st.one_of(
    text_terms,
    phrases,
    st.sampled_from(["refund", "del", "tra", "eur"]).map(lambda w: Term("prefix", w)),
    st.sampled_from(TAGS).map(lambda t: Term("tag", t)),
    st.sampled_from(["eurostar", "bob"]).map(lambda m: Term("mention", m)),
    st.sampled_from(["en", "de"]).map(lambda v: Field("lang", v)),
    st.sampled_from(["strike", "big news"]).map(lambda v: Field("title", v)),
    st.builds(
        Near,
        text_terms,
        text_terms,
        st.integers(min_value=0, max_value=3),
        st.booleans(),
    ),
    st.builds(
        Slop,
        st.lists(words.map(lambda w: fold(w, accents=False)), min_size=2, max_size=3).map(tuple),
        st.integers(min_value=0, max_value=3),
    ),
)


def _flat(cls: type[And] | type[Or], kids: list[Node]) -> Node:
    return cls(tuple(kids))


asts = st.recursive(
    leaves,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda k: _flat(And, k)),
        st.lists(inner, min_size=2, max_size=3).map(lambda k: _flat(Or, k)),
    ),
    max_leaves=8,
)

texts = st.lists(
    st.sampled_from(
        [*WORDS, "is", "the", "-", "!", "Train", "STUCK", "cafe", "refunds", "@eurostar"]
    ),
    max_size=12,
).map(" ".join)
tags = st.lists(st.sampled_from([*TAGS, "Eurostar", "other"]), max_size=3)


@given(asts)
def test_print_then_parse_gives_the_same_tree(ast: Node) -> None:
    assert parse(str(ast)) == ast


@given(st.text(alphabet='ab "()#-*:~/@NEARORNTD0123 \t', max_size=30))
def test_parse_print_parse_is_stable(text: str) -> None:
    try:
        ast = parse(text)
    except ValueError:
        return
    assert parse(str(ast)) == ast


def _reference(node: Node, text: str, post: Post) -> bool:
    """Literal definition of a term occurrence: the regular expressions of the docs."""
    t = fold(text)
    if isinstance(node, Term):
        v = fold(node.value)
        if node.kind == "tag":
            return v in {fold(x) for x in post.tags}
        if node.kind == "mention":
            node = Term("text", "@" + v)
        v = fold(node.value)
        left = "" if _loose(v[0]) else r"(?<!\w)"
        right = "" if node.kind == "prefix" or _loose(v[-1]) else r"(?!\w)"
        return re.search(left + re.escape(v) + right, t) is not None
    if isinstance(node, Not):
        return not _reference(node.child, text, post)
    if isinstance(node, And):
        return all(_reference(c, text, post) for c in node.children)
    if isinstance(node, Or):
        return any(_reference(c, text, post) for c in node.children)
    # proximity and fields: the single-query implementation
    return Query.from_ast(node)(post)


def _loose(c: str) -> bool:
    return c in "東京🔥"


@given(asts, texts, tags)
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_single_query_matches_the_literal_definition(ast: Node, text: str, tg: list[str]) -> None:
    post = make(text, tg)
    assert Query.from_ast(ast)(post) == _reference(ast, text, post)


@given(st.lists(asts, min_size=1, max_size=12), st.lists(st.tuples(texts, tags), max_size=8))
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=150)
def test_percolator_equals_naive_loop(queries: list[Node], posts: list[Any]) -> None:
    mapping = {f"q{i}": str(q) for i, q in enumerate(queries)}
    qs_ac = QuerySet(mapping, engine="aho-corasick")
    qs_rx = QuerySet(mapping, engine="regex")
    for text, tg in posts:
        post = make(text, tg)
        # the naive loop: every query, evaluated literally
        expected = [f"q{i}" for i, q in enumerate(queries) if _reference(q, text, post)]
        assert qs_ac.match(post) == expected
        assert qs_rx.match(post) == expected


@given(asts, asts, asts, texts, tags)
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_boolean_laws(a: Node, b: Node, c: Node, text: str, tg: list[str]) -> None:
    post = make(text, tg)

    def ev(node: Node) -> bool:
        return Query.from_ast(node)(post)

    # De Morgan
    assert ev(Not(And((a, b)))) == ev(Or((Not(a), Not(b))))
    assert ev(Not(Or((a, b)))) == ev(And((Not(a), Not(b))))
    # double negation, excluded middle, contradiction
    assert ev(Not(Not(a))) == ev(a)
    assert ev(Or((a, Not(a))))
    assert not ev(And((a, Not(a))))
    # commutativity, associativity, distributivity, absorption
    assert ev(And((a, b))) == ev(And((b, a)))
    assert ev(Or((a, b))) == ev(Or((b, a)))
    assert ev(And((a, And((b, c))))) == ev(And((And((a, b)), c)))
    assert ev(And((a, Or((b, c))))) == ev(Or((And((a, b)), And((a, c)))))
    assert ev(Or((a, And((a, b))))) == ev(a)
    # the Filter algebra agrees with the query algebra
    qa, qb = Query.from_ast(a), Query.from_ast(b)

    assert (where(qa) & where(qb))(post) == (qa & qb)(post)
    assert (where(qa) | where(qb))(post) == (qa | qb)(post)
    assert (~where(qa))(post) == (~qa)(post)


# Monitoring rules: conjunctions of clauses (a term or an OR of terms), some negated, with
# nested ANDs; text terms and hashtags only, so that the percolator takes its fast path.
plain_leaves = st.one_of(text_terms, phrases, st.sampled_from(TAGS).map(lambda t: Term("tag", t)))
clauses = st.one_of(
    plain_leaves, st.lists(plain_leaves, min_size=2, max_size=4).map(lambda k: _flat(Or, k))
)
conjuncts = st.one_of(
    clauses,
    clauses.map(Not),
    st.lists(clauses, min_size=2, max_size=3).map(lambda k: _flat(Or, k)).map(Not),
    st.lists(clauses, min_size=2, max_size=2).map(lambda k: _flat(And, k)),
    st.lists(clauses, min_size=1, max_size=2).map(lambda k: Not(Not(_flat(Or, [*k, *k])))),
)
rules = st.one_of(
    clauses,
    conjuncts,
    st.lists(conjuncts, min_size=2, max_size=4).map(lambda k: _flat(And, k)),
)


@given(st.lists(rules, min_size=2, max_size=30), st.lists(st.tuples(texts, tags), max_size=8))
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=200)
def test_percolator_of_rules_equals_naive_loop(queries: list[Node], posts: list[Any]) -> None:
    # What the index decides alone (the clauses it is built on, the atoms under a NOT that
    # exclude a candidate) must give the literal answer, for match and for annotate.
    mapping = {f"q{i}": str(q) for i, q in enumerate(queries)}
    qs = QuerySet(mapping, engine="aho-corasick")
    for text, tg in posts:
        post = make(text, tg)
        expected = [f"q{i}" for i, q in enumerate(queries) if _reference(q, text, post)]
        assert qs.match(post) == expected
        assert qs.annotate(post).annotations["matched"] == expected
