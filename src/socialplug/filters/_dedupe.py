"""
Dedupe: drop posts already seen (exact key, canonical URI, normalized text, near-duplicate
text), in memory and, when bound to a state store, across restarts and processes.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from ..clock import Clock, SystemClock
from ..exceptions import ConfigurationError
from ..model import Post
from ..typing import StateStore
from ._text import fold
from ._urls import canonicalize_url


__all__ = ["Dedupe", "minhash", "similarity"]

_TOKEN_RE = re.compile(r"\w+")


_BINS = 32
_ROWS = 4  # bins per LSH band: 8 bands
_EMPTY_BIN = 1 << 64


def _feature_hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest())


def minhash(text: str, /) -> tuple[int, ...]:
    """
    Return the MinHash signature of *text*: 32 values over its word bigrams (folded text),
    one-permutation hashing with rotation densification, stable across processes.

    The share of equal values of two signatures estimates the Jaccard similarity of the two
    texts' bigram sets (:func:`similarity`).
    """
    tokens = _TOKEN_RE.findall(fold(text))
    features = {f"{a} {b}" for a, b in itertools.pairwise(tokens)} or set(tokens)
    bins = [_EMPTY_BIN] * _BINS
    for feature in features:
        h = _feature_hash(feature)
        b, v = h % _BINS, h // _BINS
        bins[b] = min(bins[b], v)
    if _EMPTY_BIN in bins and any(v != _EMPTY_BIN for v in bins):
        filled = list(bins)
        for i, v in enumerate(bins):
            if v == _EMPTY_BIN:
                j = 1
                while bins[(i + j) % _BINS] == _EMPTY_BIN:
                    j += 1
                filled[i] = bins[(i + j) % _BINS] + j * (1 << 59)
        bins = filled
    return tuple(bins)


def similarity(a: tuple[int, ...], b: tuple[int, ...], /) -> float:
    """Estimated Jaccard similarity of two :func:`minhash` signatures."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / _BINS


def _effective_text(post: Post) -> str:
    if post.text:
        return post.text
    if post.repost_of is not None:
        return post.repost_of.text
    return ""


