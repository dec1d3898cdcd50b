from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialplug._html import _Parser, html_to_text
from socialplug.exceptions import DecodeError
from socialplug.model import Media
from socialplug.sources.mastodon import notification_to_post, to_post


OWN = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"


def own(name: str) -> Any:
    return json.loads((OWN / f"{name}.json").read_text())


def recorded_statuses(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".meta.json") or path.suffix not in (".json", ".jsonl"):
            continue
        chunks = path.read_bytes().splitlines() if path.suffix == ".jsonl" else [path.read_bytes()]
        for chunk in chunks:
            try:
                data = json.loads(chunk)
            except ValueError:
                continue
            stack = data if isinstance(data, list) else [data]
            while stack:
                item = stack.pop()
                if isinstance(item, list):
                    stack.extend(item)
                elif isinstance(item, dict):
                    if {"id", "uri", "content", "account"} <= set(item):
                        out.append(item)
                    for k in ("status", "statuses", "ancestors", "descendants"):
                        if item.get(k):
                            stack.append(item[k])
    return out


class TestToPost:
    def test_content_warning_mentions_and_hashtags(self):
        """
        A CW status keeps its warning; hashtags keep their written case from the content;
        mentions are fully qualified; the key is the ActivityPub uri.
        """
        status = own("cw")

        post = to_post(status, server="mastodon.social", source="src")

        assert post.platform == "mastodon"
        assert status["id"] == post.id
        assert f"mastodon:{status['uri']}" == post.key
        assert status["url"] == post.url
        assert post.spoiler == "Machtmissbrauch Academia"
        assert post.sensitive
        assert post.tags == ("machtmissbrauch", "IchBinHanna", "MPI", "Academia")
        assert post.mentions == ("academicsunite@a.gup.pe",)
        assert post.links == ()
        assert post.lang == "de"
        assert status["in_reply_to_id"] == post.reply_to
        assert post.author.handle == "LenaOetzel@historians.social"
        assert post.author.name == "Lena Oetzel"
        assert post.author.followers == 891
        assert datetime(2025, 3, 17, 8, 31, 44, tzinfo=UTC) == post.created_at
        assert post.engagement.reposts == 3
        assert post.text.startswith('@academicsunite\n\n"Mehrere Mitarbeitende')
        assert post.text.endswith("#machtmissbrauch #IchBinHanna #MPI #Academia")
        assert post.source == "src"
        assert post.annotations["visibility"] == "public"
        assert status == post.raw

    def test_boost_carries_the_boosted_status(self):
        status = own("reblog")

        post = to_post(status)

        assert post.repost_of is not None
        assert f"mastodon:{status['reblog']['uri']}" == post.repost_of.key
        assert f"mastodon:{status['uri']}" == post.key
        assert post.text == ""
        assert post.repost_of.text == "Toot!"
        assert post.author.handle == "mastodonpy_test@localhost"

    def test_quote_post_drops_the_inline_fallback(self):
        status = own("quote")

        post = to_post(status)

        assert post.text == "yoooooooo"
        assert post.quote_of is not None
        assert post.quote_of.text == "Toot!"
        assert f"mastodon:{status['quote']['quoted_status']['uri']}" == post.quote_of.key

    def test_poll_options_and_custom_emoji_are_kept(self):
        post = to_post(own("poll"))

        assert post.text == "secret test poll :hecker:\n\n- real\n- fr fr\n- so true\n- :hecker:"
        assert post.annotations["poll"]["options"] == ["real", "fr fr", "so true", ":hecker:"]
        assert post.annotations["edited_at"] == "2023-05-28T12:51:38.000Z"
        assert post.engagement.replies == 2

    def test_media_with_alt_text(self):
        status = own("media")

        post = to_post(status)

        first = status["media_attachments"][0]
        assert Media(url=first["url"], kind="video", alt=first["description"]) == post.media[0]

    def test_html_entities_and_line_breaks(self):
        status = {**own("cw"), "content": "<p>it&#39;s &amp; &lt;b&gt;<br>next</p><p>two</p>"}

        assert to_post(status).text == "it's & <b>\nnext\n\ntwo"

    def test_missing_field_is_a_decode_error_with_the_payload(self):
        status = own("poll")
        del status["account"]

        with pytest.raises(DecodeError) as ei:
            to_post(status, source="mine")

        assert ei.value.source == "mine"
        assert status is ei.value.payload

    def test_notification(self):
        notification = {"id": "9", "type": "mention", "status": own("cw"), "account": {}}

        post = notification_to_post(notification, server="mastodon.social")

        assert post is not None
        assert post.annotations["notification"] == "mention"
        assert None is notification_to_post({"id": "1", "type": "follow", "status": None})


class TestRecorded:
    def test_every_recorded_status_maps(self, shared_fixtures):
        statuses = recorded_statuses(shared_fixtures("mastodon"))

        posts = [to_post(s) for s in statuses]

        assert len(posts) > 300
        assert all(p.created_at.tzinfo is UTC for p in posts)
        assert all(p.key == f"mastodon:{s['uri']}" for p, s in zip(posts, statuses, strict=True))
        assert {"ja", "de", "en", "fr"} <= {p.lang for p in posts}
        assert any(p.repost_of for p in posts)
        assert any(p.quote_of for p in posts)

    def test_links_split_into_invisible_spans_come_out_whole(self, shared_fixtures):
        statuses = [
            s
            for s in recorded_statuses(shared_fixtures("mastodon"))
            if 'class="invisible"' in s["content"] and not s.get("quote")
        ]
        anchor = re.compile(r'<a href="([^"]+)"[^>]*><span class="invisible">')

        checked = 0
        for status in statuses:
            post = to_post(status)
            for href in anchor.findall(status["content"]):
                assert href.replace("&amp;", "&") in post.text
                checked += 1

        assert checked > 20

    def test_non_latin_text_survives(self, shared_fixtures):
        statuses = [
            s for s in recorded_statuses(shared_fixtures("mastodon")) if s["language"] == "ja"
        ]

        post = to_post(statuses[0])

        assert html_to_text(statuses[0]["content"]).text == post.text
        assert post.text

    def test_fast_tokenizer_agrees_with_the_standard_parser(self, shared_fixtures):
        """
        The regex tokenizer gives what html.parser gives on every recorded content.
        """
        contents = {s["content"] for s in recorded_statuses(shared_fixtures("mastodon"))}
        contents |= {
            s["account"].get("note", "") for s in recorded_statuses(shared_fixtures("mastodon"))
        }

        for content in contents:
            parser = _Parser()
            parser.feed(content)
            parser.close()
            fast = html_to_text(content)
            assert html_to_text("<!-- -->" + content).text == fast.text
            assert tuple(parser.links) == fast.links
            assert tuple(parser.anchors) == fast.anchors
