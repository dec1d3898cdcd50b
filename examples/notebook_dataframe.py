"""
A day of rail-company mentions as a pandas DataFrame: volume per hour and a sentiment split,
plotted to PNG files. Each ``# %%`` is a notebook cell (VS Code, PyCharm, Jupytext); as a
script it runs top to bottom, offline. Needs ``socialplug[pandas,sentiment]`` and matplotlib
(without VADER a small keyword lexicon stands in).

    python examples/notebook_dataframe.py
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import matplotlib

from socialplug import Pipeline, Post
from socialplug.sinks.dataframe import DataFrameSink
from socialplug.sources import JSONLSource
from socialplug.sync import run_once
from socialplug.transforms import Sentiment


matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt


DATA = Path(__file__).parent / "data" / "rail_mentions.jsonl"
GOOD = {"great", "lovely", "smooth", "thanks", "love", "friendly", "quick", "on time"}
BAD = {"stuck", "late", "delay", "delayed", "cancelled", "refund", "worst", "cold", "dirty"}


def keyword_sentiment(post: Post) -> Post:
    """A tiny lexicon, used when VADER (the ``sentiment`` extra) is not installed."""
    text = post.text.lower()
    score = sum(bool(re.search(rf"\b{w}\b", text)) for w in GOOD)
    score -= sum(bool(re.search(rf"\b{w}\b", text)) for w in BAD)
    label = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    return post.annotate(sentiment={"label": label, "score": float(score)})


def main() -> None:
    # %% Collect the posts into a DataFrame, with sentiment.
    try:
        scorer, how = Sentiment(), "VADER (English posts only)"
    except ImportError:  # MissingExtraError is an ImportError
        scorer, how = keyword_sentiment, "keyword lexicon"
    frames = DataFrameSink()
    source = JSONLSource(DATA, name="rail-mentions")
    run_once(Pipeline(sources=[source], transforms=[scorer], sinks={"frame": frames}))
    df = frames.frame()
    print(f"{len(df)} posts, sentiment by {how}")

    # %% Volume per hour.
    per_hour = df.groupby(df["created_at"].dt.floor("h")).size()
    print(per_hour.rename(lambda t: f"{t:%H:%M}").to_string())

    # %% Sentiment split (posts VADER does not score are "unscored").
    split = df["sentiment"].astype("string").fillna("unscored").value_counts()
    print(split.to_string())

    # %% Plot both to PNG files.
    out = Path(tempfile.mkdtemp(prefix="socialplug-plots-"))
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar([f"{t:%H}" for t in per_hour.index], per_hour.to_numpy())
    ax.set(title="Mentions per hour (UTC)", xlabel="hour", ylabel="posts")
    fig.savefig(out / "volume_per_hour.png", dpi=100, bbox_inches="tight")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(split.index.tolist(), split.to_numpy(), color="tab:gray")
    ax.set(title="Sentiment", ylabel="posts")
    fig.savefig(out / "sentiment_split.png", dpi=100, bbox_inches="tight")
    plt.close("all")
    for png in sorted(out.glob("*.png")):
        print(f"plot: {png}")


if __name__ == "__main__":
    main()