@attrs.define(eq=False)
class Dedupe:
    """
    Drops duplicates; the first post seen is kept.

    Checks, each optional:

    - *exact*: the post's ``key`` and its canonical URL (the same item through another
      server or a tracking link);
    - *text*: a 128-bit digest of the folded text (reposts and cross-posts; a repost without
      text of its own uses the reposted text);
    - *near*: texts whose word-bigram sets have an estimated Jaccard similarity of at least
      *near* (MinHash with locality-sensitive hashing; edited copies), for texts of at least
      *min_tokens* words.

    Memory holds a bounded window (*max_entries* per check, each kept for *ttl* seconds).

    As a **filter** (``Dedupe(...)(post) -> bool``) it decides from memory alone: fast and
    synchronous. To hold across restarts and processes, bind a state store: :meth:`bind`
    loads the near-duplicate signatures, :meth:`filter` (async, per page) also asks the store
    which keys other runs saw, and :meth:`flush` writes what this process saw (``mark_seen``
    with the TTL for keys, records of namespace ``dedupe:<name>`` for signatures).

    Call :meth:`flush` once a page's cursor is committed: what was seen is then persisted only
    for posts that were handled, so a crash before the commit re-reads the page and lets its
    posts through again (at-least-once; sinks' delivery keys absorb the repeat).

    Args:
        name: Namespace of the stored state.
        exact, text: Enable those checks.
        near: Jaccard similarity threshold for near-duplicates (``None``: off; 0.7 catches
            small edits of a short post).
        ttl: Seconds a seen post is remembered (``None``: forever).
        max_entries: Bound of the memory window per check.
        min_tokens: Shorter texts are not near-deduplicated.
        clock: Time source (inject a ManualClock in tests).
    """

    name: str = "dedupe"
    exact: bool = True
    text: bool = True
    near: float | None = None
    ttl: float | None = 7 * 24 * 3600.0
    max_entries: int = 100_000
    min_tokens: int = 6
    clock: Clock = attrs.field(factory=SystemClock, repr=False)
    _keys: OrderedDict[str, float | None] = attrs.field(
        factory=OrderedDict, init=False, repr=False
    )
    _sigs: OrderedDict[tuple[int, ...], float | None] = attrs.field(
        factory=OrderedDict, init=False, repr=False
    )
    _bands: dict[tuple[int, tuple[int, ...]], set[tuple[int, ...]]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _pending_keys: list[str] = attrs.field(factory=list, init=False, repr=False)
    _pending_sigs: list[tuple[int, ...]] = attrs.field(factory=list, init=False, repr=False)
    _store: StateStore | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not (self.exact or self.text or self.near is not None):
            raise ConfigurationError("Dedupe: enable at least one of exact, text, near")
        if self.near is not None and not 0.0 < self.near <= 1.0:
            raise ConfigurationError("Dedupe: near is a similarity in (0, 1]")

    @property
    def label(self) -> str:
        """Name in reports."""
        return f"dedupe({self.name})"

    @property
    def namespace(self) -> str:
        """The state-store namespace of this dedupe's records and seen keys."""
        return f"dedupe:{self.name}"

    # -- keys and signatures -------------------------------------------------------------
    def keys(self, post: Post, /) -> list[str]:
        """Return the exact and text keys of *post* (namespaced, as stored)."""
        ns = self.namespace
        out: list[str] = []
        if self.exact:
            out.append(f"{ns}:k:{post.key}")
            if post.url:
                out.append(f"{ns}:u:{canonicalize_url(post.url)}")
        if self.text:
            text = fold(_effective_text(post))
            if text:
                digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
                out.append(f"{ns}:t:{digest}")
        return out

    def _signature(self, post: Post) -> tuple[int, ...] | None:
        if self.near is None:
            return None
        text = _effective_text(post)
        if len(_TOKEN_RE.findall(text)) < self.min_tokens:
            return None
        return minhash(text)

    # -- memory window ---------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _expires(self) -> float | None:
        return None if self.ttl is None else self._now() + self.ttl

    def _known_key(self, key: str, now: float) -> bool:
        expires = self._keys.get(key, 0.0)
        if expires == 0.0:
            return False
        if expires is not None and expires <= now:
            del self._keys[key]
            return False
        return True

    def _bands_of(self, sig: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        return [(b, sig[b : b + _ROWS]) for b in range(0, _BINS, _ROWS)]

    def _near_known(self, sig: tuple[int, ...], now: float) -> bool:
        assert self.near is not None
        checked: set[tuple[int, ...]] = set()
        for band in self._bands_of(sig):
            for other in self._bands.get(band, ()):
                if other in checked:
                    continue
                checked.add(other)
                if similarity(sig, other) >= self.near:
                    expires = self._sigs.get(other)
                    if expires is None or expires > now:
                        return True
        return False

    def _remember_key(self, key: str, expires: float | None) -> None:
        self._keys[key] = expires
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_entries:
            self._keys.popitem(last=False)

    def _remember_sig(self, sig: tuple[int, ...], expires: float | None) -> None:
        self._sigs[sig] = expires
        self._sigs.move_to_end(sig)
        for band in self._bands_of(sig):
            self._bands.setdefault(band, set()).add(sig)
        while len(self._sigs) > self.max_entries:
            old, _ = self._sigs.popitem(last=False)
            for band in self._bands_of(old):
                members = self._bands.get(band)
                if members is not None:
                    members.discard(old)
                    if not members:
                        del self._bands[band]

    def _decide(self, post: Post, keys: list[str], stored: set[str]) -> bool:
        now = self._now()
        sig = self._signature(post)
        duplicate = any(k in stored or self._known_key(k, now) for k in keys) or (
            sig is not None and self._near_known(sig, now)
        )
        # remember every key of a duplicate too: a later copy matching only one of them
        # (another URL of the same text) is still recognised
        expires = self._expires()
        for k in keys:
            if k not in self._keys:
                self._pending_keys.append(k)
            self._remember_key(k, expires)
        if sig is not None and not duplicate:
            self._remember_sig(sig, expires)
            self._pending_sigs.append(sig)
        return not duplicate

    # -- the filter --------------------------------------------------------------------------
    def __call__(self, post: Post, /) -> bool:
        """Return ``False`` if *post* duplicates one seen before (memory only)."""
        return self._decide(post, self.keys(post), set())

    # -- persistence -------------------------------------------------------------------------
    async def bind(self, store: StateStore, /) -> None:
        """Use *store* from now on and load the near-duplicate signatures it holds."""
        self._store = store
        if self.near is None:
            return
        records: dict[str, Any] = await store.records(self.namespace)
        now = self._now()
        for value in records.values():
            if not isinstance(value, dict) or not isinstance(value.get("sig"), list):
                continue
            expires = value.get("expires")
            if expires is not None and expires <= now:
                continue
            self._remember_sig(tuple(int(v) for v in value["sig"]), expires)

    async def filter(self, posts: Sequence[Post], /, *, flush: bool = True) -> list[Post]:
        """
        Return the posts of *posts* that are not duplicates, asking the bound store (if any)
        about keys this process has not seen; then :meth:`flush` unless told not to (pass
        ``flush=False`` and flush after the page is committed for at-least-once).
        """
        all_keys = [self.keys(p) for p in posts]
        stored: set[str] = set()
        if self._store is not None:
            now = self._now()
            unknown = [k for ks in all_keys for k in ks if not self._known_key(k, now)]
            if unknown:
                stored = await self._store.seen(list(dict.fromkeys(unknown)))
        kept = [p for p, ks in zip(posts, all_keys, strict=True) if self._decide(p, ks, stored)]
        if flush:
            await self.flush()
        return kept

    async def flush(self) -> None:
        """Write the keys and signatures seen since the last flush to the bound store."""
        store = self._store
        if store is None:
            self._pending_keys.clear()
            self._pending_sigs.clear()
            return
        keys, self._pending_keys = self._pending_keys, []
        sigs, self._pending_sigs = self._pending_sigs, []
        if keys:
            await store.mark_seen(keys, ttl=self.ttl)
        expires = self._expires()
        for sig in sigs:
            await store.put_record(
                self.namespace,
                hashlib.blake2b(repr(sig).encode(), digest_size=16).hexdigest(),
                {"sig": list(sig), "expires": expires},
                ttl=self.ttl,
            )
