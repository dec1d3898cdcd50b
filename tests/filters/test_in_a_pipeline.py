"""Query, QuerySet, Dedupe and the transforms inside a real pipeline run."""

from __future__ import annotations

from socialplug import Pipeline
from socialplug.filters import Dedupe, Query, QuerySet, language
from socialplug.sync import run_once
from socialplug.testing import CollectingSink, StaticSource, make_post
from socialplug.transforms import CanonicalizeUrls, Gazetteer


def test_pipeline_with_queries_dedupe_and_enrichment() -> None:
    posts = [
        make_post(
            id="1",
            text="Eurostar stuck near Lille",
            lang="en",
            links=["https://x.io/?utm_source=a"],
        ),
        make_post(id="1", text="Eurostar stuck near Lille", lang="en"),  # re-delivery
        make_post(id="2", text="EUROSTAR stuck near  Lille", lang="en"),  # same text
        make_post(id="3", text="Eurostar job: we are hiring", lang="en"),
        make_post(id="4", text="Le Shuttle en retard à Calais", lang="fr"),
        make_post(id="5", text="Le Shuttle delayed at Calais", lang="en"),
    ]
    rules = QuerySet(
        {
            "support": '(eurostar OR "le shuttle") AND (stuck OR delay* OR retard) -job',
            "places": "lille OR calais",
        }
    )
    sink = CollectingSink()
    pipeline = Pipeline(
        sources=[StaticSource(posts, page_size=2)],
        filters=[Query('eurostar OR #eurostar OR "le shuttle"') & language("en"), Dedupe()],
        transforms=[rules.annotate, Gazetteer({"place": ["Lille", "Calais"]}), CanonicalizeUrls()],
        router=lambda item: item.annotations["matched"],
        sinks={"support": sink, "places": CollectingSink()},
    )
    report = run_once(pipeline)
    delivered = sink.posts
    assert [p.id for p in delivered] == ["1", "5"]
    first = delivered[0]
    assert first.annotations["matched"] == ["support", "places"]
    assert first.annotations["matched_terms"]["support"] == ["eurostar", "stuck"]
    assert first.annotations["entities"] == {"place": ["Lille"]}
    assert first.annotations["urls"] == ["https://x.io/"]
    assert report.filtered == 3  # a re-delivery, a copy, a French post
    assert report.unrouted == 1  # the job ad: no rule
