from __future__ import annotations

import pytest

from socialplug.testing import Recorded, Reply, make_post, serve
from socialplug.transforms import HttpSentimentModel, Sentiment, Vader


@pytest.mark.anyio
async def test_vader_in_english() -> None:
    s = Sentiment()
    good = await s(make_post(text="I love the new app, great job!", lang="en"))
    bad = await s(make_post(text="Terrible service, I hate this awful delay", lang="en"))
    flat = await s(make_post(text="The train leaves at nine", lang="en"))
    assert good.annotations["sentiment"]["label"] == "positive"
    assert bad.annotations["sentiment"]["label"] == "negative"
    assert flat.annotations["sentiment"] == {"score": 0.0, "label": "neutral"}
    other = await s(make_post(text="Der Zug ist wieder zu spät", lang="de"))
    assert other.annotations["sentiment_skipped"] == "language"
    assert "sentiment" not in other.annotations


class CountingModel:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, text: str, lang: str | None, /) -> float | None:
        self.texts.append(text)
        return 0.5


@pytest.mark.anyio
async def test_cache_and_budget() -> None:
    model = CountingModel()
    s = Sentiment(model=model, budget=2)
    a = await s(make_post(text="Nice one"))
    b = await s(make_post(text="nice  ONE"))  # same folded text: cached
    c = await s(make_post(text="another"))
    d = await s(make_post(text="third"))
    assert model.texts == ["Nice one", "another"]
    assert a.annotations["sentiment"]["label"] == "positive"
    assert b.annotations["sentiment"] == a.annotations["sentiment"]
    assert c.annotations["sentiment"]["score"] == 0.5
    assert d.annotations["sentiment_skipped"] == "budget"
    e = await s(make_post(text="nice one"))  # cache hits stay free after the budget
    assert e.annotations["sentiment"]["score"] == 0.5


@pytest.mark.anyio
async def test_http_model_over_a_real_socket() -> None:
    def score(request: Recorded) -> Reply:
        body = request.json()
        assert request.headers["Authorization"] == "Bearer s3cret-token"
        return Reply(json={"score": -0.9 if "bad" in body["text"] else 2.0})

    with serve(
        {
            "POST /score": score,
            "POST /slow": Reply(json={"score": 1}, delay=1.5),
            "POST /broken": Reply(status=500),
            "POST /weird": Reply(json={"nope": 1}),
        }
    ) as server:
        model = HttpSentimentModel(
            f"{server.url}/score", headers={"Authorization": "Bearer s3cret-token"}
        )
        assert "s3cret" not in repr(model)
        try:
            s = Sentiment(model=model)
            bad = await s(make_post(text="bad bad", lang="fr"))
            good = await s(make_post(text="fine"))
            assert bad.annotations["sentiment"] == {"score": -0.9, "label": "negative"}
            assert good.annotations["sentiment"] == {"score": 1.0, "label": "positive"}
            assert server.requests[0].json() == {"text": "bad bad", "lang": "fr"}
        finally:
            await model.aclose()
        for path, why in (("slow", "timeout"), ("broken", "error"), ("weird", "error")):
            m = HttpSentimentModel(f"{server.url}/{path}")
            try:
                out = await Sentiment(model=m, timeout=0.3)(make_post(text="x"))
            finally:
                await m.aclose()
            assert out.annotations["sentiment_skipped"] == why


def test_vader_languages() -> None:
    assert Vader(languages=("en", "es")).languages == ("en", "es")
