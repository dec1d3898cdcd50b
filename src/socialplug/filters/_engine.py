"""
The matching engine behind :class:`~socialplug.filters.Query` and
:class:`~socialplug.filters.QuerySet`.

Every query is compiled to a Python function of the post's *present set*, the set of integer
ids of the atoms (terms, hashtags, mentions, field values) found in the post. A post is folded
and scanned once: with an Aho-Corasick automaton over every term of every query (pyahocorasick,
the ``query`` extra) plus a word-boundary check at each hit, or, without it, with one regular
expression per term. Only *candidate* queries are evaluated (as Lucene's Monitor and the
Elasticsearch percolator do): a query needs some *clauses*, sets of atoms of which at least one
must be present; it is indexed under the pairs of atoms of its two rarest clauses (rarity: how
many queries use an atom), so that it is a candidate only when both hold. In a set, a query's
function checks only what the index leaves open: the conjuncts other than its indexed clauses,
and not those of the form ``NOT (a OR b ...)`` either, whose atoms (when present) remove the
query from the candidates at once. A query with nothing left open (``brand AND (delay OR
stuck) NOT job``) is decided by the index and never called, and only the open candidates
are; a query with no clause (``NOT spam``, ``site:...``) is a candidate for every post.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Literal
from urllib.parse import urlsplit

from ..exceptions import MissingExtraError
from ..model import Post
from ._ast import And, Field, Near, Node, Not, Or, Slop, Term
from ._text import ScanTerm, fold


__all__ = ["Engine", "EngineKind"]

EngineKind = Literal["auto", "aho-corasick", "regex"]

_TOKEN_RE = re.compile(r"\w+")
_SET_NAME_RE = re.compile(r"\b_s(\d+)\b")
# Field atoms looked up per post (the others are evaluated as functions).
_LOOKUP_FIELDS = ("author", "lang", "platform")
_TAG_CACHE_SIZE = 65_536
_UNKNOWN: Any = object()
_Index = dict[int, tuple[tuple[int, ...], dict[int, tuple[int, ...]]]]


def _candidate_set(
    p: set[int],
    index: _Index,
    always: tuple[int, ...],
    negated: Mapping[int, frozenset[int]],
    negated_atoms: frozenset[int],
) -> set[int]:
    """
    The queries the index picks for present atoms *p* (those under an atom of *p* alone or
    a pair of atoms of *p*, and those always evaluated), less those a present atom under a
    top-level NOT excludes.
    """
    cands = set(always)
    for a in p:
        entry = index.get(a)
        if entry is not None:
            alone, pairs = entry
            if alone:
                cands.update(alone)
            if pairs:
                for b in p:
                    qs = pairs.get(b)
                    if qs is not None:
                        cands.update(qs)
    if cands and not p.isdisjoint(negated_atoms):
        for a in negated_atoms.intersection(p):
            cands -= negated[a]
    return cands


# A query is indexed under pairs of atoms (one from each of its two rarest clauses) unless
# that makes more pairs than this; then under the atoms of its rarest clause.
_MAX_PAIRS = 256


def _token_starts(text: str) -> list[int]:
    return [m.start() for m in _TOKEN_RE.finditer(text)]


def _token_range(starts: list[int], span: tuple[int, int]) -> tuple[int, int]:
    """First and last token index of an occurrence *span* (word tokens of the text)."""
    s, e = span
    first = bisect.bisect_left(starts, s)
    last = bisect.bisect_left(starts, e) - 1
    return first, max(first, last)


def _near_test(left: ScanTerm, right: ScanTerm, distance: int, *, ordered: bool) -> Any:
    def test(text: str) -> bool:
        a_spans = left.spans(text)
        b_spans = right.spans(text)
        if not a_spans or not b_spans:
            return False
        starts = _token_starts(text)
        for a in a_spans:
            a0, a1 = _token_range(starts, a)
            for b in b_spans:
                b0, b1 = _token_range(starts, b)
                if b[0] >= a[1]:  # b after a
                    gap = b0 - a1 - 1
                elif a[0] >= b[1]:  # a after b
                    if ordered:
                        continue
                    gap = a0 - b1 - 1
                else:  # overlapping occurrences
                    gap = 0
                if gap <= distance:
                    return True
        return False

    return test


def _slop_test(words: Sequence[ScanTerm], slop: int) -> Any:
    def test(text: str) -> bool:
        starts = _token_starts(text)
        ranges = []
        for w in words:
            rs = [_token_range(starts, sp) for sp in w.spans(text)]
            if not rs:
                return False
            ranges.append(rs)
        width = sum(r[0][1] - r[0][0] + 1 for r in ranges)
        for combo in itertools.islice(itertools.product(*ranges), 10_000):
            lo = min(r[0] for r in combo)
            hi = max(r[1] for r in combo)
            if hi - lo + 1 - width <= slop:
                return True
        return False

    return test


def _hosts(post: Post) -> Iterable[str]:
    for url in (post.url, *post.links):
        if url:
            try:
                host = urlsplit(url).hostname
            except ValueError:
                continue
            if host:
                yield host.lower().rstrip(".")


def _field_test(node: Field, f: Callable[[str], str]) -> Callable[[Post], bool]:
    v = f(node.value) or node.value
    if node.name == "site":
        site = v.removeprefix("www.").rstrip("/")

        def site_test(post: Post) -> bool:
            return any(h == site or h.endswith("." + site) for h in _hosts(post))

        return site_test
    if node.name == "url":

        def url_test(post: Post) -> bool:
            return any(v in f(u) for u in (post.url, *post.links) if u)

        return url_test
    # title
    rx = ScanTerm(v).regex()

    def title_test(post: Post) -> bool:
        return bool(post.title) and rx.search(f(post.title or "")) is not None

    return title_test


def _candidate(p: set[int], post: Post, t: str, /) -> bool:
    """The function of a query that is true whenever the index makes it a candidate."""
    return True


class Engine:
    """
    Compiled queries: ``match(post)`` returns the indices of the queries that match, in order.
    """

    def __init__(
        self, asts: Sequence[Node], *, engine: EngineKind = "auto", accents: bool = True
    ) -> None:
        self.asts = tuple(asts)
        self.accents = accents
        self.fold: Callable[[str], str] = partial(fold, accents=accents)
        self._atoms: dict[tuple[str, str], int] = {}
        self._display: list[str] = []
        self._scan: dict[tuple[str, bool], tuple[ScanTerm, list[int]]] = {}
        self._lookups: dict[str, dict[str, int]] = {name: {} for name in _LOOKUP_FIELDS}
        self._tags: dict[str, int] = {}
        self._term_ids: dict[Term, int] = {}
        self._tag_cache: dict[str, int | None] = {}
        self._mentions: dict[str, int] = {}
        self._sets: list[frozenset[int]] = []
        self._funcs: list[Any] = []
        sources = [self._compile(ast) for ast in self.asts]
        self._positive = [self._positive_atoms(ast, []) for ast in self.asts]
        self._all_atoms = [self._positive_atoms(ast, [], every=True) for ast in self.asts]
        rests = self._build_index()
        if len(self.asts) > 1:
            # A set evaluates a query only for candidates, so its function checks just what
            # the index left open; a query the index decides is never called: skip it.
            self._sets, self._funcs = [], []
            sources = [" and ".join(self._compile(c) for c in rest) for rest in rests]
            skip = self.exact
        else:
            # A single query is also evaluated on posts that are not candidates: all of it.
            skip = bytes(len(self.asts))
        self.fns: list[Callable[[set[int], Post, str], bool]] = self._build(sources, skip)
        self._has_lookups = any(self._lookups.values())
        self._build_scanner(engine)
        #: Return the indices of the queries matching a post, in order.
        self.match: Callable[[Post], list[int]] = self._fast_match()

    # -- compilation -----------------------------------------------------------------------
    def _atom(self, kind: str, value: str, display: str) -> int:
        key = (kind, value)
        i = self._atoms.get(key)
        if i is None:
            i = self._atoms[key] = len(self._display)
            self._display.append(display)
        return i

    def _scan_atom(self, scan: ScanTerm, kind: str, display: str) -> int:
        i = self._atom(kind, scan.text if kind != "prefix" else scan.text + "*", display)
        entry = self._scan.setdefault(scan.key, (scan, []))
        if i not in entry[1]:
            entry[1].append(i)
        return i

    def _value(self, value: str) -> str:
        return self.fold(value) or value

    def _term_atom(self, term: Term) -> int:
        i = self._term_ids.get(term)
        if i is None:
            i = self._term_ids[term] = self._new_term_atom(term)
        return i

    def _new_term_atom(self, term: Term) -> int:
        v = self._value(term.value)
        if term.kind == "text":
            return self._scan_atom(ScanTerm(v), "text", str(term))
        if term.kind == "prefix":
            return self._scan_atom(ScanTerm(v, prefix=True), "prefix", str(term))
        if term.kind == "tag":
            i = self._atom("tag", v, str(term))
            self._tags[v] = i
            return i
        # mention: "@name" in the text, or the post's mentions
        i = self._atom("mention", v, str(term))
        self._scan_atom_into(ScanTerm("@" + v), i)
        self._mentions[v] = i
        return i

    def _field_atom(self, node: Field) -> int:
        v = self._value(node.value)
        i = self._atom(node.name, v, str(node))
        self._lookups[node.name][v] = i
        return i

    def _fold_tag(self, tag: str) -> str:
        tag = tag.lstrip("#")
        return tag.lower() if tag.isascii() else self.fold(tag)

    def _scan_atom_into(self, scan: ScanTerm, i: int) -> None:
        entry = self._scan.setdefault(scan.key, (scan, []))
        if i not in entry[1]:
            entry[1].append(i)

    def _func(self, fn: Any) -> int:
        self._funcs.append(fn)
        return len(self._funcs) - 1

    def _compile(self, node: Node) -> str:
        """Return the Python expression of *node* over ``p`` (present set), ``post``, ``t``."""
        if isinstance(node, Term):
            return f"({self._term_atom(node)} in p)"
        if isinstance(node, Field):
            if node.name in _LOOKUP_FIELDS:
                return f"({self._field_atom(node)} in p)"
            return f"_g{self._func(_field_test(node, self.fold))}(post)"
        if isinstance(node, Near):
            a, b = self._term_atom(node.left), self._term_atom(node.right)
            k = self._func(
                _near_test(
                    self._scan_term(node.left),
                    self._scan_term(node.right),
                    node.distance,
                    ordered=node.ordered,
                )
            )
            return f"({a} in p and {b} in p and _g{k}(t))"
        if isinstance(node, Slop):
            ids = [self._term_atom(Term("text", w)) for w in node.words]
            words = [ScanTerm(self._value(w)) for w in node.words]
            k = self._func(_slop_test(words, node.slop))
            return "(" + " and ".join(f"{i} in p" for i in ids) + f" and _g{k}(t))"
        if isinstance(node, Not):
            child, negated = node.child, True
            while isinstance(child, Not):
                child, negated = child.child, not negated
            inner = self._compile(child)
            return f"(not {inner})" if negated else inner
        if isinstance(node, Or):
            atoms = [self._simple_atom(c) for c in node.children]
            if all(a is not None for a in atoms):
                self._sets.append(frozenset(a for a in atoms if a is not None))
                return f"(not p.isdisjoint(_s{len(self._sets) - 1}))"
            return "(" + " or ".join(self._compile(c) for c in node.children) + ")"
        return "(" + " and ".join(self._compile(c) for c in node.children) + ")"

    def _scan_term(self, term: Term) -> ScanTerm:
        return ScanTerm(self._value(term.value), prefix=term.kind == "prefix")

    def _simple_atom(self, node: Node) -> int | None:
        if isinstance(node, Term):
            return self._term_atom(node)
        if isinstance(node, Field) and node.name in _LOOKUP_FIELDS:
            return self._field_atom(node)
        return None

    def _atom_of(self, node: Term | Field) -> int:
        if isinstance(node, Term):
            return self._term_atom(node)
        return self._field_atom(node)

    def _positive_atoms(
        self, node: Node, out: list[int], *, negated: bool = False, every: bool = False
    ) -> list[int]:
        """Atoms of *node* not under a NOT (all of them with *every*)."""
        if every:
            negated = False
        if isinstance(node, Term):
            if not negated:
                out.append(self._term_atom(node))
        elif isinstance(node, Field):
            if not negated and node.name in _LOOKUP_FIELDS:
                out.append(self._atom_of(node))
        elif isinstance(node, Near):
            if not negated:
                out += [self._term_atom(node.left), self._term_atom(node.right)]
        elif isinstance(node, Slop):
            if not negated:
                out += [self._term_atom(Term("text", w)) for w in node.words]
        elif isinstance(node, Not):
            self._positive_atoms(node.child, out, negated=not negated, every=every)
        else:
            for c in node.children:
                self._positive_atoms(c, out, negated=negated, every=every)
        return list(dict.fromkeys(out))

    def _build(
        self, sources: list[str], skip: bytes
    ) -> list[Callable[[set[int], Post, str], bool]]:
        """Compile the query functions; those in *skip* become ``_candidate`` (true)."""
        lines = [
            f"def q{k}(p, post, t):\n    return {src}\n"
            for k, src in enumerate(sources)
            if not skip[k]
        ]
        names = ("_candidate" if skip[k] else f"q{k}" for k in range(len(sources)))
        lines.append("fns = [" + ", ".join(names) + "]\n")
        used = {int(k) for line in lines for k in _SET_NAME_RE.findall(line)}
        namespace: dict[str, Any] = {f"_s{k}": self._sets[k] for k in used}
        self._sets = []  # the compiled functions hold the sets they use
        namespace["_candidate"] = _candidate
        namespace.update({f"_g{k}": v for k, v in enumerate(self._funcs)})
        # The generated source holds only integers and names of this module: never query text.
        code = compile("".join(lines), "<socialplug.filters.query>", "exec")
        exec(code, namespace)  # noqa: S102
        fns: list[Callable[[set[int], Post, str], bool]] = namespace["fns"]
        return fns

    # -- candidate index ---------------------------------------------------------------------
    def _clauses(self, node: Node) -> list[frozenset[int]]:
        """Sets of atoms of which *node* needs at least one each to be true."""
        if isinstance(node, Term):
            return [frozenset((self._term_atom(node),))]
        if isinstance(node, Field):
            return [frozenset((self._field_atom(node),))] if node.name in _LOOKUP_FIELDS else []
        if isinstance(node, Near):
            return [
                frozenset((self._term_atom(node.left),)),
                frozenset((self._term_atom(node.right),)),
            ]
        if isinstance(node, Slop):
            return [frozenset((self._term_atom(Term("text", w)),)) for w in node.words]
        if isinstance(node, Not):
            return []
        subs = [self._clauses(c) for c in node.children]
        if isinstance(node, And):
            return [c for sub in subs for c in sub]
        if any(not sub for sub in subs):
            return []
        return [frozenset().union(*(min(sub, key=self._cost) for sub in subs))]

    def _cost(self, clause: frozenset[int]) -> tuple[int, int]:
        """How often a clause is expected to hold: atoms used by many queries are common."""
        df = self._df
        return (sum(df.get(a, 0) for a in clause), len(clause))

    def _build_index(self) -> list[list[Node]]:
        """Index the queries; return what the index leaves open per query (:meth:`_open`)."""
        df: dict[int, int] = {}
        for q in range(len(self.asts)):
            for a in set(self._all_atoms[q]):
                df[a] = df.get(a, 0) + 1
        self._df = df
        single: dict[int, list[int]] = {}
        pairs: dict[int, dict[int, list[int]]] = {}
        always: list[int] = []
        indexed: list[tuple[frozenset[int], ...]] = []  # the clauses a candidate has
        for q, ast in enumerate(self.asts):
            clauses = sorted(set(self._clauses(ast)), key=self._cost)
            if not clauses:
                always.append(q)
                indexed.append(())
            elif len(clauses) == 1 or len(clauses[0]) * len(clauses[1]) > _MAX_PAIRS:
                for a in clauses[0]:
                    single.setdefault(a, []).append(q)
                indexed.append((clauses[0],))
            else:
                indexed.append((clauses[0], clauses[1]))
                for a in clauses[0]:
                    by_b = pairs.setdefault(a, {})
                    for b in clauses[1]:
                        by_b.setdefault(b, []).append(q)
        #: atom -> (queries indexed under it alone, {second atom: queries indexed under both})
        self.index: dict[int, tuple[tuple[int, ...], dict[int, tuple[int, ...]]]] = {
            a: (
                tuple(single.get(a, ())),
                {b: tuple(qs) for b, qs in pairs.get(a, {}).items()},
            )
            for a in sorted({*single, *pairs})
        }
        self.always = tuple(always)
        # What the index leaves open per query: the conjuncts it does not decide, and the
        # atoms under a top-level NOT, which exclude a candidate when present.
        negated: dict[int, set[int]] = {}
        rests: list[list[Node]] = []
        for q, ast in enumerate(self.asts):
            rest, neg = self._open(ast, indexed[q])
            rests.append(rest)
            for a in neg:
                negated.setdefault(a, set()).add(q)
        self.negated = {a: frozenset(qs) for a, qs in negated.items()}
        self.negated_atoms = frozenset(negated)
        self.exact = bytes(not rest for rest in rests)
        return rests

    def _atom_only(self, node: Node) -> bool:
        if isinstance(node, Term):
            return True
        if isinstance(node, Field):
            return node.name in _LOOKUP_FIELDS
        if isinstance(node, Or):
            return all(self._atom_only(c) for c in node.children)
        return False

    def _open(
        self, ast: Node, indexed: tuple[frozenset[int], ...]
    ) -> tuple[list[Node], frozenset[int]]:
        """
        Split query *ast* for a candidate that has the *indexed* clauses: return the
        conjuncts still to check, and the atoms of the conjuncts ``NOT (a OR b ...)`` (not in
        the list), any of which present makes the query false.
        """
        conjuncts: list[Node] = []
        stack = [ast]
        while stack:
            node = stack.pop()
            if isinstance(node, And):
                stack.extend(reversed(node.children))
            else:
                conjuncts.append(node)
        rest: list[Node] = []
        neg: set[int] = set()
        for node in conjuncts:
            if self._atom_only(node) and self._clauses(node)[0] in indexed:
                continue  # the index guarantees it
            if isinstance(node, Not) and self._atom_only(node.child):
                neg |= self._clauses(node.child)[0]
                continue
            rest.append(node)
        return rest, frozenset(neg)

    # -- scanning ----------------------------------------------------------------------------
    def _build_scanner(self, engine: EngineKind) -> None:
        self.engine: Literal["aho-corasick", "regex"]
        use_ac = engine == "aho-corasick"
        if engine == "auto":
            try:
                import ahocorasick  # noqa: F401, PLC0415
            except ImportError:
                use_ac = False
            else:
                use_ac = len(self._scan) > 2
        if use_ac:
            self._scan_text = self._ac_scanner()
            self.engine = "aho-corasick"
        else:
            self._scan_text = self._regex_scanner()
            self.engine = "regex"

    def _ac_scanner(self) -> Callable[[str, set[int]], None]:
        try:
            import ahocorasick  # noqa: PLC0415
        except ImportError as exc:
            raise MissingExtraError("pyahocorasick", extra="query") from exc
        by_text: dict[str, list[tuple[bool, bool, tuple[int, ...]]]] = {}
        for term, atom_ids in self._scan.values():
            by_text.setdefault(term.text, []).append((term.left, term.right, tuple(atom_ids)))
        automaton = ahocorasick.Automaton()
        for key, entries in by_text.items():
            left, right, ids = entries[0]
            if len(entries) == 1 and left and right and len(ids) == 1:
                value: tuple[int, Any] = (len(key) - 1, ids[0])  # the common case
            else:
                value = (len(key) - 1, tuple(entries))
            automaton.add_word(key, value)
        if not by_text:

            def scan_nothing(text: str, p: set[int]) -> None:
                return None

            return scan_nothing
        automaton.make_automaton()
        iterate = automaton.iter

        def scan(text: str, p: set[int]) -> None:
            last = len(text) - 1
            add = p.add
            for end, (off, x) in iterate(text):
                s = end - off
                if x.__class__ is int:
                    # both edges need a boundary: most false hits fail the first test
                    if s and ((c := text[s - 1]).isalnum() or c == "_"):
                        continue
                    if end != last and ((c := text[end + 1]).isalnum() or c == "_"):
                        continue
                    add(x)
                    continue
                lok = not s or not ((c := text[s - 1]).isalnum() or c == "_")
                rok = end == last or not ((c := text[end + 1]).isalnum() or c == "_")
                for left, right, ids in x:
                    if (lok or not left) and (rok or not right):
                        p.update(ids)

        return scan

    def _regex_scanner(self) -> Callable[[str, set[int]], None]:
        searches = [(term.regex().search, tuple(ids)) for term, ids in self._scan.values()]

        def scan(text: str, p: set[int]) -> None:
            for search, ids in searches:
                if search(text) is not None:
                    p.update(ids)

        return scan

    # -- matching ----------------------------------------------------------------------------
    def present(self, post: Post, text: str) -> set[int]:
        """Return the atoms present in *post*, whose folded text is *text*."""
        p: set[int] = set()
        self._scan_text(text, p)
        tags = self._tags
        if tags and post.tags:
            cache = self._tag_cache
            for tag in post.tags:
                i = cache.get(tag, _UNKNOWN)
                if i is _UNKNOWN:
                    if len(cache) >= _TAG_CACHE_SIZE:
                        cache.clear()
                    i = cache[tag] = tags.get(self._fold_tag(tag))
                if i is not None:
                    p.add(i)
        if self._mentions and post.mentions:
            for m in post.mentions:
                name = self._fold_tag(m.lstrip("@"))
                i = self._mentions.get(name)
                if i is None:
                    i = self._mentions.get(name.partition("@")[0])
                if i is not None:
                    p.add(i)
        if self._has_lookups:
            self._lookup_fields(post, p)
        return p

    def _lookup_fields(self, post: Post, p: set[int]) -> None:
        lookups = self._lookups
        if lookups["platform"]:
            i = lookups["platform"].get(post.platform.lower())
            if i is not None:
                p.add(i)
        if lookups["lang"]:
            lang = post.lang or post.annotations.get("lang")
            if isinstance(lang, str) and lang:
                lang = lang.lower().replace("_", "-")
                for key in (lang, lang.partition("-")[0]):
                    i = lookups["lang"].get(key)
                    if i is not None:
                        p.add(i)
        if lookups["author"]:
            author = post.author
            handle = self.fold(author.handle.lstrip("@"))
            for key in (handle, handle.partition("@")[0], self.fold(author.id)):
                i = lookups["author"].get(key)
                if i is not None:
                    p.add(i)

    def candidates(self, p: set[int]) -> list[int]:
        """Return the indices of the queries worth evaluating for present set *p*, sorted."""
        return sorted(_candidate_set(p, self.index, self.always, self.negated, self.negated_atoms))

    def _generic_match(self, post: Post) -> list[int]:
        text = self.fold(post.text)
        p = self.present(post, text)
        fns, exact = self.fns, self.exact
        return [q for q in self.candidates(p) if exact[q] or fns[q](p, post, text)]

    def _fast_match(self) -> Callable[[Post], list[int]]:
        """
        :meth:`match` as one closure over local names (the hot path of percolation): fold,
        scan, hashtags, candidates, evaluation. Field lookups and mentions use
        :meth:`present`.
        """
        if self._has_lookups or self._mentions or self.engine != "aho-corasick":
            return self._generic_match
        fold_text, scan = self.fold, self._scan_text
        tags, cache, fold_tag = self._tags, self._tag_cache, self._fold_tag
        index, always, fns = self.index, self.always, self.fns
        negated, negated_atoms = self.negated, self.negated_atoms
        undecided = frozenset(q for q, x in enumerate(self.exact) if not x)
        unknown, cache_size = _UNKNOWN, _TAG_CACHE_SIZE
        candidate_set = _candidate_set

        def match(post: Post) -> list[int]:
            text = fold_text(post.text)
            p: set[int] = set()
            scan(text, p)
            if tags and post.tags:
                for tag in post.tags:
                    i = cache.get(tag, unknown)
                    if i is unknown:
                        if len(cache) >= cache_size:
                            cache.clear()
                        i = cache[tag] = tags.get(fold_tag(tag))
                    if i is not None:
                        p.add(i)
            if not p and not always:
                return []
            cands = candidate_set(p, index, always, negated, negated_atoms)
            if not cands:
                return []
            # most candidates are decided by the index: call the functions of the others only
            for q in cands.intersection(undecided):
                if not fns[q](p, post, text):
                    cands.discard(q)
            return sorted(cands)

        return match

    def matched_terms(self, p: set[int], q: int) -> list[str]:
        """Return the positive terms of query *q* present in *p*, as written in the query."""
        display = self._display
        return [display[a] for a in self._positive[q] if a in p]
