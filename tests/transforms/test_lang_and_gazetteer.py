from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from socialplug.exceptions import ConfigurationError, MissingExtraError
from socialplug.filters import QuerySet
from socialplug.testing import make_post
from socialplug.transforms import DetectLanguage, Gazetteer, Vader


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The train to Paris has been delayed again this morning", "en"),
        ("Der Zug nach Berlin hat schon wieder zwei Stunden Verspätung", "de"),
        ("Le train pour Lyon est encore en retard ce matin, quelle galère", "fr"),
        ("El tren a Madrid vuelve a llegar tarde esta mañana", "es"),
    ],
)
async def test_detects_language(text: str, lang: str) -> None:
    detect = DetectLanguage(languages=("en", "de", "fr", "es"))
    out = await detect(make_post(text=text, lang=None))
    assert out.annotations["lang"] == lang
    assert out.annotations["lang_confidence"] > 0.5


@pytest.mark.anyio
async def test_keeps_the_post_tag_unless_overwrite() -> None:
    post = make_post(text="Der Zug nach Berlin hat wieder Verspätung", lang="EN")
    kept = await DetectLanguage(languages=("en", "de"))(post)
    assert kept.annotations == {"lang": "en", "lang_confidence": 1.0}
    redone = await DetectLanguage(languages=("en", "de"), overwrite=True)(post)
    assert redone.annotations["lang"] == "de"
    short = await DetectLanguage(languages=("en", "de"))(make_post(text="ok", lang=None))
    assert short.annotations["lang"] is None


def test_language_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        DetectLanguage(languages=("en",)).detect("some text long enough here")
    with pytest.raises(ConfigurationError):
        DetectLanguage(languages=("en", "xx")).detect("some text long enough here")


def test_gazetteer() -> None:
    g = Gazetteer(
        {
            "product": {"iPhone 15": ["iphone15", "i-phone 15"], "Pixel 8": []},
            "place": ["London", "São Paulo", "東京"],
            "person": ["Jane Doe"],
        }
    )
    post = make_post(
        title="Launch in Sao Paulo",
        text="Queues for the IPHONE15 in london and 東京駅; jane doe, pixel 8a fans, iphone 15",
    )
    out = g(post)
    assert out.annotations["entities"] == {
        "product": ["iPhone 15"],
        "place": ["London", "São Paulo", "東京"],
        "person": ["Jane Doe"],
    }
    assert g(make_post(text="nothing here")).annotations["entities"] == {}
    assert "names" in repr(g)
    with pytest.raises(ConfigurationError):
        Gazetteer({"place": ["  "]})


def _vader() -> object:
    return Vader()


def _aho() -> object:
    return QuerySet({"a": "x"}, engine="aho-corasick")


@pytest.mark.parametrize(
    ("module", "build", "extra"),
    [
        ("lingua", DetectLanguage, "lang"),
        ("vaderSentiment.vaderSentiment", _vader, "sentiment"),
        ("ahocorasick", _aho, "query"),
    ],
)
def test_missing_extras_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, build: Callable[[], object], extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as info:
        build()
    assert f"socialplug[{extra}]" in str(info.value)
