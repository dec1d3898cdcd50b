"""
Key functions and the reading of sentiment annotations.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialplug.alerting import by_matched, by_route, everything, sentiment_of
from socialplug.model import Post


def annotated(**annotations) -> Post:
    return Post(platform="x", id="1", created_at=datetime(2026, 3, 2, tzinfo=UTC)).annotate(
        **annotations
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("negative", "negative", id="label"),
        pytest.param("NEG", "negative", id="short-label"),
        pytest.param("Positive", "positive", id="capitalised"),
        pytest.param("neutral", "neutral", id="neutral"),
        pytest.param(-0.4, "negative", id="score-negative"),
        pytest.param(0.02, "neutral", id="score-near-zero"),
        pytest.param(0.7, "positive", id="score-positive"),
        pytest.param({"label": "negative", "score": 0.9}, "negative", id="mapping-label"),
        pytest.param({"score": -0.9}, "negative", id="mapping-score"),
        pytest.param(True, None, id="bool-is-not-a-score"),
        pytest.param("", None, id="empty"),
        pytest.param([1], None, id="unknown-shape"),
    ],
)
def test_sentiment_of_reads_labels_scores_and_mappings(value, expected):
    """Labels, scores and mappings all read as negative, neutral or positive."""
    assert sentiment_of(annotated(sentiment=value)) == expected


def test_no_sentiment_is_none():
    """A post without the annotation has no sentiment."""
    assert sentiment_of(annotated()) is None


def test_key_functions():
    """Routes and matched queries as keys, one string or many; everything is one group."""
    post = annotated(routes=["support", "ops"], matched="tunnel")

    assert by_route(post) == ("support", "ops")
    assert by_matched(post) == ("tunnel",)
    assert everything(post) == "all"
    assert by_route(annotated()) == ()
    assert by_matched(annotated()) == ()
