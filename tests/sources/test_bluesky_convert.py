from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialplug.exceptions import DecodeError
from socialplug.model import Media
from socialplug.sources.bluesky import at_uri_to_url, maybe_post, to_post
from socialplug.testing.bluesky import facets_for, jetstream_event, make_post_view


OWN = Path(__file__).resolve().parents[1] / "fixtures" / "bluesky"


def own(name: str) -> Any:
    return json.loads((OWN / name).read_text())


def recorded_items(folder: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".meta.json"):
            continue
        data = json.loads(path.read_bytes())
        if isinstance(data, dict):
            for field in ("posts", "feed"):
                out.extend(data.get(field) or [])
    for path in sorted(folder.glob("jetstream__*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines())
    return out


class TestToPost:
    def test_emoji_before_facets_uses_byte_offsets(self):
        view = own("emoji_facets.json")

        post = to_post(view, source="s")

        assert post.platform == "bluesky"
        assert view["uri"] == post.id
        assert f"bluesky:{view['uri']}" == post.key
        assert post.tags == ("rladies", "rstats")
        assert post.links == ("https://www.youtube.com/watch?v=Sa13U9RHpIE",)
        assert post.text.endswith(
            "🔗 https://www.youtube.com/watch?v=Sa13U9RHpIE\n\n#rladies #rstats"
        )
        assert view["author"]["handle"] == post.author.handle
        assert post.source == "s"

    def test_shortened_link_text_is_expanded_to_the_full_url(self):
        text = "🇺🇦 日本語 read example.com/lo… now #Tag"
        view = make_post_view(text)
        start = len("🇺🇦 日本語 read ".encode())
        end = start + len("example.com/lo…".encode())
        view["record"]["facets"] = [
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [
                    {
                        "$type": "app.bsky.richtext.facet#link",
                        "uri": "https://example.com/long/path",
                    }
                ],
            },
            *facets_for(text)[-1:],
        ]

        post = to_post(view)

        assert post.text == "🇺🇦 日本語 read https://example.com/long/path now #Tag"
        assert post.tags == ("Tag",)

    def test_mentions_are_read_from_the_byte_slice(self):
        view = make_post_view("héllo 👋 @bob.test and @carol.example.com")

        post = to_post(view)

        assert post.mentions == ("bob.test", "carol.example.com")

    def test_out_of_range_facets_are_ignored_not_fatal(self):
        view = make_post_view("short")
        view["record"]["facets"] = [
            {
                "index": {"byteStart": 3, "byteEnd": 99},
                "features": [
                    {"$type": "app.bsky.richtext.facet#link", "uri": "https://x.example"}
                ],
            }
        ]

        post = to_post(view)

        assert post.text == "short"
        assert post.links == ("https://x.example",)

    def test_repost_carries_the_original(self):
        item = own("repost.json")

        post = to_post(item)

        assert post.repost_of is not None
        assert item["post"]["uri"] == post.repost_of.id
        assert item["reason"]["by"]["handle"] == post.author.handle
        assert item["reason"]["uri"] == post.id
        assert post.text == ""

    def test_quote_with_media(self):
        item = own("record_with_media.json")

        post = to_post(item).repost_of  # the recorded item is a repost of a quote
        assert post is not None

        assert post.quote_of is not None
        assert (
            post.quote_of.id
            == "at://did:plc:exrxvyu6bpoym6mbnctke5tn/app.bsky.feed.post/3lsztof36rs2t"
        )
        assert post.quote_of.author.handle == "molly.wiki"
        assert post.media[0].kind == "video"
        assert post.media[0].url.endswith("playlist.m3u8")
        assert post.quote_of.engagement.likes == 6524

    def test_external_card_and_reply(self):
        card = to_post(own("external.json"))
        reply = to_post(own("reply.json"))

        external = own("external.json")["post"]["embed"]["external"]
        assert Media(url=external["uri"], kind="link", alt=external["title"]) in card.media
        assert external["uri"] in card.links
        record = own("reply.json")["post"]["record"]
        assert record["reply"]["parent"]["uri"] == reply.reply_to
        assert record["reply"]["root"]["uri"] == reply.thread

    def test_url_labels_langs(self):
        view = make_post_view("hi", labels=["porn"], langs=["de", "en"])

        post = to_post(view)

        did, _, rkey = view["uri"][5:].split("/")
        assert f"https://bsky.app/profile/{did}/post/{rkey}" == post.url
        assert post.sensitive
        assert post.spoiler == "porn"
        assert post.annotations["labels"] == ["porn"]
        assert post.lang == "de"
        assert post.annotations["langs"] == ["de", "en"]

    def test_images_with_alt_from_the_record(self):
        view = make_post_view("pic", did="did:plc:abc")
        view["record"]["embed"] = {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": "a cat",
                    "image": {
                        "$type": "blob",
                        "ref": {"$link": "bafkcid"},
                        "mimeType": "image/jpeg",
                        "size": 1,
                    },
                }
            ],
        }

        post = to_post(view)

        assert (
            Media(
                url="https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:abc/bafkcid@jpeg",
                kind="image",
                alt="a cat",
            ),
        ) == post.media

    def test_jetstream_create_update_delete(self):
        view = make_post_view("live #brand")

        created = to_post(jetstream_event(view, time_us=1_700_000_000_000_000))
        updated = to_post(jetstream_event(view, operation="update"))
        deleted = to_post(jetstream_event(view, operation="delete", time_us=1_700_000_000_000_000))

        assert (created.event, updated.event, deleted.event) == ("create", "update", "delete")
        assert created.id == updated.id == deleted.id
        assert f"bluesky:{view['uri']}" == created.key
        assert f"bluesky:{view['uri']}#delete" == deleted.key
        assert updated.key.startswith(f"bluesky:{view['uri']}#update:")
        assert created.tags == ("brand",)
        assert datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC) == deleted.created_at

    def test_non_posts_and_bad_input(self):
        likes = [
            json.loads(line) for line in (OWN / "jetstream_golden.jsonl").read_text().splitlines()
        ]

        kinds = [maybe_post(e) is not None for e in likes]

        assert kinds == [False, True, True, False, False, False, False, False, False, False]
        with pytest.raises(DecodeError):
            to_post(likes[0])  # a like is not a post
        view = make_post_view("x")
        view["record"]["embed"] = {"$type": "app.bsky.embed.hologram"}
        with pytest.raises(DecodeError, match="unknown embed"):
            to_post(view)
        with pytest.raises(DecodeError):
            to_post({"uri": "at://x/app.bsky.feed.post/1", "record": {"text": 5}})

    def test_at_uri_to_url(self):
        assert (
            at_uri_to_url("at://did:plc:x/app.bsky.feed.generator/whats-hot")
            == "https://bsky.app/profile/did:plc:x/feed/whats-hot"
        )
        assert None is at_uri_to_url("https://example.com")


