"""Any JSON API: the declarative mapping, Link and token paging, cursor resume."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sources_replay import Reply, Request, recorded
from sources_support import shared_fixtures

from socialplug.exceptions import ConfigurationError, FetchError
from socialplug.sources.http import HTTPSource, lookup, map_item


pytestmark = pytest.mark.anyio

GITHUB_FIELDS = {
    "id": "id",
    "title": "title",
    "text": "body",
    "url": "html_url",
    "created_at": "created_at",
    "author.handle": "user.login",
    "author.id": "user.id",
    "engagement.replies": "comments",
    "tags": "labels.0.name",
}


class TestPure:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            pytest.param("", {"a": [{"b": 1}]}, id="root"),
            pytest.param("a.0.b", 1, id="index"),
            pytest.param("a.-1.b", 1, id="negative-index"),
            pytest.param("a.1.b", None, id="out-of-range"),
            pytest.param("x.y", None, id="missing"),
        ],
    )
    def test_lookup(self, path, expected):
        """Dotted paths walk objects and lists; missing steps give the default."""
        assert lookup({"a": [{"b": 1}]}, path) == expected

    def test_map_item_epoch_and_nested(self):
        """Epoch milliseconds, nested author fields and counts map to the post."""
        post = map_item(
            {"key": 7, "ts": 1764144000000, "who": {"name": "Ann"}, "n": "3"},
            {"id": "key", "created_at": "ts", "author.name": "who.name", "engagement.likes": "n"},
            platform="intranet",
        )

        assert (post.platform, post.id, post.author.name, post.engagement.likes) == (
            "intranet",
            "7",
            "Ann",
            3,
        )
        assert post.created_at == datetime(2025, 11, 26, 8, 0, tzinfo=UTC)

    def test_map_item_requires_id_and_time(self):
        """An item without its id is refused with KeyError naming the path."""
        with pytest.raises(KeyError, match="'id'"):
            map_item({"t": 1}, {"id": "uid", "created_at": "t"})

    def test_configuration(self):
        """Unknown fields, missing required ones and half a cursor are all reported."""
        with pytest.raises(ConfigurationError) as info:
            HTTPSource(url="http://x.test/{org}", fields={"txt": "a"}, cursor_field="id")

        assert len(info.value.problems) == 5

    def test_auth_header_not_in_repr(self):
        """The auth header's value stays out of the repr."""
        source = HTTPSource(url="http://x.test/", fields={"id": "id", "created_at": "t"},
                            headers={"Authorization": "Bearer sekrit-42"})  # fmt: skip

        assert "sekrit-42" not in repr(source)


class TestSource:
    async def test_link_paging_and_inclusive_since(self, server):
        """Recorded GitHub pages are followed by Link; an inclusive since= repeats nothing."""
        folder = shared_fixtures("outbound")
        first = recorded(folder, "github__paginate-issues__00")

        def rewrite(reply: Reply) -> Reply:
            headers = {
                k: v.replace("https://api.github.com", server.url)
                for k, v in reply.headers.items()
            }
            return Reply(reply.status, headers, reply.body)

        server.routes["/repos/octokit-fixture-org/paginate-issues/issues"] = lambda req: rewrite(
            first
        )
        server.routes["/repositories/1000/issues"] = lambda req: rewrite(
            recorded(folder, f"github__paginate-issues__0{int(req.query['page']) - 1}")
        )
        source = HTTPSource(
            url=server.url + "/repos/{owner}/{repo}/issues",
            variables={"owner": "octokit-fixture-org", "repo": "paginate-issues"},
            params={"per_page": 3, "state": "all"},
            headers={"Authorization": "token ghp-secret"},
            fields=GITHUB_FIELDS,
            platform="github",
            cursor_field="updated_at",
            cursor_param="since",
            paging="link",
        )
        try:
            pages = [p async for p in source.pages(None, follow=False)]
            again = [p async for p in source.pages(pages[0].cursor, follow=False)]
        finally:
            await source.aclose()

        posts = pages[0].posts
        assert len(posts) == 13
        assert len(server.requests) == 5 + 5
        assert server.requests[0].headers["authorization"] == "token ghp-secret"
        assert server.requests[0].query == {"per_page": "3", "state": "all"}
        assert posts[0].title == "Test issue 13"
        assert posts[0].url == "https://github.com/octokit-fixture-org/paginate-issues/issues/13"
        assert posts[0].author.handle == "octokit-fixture-user-a"
        assert posts[0].engagement.replies == 42
        cursor = json.loads(pages[0].cursor or "")
        assert cursor["value"] == "2017-10-10T16:00:00Z"
        assert len(cursor["ids"]) == 13
        assert server.requests[5].query["since"] == "2017-10-10T16:00:00Z"
        assert again == []

    async def test_integers_beyond_64_bits_stay_exact(self, server):
        """Ids too long for 64 bits keep every digit (orjson would read them as floats)."""
        big = 2**64 + 1

        server.routes["/big"] = lambda req: Reply(
            200,
            {"content-type": "application/json"},
            f'{{"items": [{{"id": {big}, "at": 1700000000}}]}}'.encode(),
        )
        source = HTTPSource(
            url=server.url + "/big", items="items", fields={"id": "id", "created_at": "at"}
        )
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert [p.id for p in pages[0].posts] == [str(big)]

    async def test_token_paging_and_numeric_cursor(self, server):
        """A next token in the body pages on; numeric cursors compare as numbers."""

        def handler(req: Request) -> Reply:
            if req.query.get("page_token") == "p2":
                return Reply.json(
                    {"result": {"entries": [{"n": 9, "at": 1_700_000_009}], "next": None}}
                )
            entries = [{"n": 10, "at": 1_700_000_010}, {"n": 11, "at": 1_700_000_011}]
            return Reply.json({"result": {"entries": entries, "next": "p2"}})

        server.routes["/mentions"] = handler
        source = HTTPSource(
            url=server.url + "/mentions",
            items="result.entries",
            fields={"id": "n", "created_at": "at"},
            cursor_field="n",
            cursor_param="after",
            paging="token",
            token_path="result.next",
            token_param="page_token",
        )
        try:
            pages = [p async for p in source.pages('{"value": 9, "ids": ["9"]}', follow=False)]
        finally:
            await source.aclose()

        assert [p.id for p in pages[0].posts] == ["10", "11"]
        assert json.loads(pages[0].cursor or "") == {"value": 11, "ids": ["11"]}
        assert server.requests[0].query["after"] == "9"

    async def test_bad_items_and_missing_list(self, server):
        """A bad item becomes malformed; an answer without the list is a FetchError."""
        server.routes["/ok"] = Reply.json(
            {"items": [{"id": 1, "t": "2026-11-26T08:00:00Z"}, {"id": 2}]}
        )
        server.routes["/odd"] = Reply.json({"error": "maintenance"})
        ok = HTTPSource(
            url=server.url + "/ok", items="items", fields={"id": "id", "created_at": "t"}
        )
        odd = HTTPSource(
            url=server.url + "/odd", items="items", fields={"id": "id", "created_at": "t"}
        )
        try:
            pages = [p async for p in ok.pages(None, follow=False)]
            with pytest.raises(FetchError, match="no list"):
                _ = [p async for p in odd.pages(None, follow=False)]
        finally:
            await ok.aclose()
            await odd.aclose()

        assert [p.id for p in pages[0].posts] == ["1"]
        assert "created_at" in pages[0].malformed[0].reason
