"""
Sentiment: one interface for VADER (English, the ``sentiment`` extra), multilingual models
and HTTP endpoints (an LLM behind a small service), with caching, a per-item timeout and a
budget.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import attrs

from ..exceptions import MissingExtraError, SocialplugError
from ..filters._text import fold
from ..model import Post


if TYPE_CHECKING:
    import httpx

__all__ = ["HttpSentimentModel", "Sentiment", "SentimentError", "SentimentModel", "Vader"]


class SentimentError(SocialplugError):
    """A sentiment model failed on one text (the post goes on without sentiment)."""


class SentimentModel(Protocol):
    """
    **Protocol:** scores a text from -1 (negative) to 1 (positive); ``None`` when it cannot
    (a language it does not know).
    """

    async def __call__(self, text: str, lang: str | None, /) -> float | None:
        """Return the score of *text* (in language *lang*, if known)."""
        ...


@attrs.define(eq=False)
class Vader:
    """
    VADER (``vaderSentiment``): English only; the compound score. Runs in a worker thread.

    Args:
        languages: Languages to score (posts of unknown language are scored too).

    Raises:
        MissingExtraError: vaderSentiment is not installed (``socialplug[sentiment]``).
    """

    languages: tuple[str, ...] = ("en",)
    _analyzer: Any = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import (  # noqa: PLC0415
                SentimentIntensityAnalyzer,
            )
        except ImportError as exc:
            raise MissingExtraError("vaderSentiment", extra="sentiment") from exc
        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, text: str, /) -> float:
        """Score *text* synchronously."""
        return float(self._analyzer.polarity_scores(text)["compound"])

    async def __call__(self, text: str, lang: str | None, /) -> float | None:
        """Return the compound score, or ``None`` for other languages."""
        if lang is not None and lang.partition("-")[0] not in self.languages:
            return None
        return await anyio.to_thread.run_sync(self.score, text)


@attrs.define(eq=False)
class HttpSentimentModel:
    """
    A model behind an HTTP endpoint: ``POST url`` with ``{"text": ..., "lang": ...}``,
    answering ``{"score": float | null}``. Wrap a multilingual model or an LLM this way.

    Args:
        url: The endpoint.
        client: The HTTP client; one is created (and closed by :meth:`aclose`) if not given.
        headers: Extra headers (an API key: kept out of reprs).
    """

    url: str
    client: httpx.AsyncClient | None = attrs.field(default=None, repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    _own: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)

    def _client(self) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        if self._own is None:
            import httpx  # noqa: PLC0415 (kept out of ``import socialplug``)

            self._own = httpx.AsyncClient()
        return self._own

    async def aclose(self) -> None:
        """Close the client this model created, if any (idempotent)."""
        own, self._own = self._own, None
        if own is not None:
            await own.aclose()

    async def __call__(self, text: str, lang: str | None, /) -> float | None:
        """Ask the endpoint."""
        import httpx  # noqa: PLC0415

        try:
            response = await self._client().post(
                self.url, json={"text": text, "lang": lang}, headers=dict(self.headers)
            )
            response.raise_for_status()
            score = response.json()["score"]
        except httpx.HTTPStatusError as exc:
            msg = f"sentiment endpoint answered HTTP {exc.response.status_code}"
            raise SentimentError(msg) from exc
        except httpx.HTTPError as exc:
            raise SentimentError(f"sentiment endpoint failed: {type(exc).__name__}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise SentimentError(
                "sentiment endpoint answered something else than a score"
            ) from exc
        if score is None:
            return None
        if not isinstance(score, int | float):
            raise SentimentError("sentiment endpoint answered a non-numeric score")
        return max(-1.0, min(1.0, float(score)))


@attrs.define(eq=False)
class Sentiment:
    """
    A transform writing ``annotations["sentiment"] = {"score": s, "label": ...}`` with
    label ``"positive"``, ``"negative"`` or ``"neutral"``.

    When the model gives no score, times out, fails, or the budget is spent, the post goes
    on without sentiment and ``annotations["sentiment_skipped"]`` says why (``"language"``,
    ``"timeout"``, ``"error"``, ``"budget"``).

    Args:
        model: The model; :class:`Vader` by default.
        timeout: Seconds per post.
        budget: Model calls allowed for the life of this transform (cache hits are free);
            ``None``: unlimited.
        cache_size: Scores remembered by folded text and language.
        positive, negative: Thresholds of the labels.
    """

    model: SentimentModel | None = None
    timeout: float = 5.0
    budget: int | None = None
    cache_size: int = 10_000
    positive: float = 0.05
    negative: float = -0.05
    calls: int = attrs.field(default=0, init=False)
    _cache: OrderedDict[tuple[str, str | None], float | None] = attrs.field(
        factory=OrderedDict, init=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if self.model is None:
            self.model = Vader()

    def label(self, score: float, /) -> str:
        """Return the label of *score*."""
        if score >= self.positive:
            return "positive"
        if score <= self.negative:
            return "negative"
        return "neutral"

    async def __call__(self, post: Post, /) -> Post:
        """Return *post* with its sentiment annotated."""
        lang = post.lang or post.annotations.get("lang")
        lang = lang.lower() if isinstance(lang, str) else None
        key = (fold(post.text), lang)
        if key in self._cache:
            self._cache.move_to_end(key)
            score = self._cache[key]
        else:
            if self.budget is not None and self.calls >= self.budget:
                return post.annotate(sentiment_skipped="budget")
            self.calls += 1
            assert self.model is not None
            try:
                with anyio.fail_after(self.timeout):
                    score = await self.model(post.text, lang)
            except TimeoutError:
                return post.annotate(sentiment_skipped="timeout")
            except SentimentError:
                return post.annotate(sentiment_skipped="error")
            self._cache[key] = score
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if score is None:
            return post.annotate(sentiment_skipped="language")
        return post.annotate(sentiment={"score": round(score, 4), "label": self.label(score)})