class TestRecorded:
    def test_every_recorded_item_maps_or_is_not_a_post(self, shared_fixtures):
        items = recorded_items(shared_fixtures("bluesky"))

        posts = [p for p in (maybe_post(i) for i in items) if p is not None]

        assert len(posts) > 200
        assert all(p.created_at.tzinfo is UTC for p in posts)
        assert any(p.quote_of for p in posts)
        assert any(p.repost_of for p in posts)

    def test_recorded_tag_and_mention_facets_slice_on_bytes(self, shared_fixtures):
        """
        Every recorded tag facet covers "#tag" and every mention facet "@handle" when the
        offsets are read as UTF-8 bytes (as they must be).
        """
        checked = 0
        for item in recorded_items(shared_fixtures("bluesky")):
            view = item.get("post", item)
            record = view.get("record") or (item.get("commit") or {}).get("record") or {}
            data = str(record.get("text", "")).encode()
            for facet in record.get("facets") or ():
                start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
                for feature in facet["features"]:
                    if feature["$type"].endswith("#tag"):
                        assert (
                            data[start:end].decode().strip().lower()
                            == "#" + feature["tag"].lower()
                        )
                        checked += 1
                    elif feature["$type"].endswith("#mention"):
                        assert "@" in data[start:end].decode()
                        checked += 1

        assert checked > 100
