"""
The query language reference (docs/query-language.md), case by case.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from socialplug import Author, Post
from socialplug.filters import Predicate, Query, QuerySet, QuerySyntaxError, where


def make(text: str = "", **kw: Any) -> Post:
    kw.setdefault("platform", "mastodon")
    kw.setdefault("id", "1")
    kw.setdefault("created_at", datetime(2026, 1, 1, tzinfo=UTC))
    return Post(text=text, **kw)


# (query, text, expected)
TEXT_CASES: list[tuple[str, str, bool]] = [
    # words: case-insensitive, on word boundaries
    ("eurostar", "Eurostar is late", True),
    ("eurostar", "EUROSTAR", True),
    ("eurostar", "eurostars are late", False),
    ("eurostar", "eurostar_app crashed", False),
    ("eurostar", "@eurostar: help", True),
    ("eurostar", "#eurostar", True),
    ("eurostar", "https://www.eurostar.com/help", True),
    ("eurostar", "myeurostar", False),
    ("eurostar", "eurostar2", False),
    ("eurostar", "(eurostar)", True),
    ("eurostar", "eurostar's trains", True),
    ("eurostar", "", False),
    ("503", "error 503!", True),
    ("503", "error 5030", False),
    ("db", "the DB app", True),
    ("db", "mongodb is down", False),
    # punctuation inside terms
    ("t-mobile", "T-Mobile is down", True),
    ("t-mobile", "t-mobile's network", True),
    ("t-mobile", "at-mobile", False),
    ("t-mobile", "t mobile", False),
    ("at&t", "AT&T outage", True),
    ("at&t", "cat&t", False),
    ("booking.com", "booked on Booking.com!", True),
    ("booking.com", "booking.community", False),
    ("booking.com", "booking com", False),
    ("sainsbury's", "Sainsbury's queue", True),
    ("sainsbury's", "sainsburys queue", False),
    ("c++", "I write C++ daily", True),
    ("c++", "c++x", False),  # punctuation edges are checked too
    ("c++", "ac++", False),
    ("#", "a # b", True),
    ("#", "a#b", False),
    ("-", "a - b", True),
    ("a -", "a - b", True),
    # accents
    ("cafe", "Un Café crème", True),
    ("café", "un cafe", True),
    ("creme", "CRÈME", True),
    ("grève", "greve generale", True),
    ("bloque", "train bloqué", True),
    ("uber", "über alles", True),
    ("naive", "naïve", True),
    ("sao paulo", "São Paulo", True),
    ("zurich", "Zürich", True),
    ("istanbul", "İstanbul", True),
    ("ångström", "angstrom", True),
    # phrases
    ('"customer service"', "Customer  service is awful", True),
    ('"customer service"', "customer\nservice", True),
    ('"customer service"', "customer-service", False),
    ('"customer service"', "customer services", False),
    ('"customer service"', "service customer", False),
    ('"le shuttle"', "Le Shuttle est en retard", True),
    ('"can\'t log in"', "I can't log in today", True),
    ('"can\'t log in"', "I cant log in", False),
    ('"eurostar"', "eurostar", True),
    ('"  le   shuttle "', "le shuttle", True),
    ('"not working"', "app not working.", True),
    ('"deutsche bahn"', "Deutsche Bahn", True),
    ('"deutsche bahn"', "deutsche bahnhof", False),
    # wildcards
    ("refund*", "Refunds please", True),
    ("refund*", "refund", True),
    ("refund*", "refunded yesterday", True),
    ("refund*", "nonrefundable", False),
    ("refund*", "re fund", False),
    ("cancel*", "cancellation", True),
    ("cancel*", "can cel", False),
    ("delay*", "Delayed again", True),
    ("t-mob*", "t-mobile", True),
    ("*", "a * b", True),
    # AND / OR / NOT
    ("train AND stuck", "the train is stuck", True),
    ("train AND stuck", "the train is late", False),
    ("train stuck", "stuck train", True),
    ("train stuck", "train only", False),
    ("train OR bus", "bus late", True),
    ("train OR bus", "tram late", False),
    ("NOT train", "bus", True),
    ("NOT train", "train", False),
    ("train NOT stuck", "train late", True),
    ("train NOT stuck", "train stuck", False),
    ("train AND NOT stuck", "train stuck", False),
    ("train -stuck", "train late", True),
    ("train -stuck", "train stuck", False),
    ('train -"very late"', "train very late", False),
    ('train -"very late"', "train late", True),
    ("train -(stuck OR late)", "train late", False),
    ("train -(stuck OR late)", "train ok", True),
    ("NOT NOT train", "train", True),
    ("--train", "train", True),
    ("a OR b AND c", "a", True),
    ("a OR b AND c", "b", False),
    ("a OR b AND c", "b c", True),
    ("(a OR b) AND c", "a", False),
    ("(a OR b) AND c", "a c", True),
    ("a AND b OR c", "c", True),
    ("a AND b OR c", "a", False),
    ("NOT a AND b", "b", True),
    ("NOT a AND b", "a b", False),
    ("NOT a OR b", "a b", True),
    ("NOT a OR b", "a", False),
    ("NOT (a OR b)", "c", True),
    ("NOT (a OR b)", "b", False),
    ("a and b", "a b", False),  # lower-case operators are words
    ("a and b", "a and b", True),
    ("a or b", "a", False),
    ("not", "not today", True),
    ("((a))", "a", True),
    ("(a OR (b AND (c OR d)))", "b d", True),
    ("(a OR (b AND (c OR d)))", "b", False),
    (
        '("eurostar" OR "le shuttle" OR #eurostar) AND (delay OR stuck OR cancelled) '
        "NOT (job OR #hiring)",
        "Le Shuttle cancelled again",
        True,
    ),
    (
        '("eurostar" OR "le shuttle" OR #eurostar) AND (delay OR stuck OR cancelled) '
        "NOT (job OR #hiring)",
        "eurostar job: delay manager",
        False,
    ),
    ("eurostar delay", "my train of thought was cancelled", False),
    # proximity
    ('"train stuck"~2', "train is really stuck", True),
    ('"train stuck"~1', "train is really stuck", False),
    ('"train stuck"~0', "train stuck", True),
    ('"train stuck"~0', "stuck train", True),
    ('"train stuck"~3', "stuck for hours in the train", False),
    ('"train stuck"~4', "stuck for hours in the train", True),
    ('"train"~3', "train", True),
    ('"refund never arrived"~2', "refund has never really arrived", True),
    ('"refund never arrived"~1', "refund has never really arrived", False),
    ("train NEAR/1 stuck", "stuck, the train", True),
    ("train NEAR/0 stuck", "stuck, the train", False),
    ("train NEAR/0 stuck", "train stuck", True),
    ("train NEAR/2 stuck", "train was very much stuck", False),
    ("train NEAR/3 stuck", "train was very much stuck", True),
    ("train ONEAR/3 stuck", "train was very much stuck", True),
    ("train ONEAR/3 stuck", "stuck was the train", False),
    ('"le shuttle" NEAR/2 delay*', "delays hit le shuttle", True),
    ('"le shuttle" NEAR/2 delay*', "le shuttle was fine; a delay elsewhere", False),
    ("train NEAR/2 stuck AND uk", "uk train stuck", True),
    ("train NEAR/2 stuck AND uk", "train stuck", False),
    ("NOT train NEAR/1 stuck", "train stuck", False),
    ("NOT train NEAR/1 stuck", "train was not stuck", True),
    ("(train NEAR/1 stuck) OR bus", "bus", True),
    # CJK and emoji
    ("東京", "東京駅に着いた", True),
    ("東京駅", "今日は東京駅で", True),
    ("新幹線", "新幹線が遅れています", True),
    ("遅延", "電車が遅延しています", True),
    ("sony", "ソニーsonyの新製品", False),
    ("sony", "ソニー sony の新製品", True),
    ("삼성", "삼성전자 주가", True),
    ("🔥", "great🔥", True),
    ("🔥", "🔥🔥🔥", True),
    ("🔥", "fire", False),
    ("👍", "nice 👍🏽", True),
    ("❤️", "love it ❤️", True),
    ("love ❤️", "love ❤️", True),
    ('"so good 🔥"', "so good 🔥🔥", True),
    # mentions in text
    ("@eurostar", "hey @Eurostar help", True),
    ("@eurostar", "hey eurostar help", False),
    ("@eurostar", "mail me@eurostar now", False),
    ("@eurostar", "cc @eurostar@mastodon.social", True),
    # hashtags need the post's tags, not the text
    ("#eurostar", "#eurostar in text only", False),
]

# (query, post fields, expected)
FIELD_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("#eurostar", {"tags": ["eurostar"]}, True),
    ("#eurostar", {"tags": ["Eurostar"]}, True),
    ("#eurostar", {"tags": ["#eurostar"]}, True),
    ("#EuroStar", {"tags": ["eurostar"]}, True),
    ("#eurostar", {"tags": ["eurostarfan"]}, False),
    ("#eurostar", {"tags": []}, False),
    ("#zürich", {"tags": ["zurich"]}, True),
    ("#a_b", {"tags": ["a_b"]}, True),
    ("#hiring OR #jobs", {"tags": ["jobs"]}, True),
    ("eurostar -#hiring", {"text": "eurostar", "tags": ["hiring"]}, False),
    ("eurostar -#hiring", {"text": "eurostar", "tags": ["travel"]}, True),
    ("@eurostar", {"mentions": ["eurostar"]}, True),
    ("@eurostar", {"mentions": ["Eurostar@mastodon.social"]}, True),
    ("@eurostar", {"mentions": ["@eurostar"]}, True),
    ("@eurostar", {"mentions": ["eurostarfan"]}, False),
    ("@eurostar@mastodon.social", {"mentions": ["eurostar@mastodon.social"]}, True),
    ("author:alice", {"author": Author(handle="alice")}, True),
    ("author:alice", {"author": Author(handle="@Alice")}, True),
    ("author:alice", {"author": Author(handle="alice@mastodon.social")}, True),
    ("author:alice", {"author": Author(handle="alicia")}, False),
    ("author:@alice", {"author": Author(handle="alice")}, True),
    ("author:did:plc:abc", {"author": Author(id="did:plc:abc", handle="x")}, True),
    ("lang:en", {"lang": "en"}, True),
    ("lang:en", {"lang": "en-GB"}, True),
    ("lang:en", {"lang": "EN_us"}, True),
    ("lang:en-gb", {"lang": "en-US"}, False),
    ("lang:en", {"lang": "de"}, False),
    ("lang:en", {"lang": None}, False),
    ("lang:en", {"lang": None, "annotations": {"lang": "en"}}, True),
    ("lang:de OR lang:fr", {"lang": "fr"}, True),
    ("platform:bluesky", {"platform": "bluesky"}, True),
    ("platform:bluesky", {"platform": "mastodon"}, False),
    ("platform:Bluesky", {"platform": "bluesky"}, True),
    ("site:eurostar.com", {"url": "https://www.eurostar.com/help"}, True),
    ("site:eurostar.com", {"url": "https://eurostar.com"}, True),
    ("site:eurostar.com", {"links": ["http://x.org", "https://EUROSTAR.com/a"]}, True),
    ("site:eurostar.com", {"url": "https://noteurostar.com"}, False),
    ("site:eurostar.com", {"url": "https://eurostar.com.evil.io"}, False),
    ("site:www.eurostar.com", {"url": "https://eurostar.com"}, True),
    ("site:eurostar.com", {"url": None}, False),
    ("url:/help", {"url": "https://www.eurostar.com/Help"}, True),
    ("url:/help", {"url": "https://www.eurostar.com/about"}, False),
    ("url:utm_source", {"links": ["https://a.b/?utm_source=x"]}, True),
    ("title:strike", {"title": "Rail STRIKE announced"}, True),
    ("title:strike", {"title": "Strikes", "text": "strike"}, False),
    ('title:"rail strike"', {"title": "The rail strike"}, True),
    ('title:"rail strike"', {"title": None}, False),
    ("title:strike AND lang:en", {"title": "strike", "lang": "en"}, True),
    ("eurostar lang:en", {"text": "eurostar", "lang": "fr"}, False),
    (
        "(eurostar OR #eurostar) AND platform:mastodon -author:bot",
        {"text": "eurostar", "author": Author(handle="human")},
        True,
    ),
    (
        "(eurostar OR #eurostar) AND platform:mastodon -author:bot",
        {"text": "eurostar", "author": Author(handle="bot")},
        False,
    ),
]


@pytest.mark.parametrize(("query", "text", "expected"), TEXT_CASES)
def test_text_terms(query: str, text: str, expected: bool) -> None:
    q = Query(query)
    post = make(text)
    assert q(post) is expected
    # the percolator and the regular-expression scanner agree with the single query
    assert (QuerySet({"q": query}).match(post) == ["q"]) is expected
    assert (QuerySet({"q": query}, engine="regex").match(post) == ["q"]) is expected
    assert (QuerySet({"q": query}, engine="aho-corasick").match(post) == ["q"]) is expected


@pytest.mark.parametrize(("query", "fields", "expected"), FIELD_CASES)
def test_fields(query: str, fields: dict[str, Any], expected: bool) -> None:
    post = make(**fields)
    assert Query(query)(post) is expected
    assert (QuerySet({"q": query, "other": "zzz"}).match(post) == ["q"]) is expected
    ac = QuerySet({"q": query, "other": "zzz"}, engine="aho-corasick")
    assert (ac.match(post) == ["q"]) is expected


# (query, expected message fragment, 1-based column)
SYNTAX_ERRORS: list[tuple[str, str, int]] = [
    ("", "empty query", 1),
    ("   ", "empty query", 1),
    ("(a OR b) AND", 'expected a term, "(" or NOT before the end', 13),
    ("a OR", "before the end", 5),
    ("OR a", 'expected a term, "(" or NOT', 1),
    ("AND", 'expected a term, "(" or NOT', 1),
    ("a AND OR b", 'expected a term, "(" or NOT', 7),
    ('"abc', 'unterminated phrase: expected a closing "', 1),
    ('a "abc', 'unterminated phrase: expected a closing "', 3),
    ('""', "empty phrase", 1),
    ('a "  "', "empty phrase", 3),
    ("(a OR b", 'expected ")"', 8),
    ("a OR b)", 'unbalanced ")"', 7),
    ("()", "empty parentheses", 2),
    ("#a-b", "hashtag: expected only letters", 1),
    ("x #é-b", "hashtag", 3),
    ("##a", "hashtag", 1),
    ("a NEAR/2", "before the end", 9),
    ("NEAR/2 a", 'expected a term, "(" or NOT', 1),
    ("#a NEAR/2 b", "NEAR/ONEAR: expected a word, phrase or prefix*", 1),
    ("a NEAR/2 (b OR c)", "NEAR/ONEAR: expected a word, phrase or prefix*", 10),
    ("a NEAR/2 b NEAR/2 c", "chained NEAR", 12),
    ('author:"two words"', "author: expected a single word", 1),
    ('lang:"en gb"', "lang: expected a single word", 1),
    ("NOT", "before the end", 4),
]


@pytest.mark.parametrize(("query", "fragment", "column"), SYNTAX_ERRORS)
def test_syntax_errors_point_at_the_column(query: str, fragment: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        Query(query)
    err = info.value
    assert fragment in str(err)
    assert err.column == column
    # the caret sits under the column
    caret_line = str(err).splitlines()[-1]
    assert caret_line.index("^") - 2 == column - 1
    assert isinstance(err, ValueError)


# (query, canonical form)
CANONICAL: list[tuple[str, str]] = [
    ("Eurostar", "eurostar"),
    ('"eurostar"', "eurostar"),
    ('"Le  Shuttle"', '"le shuttle"'),
    ("a b", "a AND b"),
    ("a NOT b", "a AND NOT b"),
    ("a -b", "a AND NOT b"),
    ("a OR b c", "a OR (b AND c)"),
    ("(a OR b) c", "(a OR b) AND c"),
    ("#EuroStar", "#eurostar"),
    ("@Eurostar", "@eurostar"),
    ("Refund*", "refund*"),
    ('"train stuck"~3', '"train stuck"~3'),
    ("a NEAR/2 b", "a NEAR/2 b"),
    ("a ONEAR/2 b", "a ONEAR/2 b"),
    ('title:"Big News"', 'title:"big news"'),
    ("LANG:en", '"lang:en"'),  # field names are lower case; this is a word
    ("lang:EN", "lang:en"),
    ('"-x"', '"-x"'),
    ('"a*"', '"a*"'),
    ('"lang:en"', '"lang:en"'),
    ('"#tag"', '"#tag"'),
    ("grève", "grève"),
    ("NOT (a OR b)", "NOT (a OR b)"),
    ("a AND (b AND c)", "a AND (b AND c)"),
]


@pytest.mark.parametrize(("query", "canonical"), CANONICAL)
def test_canonical_form(query: str, canonical: str) -> None:
    q = Query(query)
    assert str(q) == canonical
    assert Query(canonical).ast == q.ast


def test_unknown_field_is_a_word() -> None:
    q = Query("foo:bar")
    assert q(make("see foo:bar now"))
    assert not q(make("foo bar"))


def test_query_is_a_composable_filter() -> None:
    en = where(lambda p: p.lang == "en", label="english")
    q = Query("train")
    both = q & en
    assert isinstance(both, Predicate)
    assert both(make("train", lang="en"))
    assert not both(make("train", lang="de"))
    assert (en & q)(make("train", lang="en"))
    assert (q | en)(make("bus", lang="en"))
    assert (en | q)(make("train", lang="de"))
    combined = Query("train") & Query("stuck")
    assert isinstance(combined, Query)
    assert str(combined) == "train AND stuck"
    assert str(Query("a") | Query("b c")) == "a OR (b AND c)"
    assert str(~Query("a OR b")) == "NOT (a OR b)"
    assert (~Query("train"))(make("bus"))
    assert "Query('train')" in both.label


def test_equality_is_on_the_syntax_tree() -> None:
    assert Query('"Eurostar"') == Query("eurostar")
    assert hash(Query("a b")) == hash(Query("a AND b"))
    assert Query("a") != Query("b")


def test_matched_terms_annotation() -> None:
    q = Query('("eurostar" OR #eurostar OR "le shuttle") AND (delay* OR stuck) NOT job')
    post = make("Eurostar delayed, so STUCK", tags=["Eurostar"])
    assert q(post)
    annotated = q.annotate(post)
    assert annotated.annotations["matched_terms"] == ["eurostar", "#eurostar", "delay*", "stuck"]
    assert annotated.text == post.text
    # negated terms are never reported
    assert q.matched_terms(make("eurostar job")) == ["eurostar"]
    # terms already there are kept
    again = Query("so").annotate(annotated)
    assert again.annotations["matched_terms"] == [
        "eurostar",
        "#eurostar",
        "delay*",
        "stuck",
        "so",
    ]


def test_queryset_names_in_mapping_order_and_annotations() -> None:
    qs = QuerySet(
        {
            "z-last": "eurostar",
            "a-first": "#eurostar OR delay",
            "never": "nothing",
            "neg": "NOT bus",
        }
    )
    post = make("Eurostar delay", tags=["eurostar"])
    assert qs.match(post) == ["z-last", "a-first", "neg"]
    assert qs.match_indices(post) == [0, 1, 3]
    annotated = qs.annotate(post)
    assert annotated.annotations["matched"] == ["z-last", "a-first", "neg"]
    assert annotated.annotations["matched_terms"] == {
        "z-last": ["eurostar"],
        "a-first": ["#eurostar", "delay"],
        "neg": [],
    }
    assert qs(post)
    assert not qs(make("bus"))
    assert [p.annotations["matched"] for p in qs.filter([post, make("bus")])] == [
        ["z-last", "a-first", "neg"]
    ]
    assert list(qs) == ["z-last", "a-first", "never", "neg"]
    assert len(qs) == 4
    assert "4 queries" in repr(qs)


def test_queryset_syntax_error_names_the_query() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        QuerySet({"good": "a", "bad": "(a OR"})
    assert "in query 'bad'" in "\n".join(info.value.__notes__)


def test_queryset_accepts_query_objects_and_accent_modes() -> None:
    qs = QuerySet({"q": Query("uber")})
    assert qs.match(make("über")) == ["q"]
    exact = QuerySet({"q": "uber", "r": "über"}, fold_accents=False)
    assert exact.match(make("Über alles")) == ["r"]
    assert exact.match(make("uber driver")) == ["q"]
    assert not Query("cafe", fold_accents=False)(make("café"))
    assert Query("café", fold_accents=False)(make("CAFÉ"))


def test_engines() -> None:
    assert QuerySet({str(i): f"w{i}" for i in range(10)}).engine == "aho-corasick"
    assert QuerySet({"a": "x"}, engine="regex").engine == "regex"


def test_queries_without_text_terms_are_evaluated_for_every_post() -> None:
    qs = QuerySet({"neg": "NOT spam", "site": "site:example.org", "lang": "lang:de"})
    assert qs.match(make("hello", url="https://example.org/a", lang="de")) == [
        "neg",
        "site",
        "lang",
    ]
    assert qs.match(make("spam")) == []


def test_a_query_text_is_never_executed() -> None:
    # query text goes into data structures, never into generated code
    evil = 'x") or __import__("os").system("false") or ("'
    q = Query(evil)
    assert not q(make("hello"))
    assert re.search(r"\bx\b", "x")


def test_queries_pickle_for_worker_processes() -> None:
    import pickle

    q = Query("(Café OR #eurostar) delay* -job", fold_accents=False)
    again = pickle.loads(pickle.dumps(q))
    assert again == q
    assert again.fold_accents is False
    post = make("Café delayed", tags=[])
    assert again(post) is q(post) is True
    qs = QuerySet({"b": "train", "a": q}, fold_accents=False, engine="regex")
    qs2 = pickle.loads(pickle.dumps(qs))
    assert qs2.names == ("b", "a")
    assert qs2.engine == "regex"
    assert qs2.match(make("train: café delay")) == ["b", "a"]
    assert qs2.match(make("train: cafe delay")) == ["b"]
