"""Feeds: documents to posts with feedparser, and the many-feeds source over loopback HTTP."""

from __future__ import annotations

import copy
import json
import random
import socket
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import httpx
import pytest
from sources_replay import Reply, Request
from sources_support import OWN, shared_fixtures

from socialplug import RetryPolicy
from socialplug.sources import feeds as feeds_module
from socialplug.sources.feeds import FeedsSource, _Plan, parse


pytestmark = pytest.mark.anyio

FETCHED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# Markup that feedparser's sanitizer and URI resolver treat in their particular ways.
_TRICKY = [
    '<a href="/x?a=1&b=2">', "</a>", '<img src="../i.png" alt="x">', "<img src=x.png/>", "<br>",
    "<br/>", "<script>alert(1)</script>", '<script src="/s.js">', "</script>",
    "<style>p{}</style>", '<p style="color: red; background: url(x)">', "</p>", "<!-- c -->",
    "<!-- unclosed", "<![CDATA[ x ]]>", "<![CDATA[", "]]>", "&amp;", "&lt;", "&nbsp;", "&#39;",
    "&#150;", "&bogus;", "&", "<", ">", '"', '<a href="javascript:alert(1)">', '<a href=" /sp ">',
    '<A HREF="HTTP://X/Y">', '<iframe src="/f"></iframe>', '<div onclick="x()">', "</div>",
    '<svg xmlns="http://www.w3.org/2000/svg"><a xlink:href="/q">t</a></svg>',
    '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi></math>', "<svg><circle/></svg>",
    '<blockquote cite="/c">', '<object data="/o"></object>', '<applet codebase="/a">t</applet>',
    "<noscript>n</noscript>", "<?pi x?>", "<!DOCTYPE html>", "<!foo>", "text ", "é", "\r\n",
    '<form action="/f">', "<q cite=/q>", '<video poster="/p" src="/v">', '<a href="//proto/r">',
    '<a href="?q">', '<a href="#f">', '<a href="mailto:x@y">', "<b", 'x="y">', "</", "<![if !IE]>",
    "<!-->", "--!>", "-- >", "<p/>", '<img src="/x" onerror="y"/>', "&#65;",
]  # fmt: skip
_BASES = ["http://example.org/a/b/", "https://h.test/", "http://example.org/dir/feed.xml"]


def _shared(name: str) -> bytes:
    return (shared_fixtures("feeds") / name).read_bytes()


def _own(name: str) -> bytes:
    return (OWN / "feeds" / name).read_bytes()


class TestParse:
    def test_iso_8859_1(self):
        """An ISO-8859-1 RSS feed is decoded: accents survive."""
        posts = parse(_shared("huginn__iso-8859-1.rss"), url="http://example.net/feed")

        assert posts[0].title == "Mëkanïk Zaïn"
        assert "http://example.net/post/1" == posts[0].id == posts[0].url
        assert posts[0].key == "feed:http://example.net/post/1"
        assert datetime(2016, 11, 21, 16, 0, 10, tzinfo=UTC) == posts[0].created_at

    def test_utf16_with_bare_timestamp_and_relative_links(self):
        """UTF-16 is decoded, a bare epoch pubDate is read as such, relative links resolve."""
        [post] = parse(
            _own("utf16le-bare-timestamp.rss"), url="http://gare.test/feed/", fetched_at=FETCHED
        )

        assert post.title == "Retard à Zürich"
        assert post.text == "Voir état"
        assert datetime(2025, 11, 26, 8, 0, tzinfo=UTC) == post.created_at
        assert post.links == ("http://gare.test/posts/1", "http://gare.test/status")
        assert post.id == "item-1"
        assert post.key == "feed:http://gare.test/feed/#item-1"  # a bare guid is scoped by feed

    def test_malformed_marked_section_in_an_entry_is_text(self):
        """
        An entry whose HTML holds a bad "<![" section is kept: its HTML as feedparser cleans
        it (which repeats parts of it), the section as text.
        """
        document = (
            b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t'
            b"</title><item><guid>g1</guid><title>Delay</title><description>&lt;p&gt;stuck "
            b"&lt;![ x&lt;/p&gt;</description></item></channel></rss>"
        )
        [post] = parse(document, url="https://rail.test/feed")

        assert post.html == feedparser.parse(document).entries[0].summary
        assert post.text.startswith("stuck\n\n")
        assert "stuck <![ x" in post.text

    def test_xhtml_content_broken_date_and_identity_by_hash(self):
        """XHTML content and title become text, a broken date takes the feed's, no id hashes."""
        first, second = parse(_own("xhtml.atom"), url="https://blog.acme.test/feed.atom")

        assert first.title == "Neue Fahrpläne"
        assert first.text == "Ab Montag gilt der neue Fahrplan."
        assert "<strong>Montag</strong>" in (first.html or "")
        assert first.url == "https://blog.acme.test/posts/7.html"
        assert "https://blog.acme.test/fahrplan.pdf" in first.links
        assert datetime(2026, 11, 25, 10, tzinfo=UTC) == first.created_at
        assert (first.author.name, first.author.url) == (
            "Eva",
            "https://blog.acme.test/people/eva",
        )
        assert first.tags == ("fahrplan",)
        assert first.lang == "de"
        assert second.id.startswith("sha256:")
        assert second.id == parse(_own("xhtml.atom"), url="https://blog.acme.test/feed.atom")[1].id
        assert datetime(2026, 11, 24, 8, 30, tzinfo=UTC) == second.created_at

    def test_relative_content_link_against_document_url(self):
        """A root-relative link in escaped HTML content resolves against the fetched URL."""
        [post] = parse(
            _shared("feedparser__wellformed__base__http_entry_content_base_docuri.xml"),
            url="http://127.0.0.1:8097/feed.xml",
            fetched_at=FETCHED,
        )

        assert post.links == ("http://127.0.0.1:8097/relative/uri",)
        assert post.text == "click here"
        assert post.created_at == FETCHED  # no date anywhere
        assert post.id.startswith("sha256:")

    def test_xml_base_on_the_entry(self):
        """xml:base on an entry applies to its links."""
        [post] = parse(
            _shared("feedparser__wellformed__base__relative_xml_base.xml"),
            url="http://feed.test/f.xml",
        )

        assert post.title == "Example test"

    def test_ill_formed_document_keeps_items(self):
        """An ill-formed RSS (corrupted ampersands) still yields its item."""
        [post] = parse(
            _shared("feedparser__illformed__rss_item_link_corrupted_ampersands.xml"),
            url="http://f.test/",
        )

        assert post.url == "http://link/get?a=1&b=2"

    def test_xml_base_resolves_links_media_author_and_markup(self):
        """Entry and content xml:base apply to every URL; scripts and handlers are dropped."""
        [post] = parse(_own("relative.atom"), url="http://feeds.test/ops.atom")

        assert post.url == "http://other.test/root/entries/one.html"
        assert post.links == (
            "http://other.test/root/entries/one.html",
            "http://cdn.test/c/notes/1",
            "http://cdn.test/c/spaced",
        )  # a javascript: link is no link
        assert post.media[0].url == "http://other.test/root/media/report.mp3"
        assert post.media[0].kind == "audio"
        assert post.author.url == "http://other.test/root/entries/people/ann"
        assert post.title == "Signal fault"
        assert post.html == (
            '<p>See <a href="http://cdn.test/c/notes/1">notes</a> '
            '<img src="http://cdn.test/c/map.png" /> <a href="">here</a><!-- kept --> '
            '<a href="http://cdn.test/c/spaced">spaced</a></p>'
        )
        assert post.text == "See notes here spaced"

    def test_rss_content_encoded_and_media_against_the_document_url(self):
        """content:encoded wins over the description; relative media URLs resolve too."""
        [post] = parse(_own("relative.rss"), url="http://gare.test/feed/rss.xml")

        assert post.url == "http://gare.test/posts/1?a=1&b=2"
        assert post.text == "Voir état ops\n\nsuite"
        assert post.links == (
            "http://gare.test/posts/1?a=1&b=2",
            "http://gare.test/feed/etat/1",
            "mailto:ops@gare.test",
        )
        assert [(m.url, m.kind) for m in post.media] == [
            ("http://gare.test/media/plan.jpg", "image"),
            ("http://gare.test/feed/video.mp4", "video"),
            ("http://img.gare.test/thumb.png", "image"),
        ]
        assert "steal" not in (post.html or "")
        assert '<img src="http://img.gare.test/x.png" />' in (post.html or "")

    def test_markup_is_cleaned_as_feedparser_cleans_it(self):
        """The markup of a post is what feedparser's own sanitizing and resolution make of it."""
        feedparser = pytest.importorskip("feedparser")
        rnd = random.Random(4)
        fragments = [*_TRICKY, *("".join(rnd.choices(_TRICKY, k=6)) for _ in range(300))]
        entries = "".join(
            f'<entry xml:base="{rnd.choice(_BASES)}"><id>e{i}</id>'
            f'<content type="html">{escape(f)}</content></entry>'
            for i, f in enumerate(fragments)
        )
        data = f'<feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'.encode()
        url = "http://feeds.test/a/feed.atom"

        posts = parse(data, url=url, fetched_at=FETCHED)
        expected = feedparser.parse(data, response_headers={"content-location": url})

        assert len(posts) == len(fragments) == len(expected.entries)
        for post, entry in zip(posts, expected.entries, strict=True):
            assert post.html == (entry.content[0].value or None), entry.id

    @pytest.mark.parametrize("kind", ["text/html", "application/xhtml+xml"])
    def test_simple_markup_is_cleaned_as_sgmllib_reads_it(self, kind):
        """Markup tokenized without sgmllib is cleaned exactly as when sgmllib tokenizes it."""
        rnd = random.Random(kind)
        tags = ["a", "p", "img", "br", "div", "span", "IMG", "A", "script", "font", "svg",
                "q", "blockquote", "video", "hr", "blink", "style", "iframe", "td"]  # fmt: skip
        names = ["href", "src", "title", "alt", "class", "style", "rel", "type", "onclick",
                 "cite", "HREF", "data-x", "longdesc", "usemap", "poster", "width"]  # fmt: skip
        values = ["/x", "x.png", "../i?a=1", "javascript:alert(1)", " /sp ", "HTTP://X/Y", "",
                  "Text", "it's", "color: red", "gopher://h/", "#f", "?q", "//proto/r",
                  "mailto:a@b", "a b", "NoFollow", "x\r\ny", "é/ü"]  # fmt: skip
        texts = ["text ", " ", "a > b", "é", "\r\n", "&amp;", "&bogus;", "&#150;", "&#8217;",
                 "&#x41;", "&#X2013;", "&#39;", "&#34;", "&nbsp;", "&", "'", '"', "x;"]  # fmt: skip

        def tag() -> str:
            name = rnd.choice(tags)
            if rnd.random() < 0.3:
                return f"</{name}{rnd.choice(['', ' '])}>"
            attrs = "".join(
                f'{rnd.choice([" ", "  ", chr(10)])}{rnd.choice(names)}="{rnd.choice(values)}"'
                for _ in range(rnd.choice([0, 0, 1, 1, 2, 3]))
            )
            return f"<{name}{attrs}{rnd.choice(['', '', ' ', '/', ' /', ' / '])}>"

        cleaner = feeds_module._cleaner()
        accepted = 0
        for _ in range(3000):
            value = "".join(
                tag() if rnd.random() < 0.5 else rnd.choice(texts)
                for _ in range(rnd.randint(1, 8))
            )
            base = rnd.choice(_BASES)
            fast, slow = cleaner(base, "utf-8", kind), cleaner(base, "utf-8", kind)
            slow.feed(value)
            if feeds_module._feed_simple(fast, value):
                accepted += 1
                assert fast.output() == slow.output(), value

        assert accepted > 1000

    def test_whole_text_driver_gives_what_expat_gives(self, monkeypatch):
        """feedparser's results are the same with text handed over whole as in pieces."""
        feedparser = pytest.importorskip("feedparser")
        parse(b"<rss/>", url="http://f.test/")  # feedparser loaded, the driver preferred
        driver = feedparser.api.PREFERRED_XML_PARSERS
        documents = sorted(shared_fixtures("feeds").iterdir()) + sorted((OWN / "feeds").iterdir())
        whole = [feedparser.parse(p.read_bytes()) for p in documents]
        monkeypatch.setattr(feedparser.api, "PREFERRED_XML_PARSERS", [])
        pieces = [feedparser.parse(p.read_bytes()) for p in documents]

        assert driver == ["socialplug.sources._feedsax"]
        assert len(documents) > 200
        for path, a, b in zip(documents, whole, pieces, strict=True):
            assert (a.entries, a.feed, a.get("version"), a.get("bozo")) == (
                b.entries,
                b.feed,
                b.get("version"),
                b.get("bozo"),
            ), path.name
            assert type(a.get("bozo_exception")) is type(b.get("bozo_exception")), path.name

    def test_remembered_base_uris_follow_the_acceptable_schemes(self, monkeypatch):
        """Changing feedparser's acceptable URI schemes takes effect on the next document."""
        urls = pytest.importorskip("feedparser.urls")
        data = (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry xml:base="gopher://h/dir/">'
            b'<id>1</id><link href="x"/></entry></feed>'
        )
        before = parse(data, url="http://f.test/feed")[0].url
        monkeypatch.setattr(
            urls, "ACCEPTABLE_URI_SCHEMES", tuple(set(urls.ACCEPTABLE_URI_SCHEMES) - {"gopher"})
        )
        without_gopher = parse(data, url="http://f.test/feed")[0].url
        monkeypatch.undo()

        assert (before, without_gopher) == ("gopher://h/dir/x", "http://f.test/x")
        assert parse(data, url="http://f.test/feed")[0].url == before

    def test_plain_urls_are_joined_as_urllib_joins_them(self):
        """_urljoin, and feedparser's with it, give what urllib's urljoin gives."""
        rnd = random.Random(7)
        bases = [*_BASES, "https://u:p@h.test:8/", "http://h.test", "http://h.test?q#f",
                 "HTTP://h.test/a", "http://[::1]:8/a", "http://[::1/a", "http://h .test/",
                 "http://h.test/a b/c", "ftp://h.test/a/", "", "http://é.test/x", "/rel"]  # fmt: skip
        pieces = ["/", "//", ".", "..", "a", "B", "-", "~", "%20", "?", "#", ";", ":", "@",
                  "=", "&", "[", "]", " ", "\t", "é", "http://", "https://", "HTTP://",
                  "http:", "h.test", "x:8", "'", "(", "*", "!"]  # fmt: skip
        urls = ["".join(rnd.choices(pieces, k=rnd.randint(0, 7))) for _ in range(20_000)]
        urls += [f"/{u}" for u in urls[:5000]] + [f"http://h.test/{u}" for u in urls[:5000]]
        parse(b"<rss/>", url="http://f.test/")  # feedparser loaded, its join replaced
        urls_module = pytest.importorskip("feedparser.urls")
        ours, theirs = urls_module._urljoin, urls_module._urljoin.__wrapped__

        plain = 0
        for url in urls:
            base = rnd.choice(bases)
            try:
                expected: str | type[Exception] = urllib.parse.urljoin(base, url)
            except ValueError:
                expected = ValueError
            if expected is ValueError:
                with pytest.raises(ValueError):
                    feeds_module._urljoin(base, url)
            else:
                assert feeds_module._urljoin(base, url) == expected, (base, url)
            assert ours(base, url) == theirs(base, url), (base, url)
            plain += url[:1] == "/" and feeds_module._PLAIN_PATH.fullmatch(url) is not None

        assert plain > 1000  # the direct path was taken

    def test_feedparser_mapping_shortcuts_give_what_the_originals_give(self):
        """FeedParserDict.get and deepcopy, quickened, keep feedparser's meaning."""
        util = pytest.importorskip("feedparser.util")
        parse(b"<rss/>", url="http://f.test/")  # feedparser loaded and quickened
        fpd = util.FeedParserDict
        entry = fpd(
            tags=[fpd(term="rail")],
            links=[fpd(rel="enclosure", href="http://f.test/a.mp3")],
            summary="text",
            published="Wed",
            value="v",
        )
        params = fpd(type="text/html", base=None, value=["a", "list"], depth=1)
        params.extra = {"kept": ["too"]}

        copied = copy.deepcopy(params)

        assert "__deepcopy__" in vars(fpd)
        assert (entry.get("category"), entry.get("description")) == ("rail", "text")
        assert entry.get("enclosures") == [{"href": "http://f.test/a.mp3"}]
        with pytest.warns(DeprecationWarning, match="updated"):
            assert entry.get("updated") == "Wed"  # feedparser's fallback to published
        assert (entry.get("value"), entry.get("nothing", 0)) == ("v", 0)
        assert type(copied) is fpd
        assert copied == params
        assert copied["value"] is not params["value"]
        assert copied.extra == params.extra
        assert copied.extra["kept"] is not params.extra["kept"]

    def test_json_feed(self):
        """JSON Feed items map to posts; relative URLs resolve; a bad item is skipped."""
        posts = parse(_own("site.json"), url="https://status.acme.test/feed.json")

        assert len(posts) == 2
        first = posts[0]
        assert "https://status.acme.test/incidents/42" == first.id == first.url
        assert first.text == "Trains are delayed. See updates."
        assert "https://status.acme.test/incidents/42/updates" in first.links
        assert first.tags == ("rail", "outage")
        assert first.media[0].url == "https://status.acme.test/media/map.png"
        assert first.author.name == "ACME Ops"
        assert datetime(2026, 11, 26, 8, 0, tzinfo=UTC) == posts[1].created_at

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(b"<html><body><h1>502 Bad Gateway</h1></body></html>", id="html"),
            pytest.param(b"", id="empty"),
            pytest.param(b'{"hello": "world"}', id="json-not-a-feed"),
        ],
    )
    def test_not_a_feed(self, data):
        """Something that is no feed gives no posts and no exception."""
        assert parse(data, url="http://f.test/") == []


class _Feeds:
    """Handler serving numbered feeds with ETags; counts requests in flight."""

    def __init__(self, delay: float = 0.0) -> None:
        self.items: dict[str, int] = {}
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def body(self, name: str) -> bytes:
        items = "".join(
            f"<item><title>{name} {i}</title><link>/{name}/{i}</link><guid>{name}-{i}</guid>"
            f"<pubDate>Wed, 25 Nov 2026 0{i % 10}:00:00 GMT</pubDate></item>"
            for i in range(self.items.get(name, 2), 0, -1)
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{items}</channel></rss>'.encode()

    def __call__(self, req: Request) -> Reply:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay)
            name = req.path.strip("/").split("/")[0]
            etag = f'"{name}-{self.items.get(name, 2)}"'
            if req.headers.get("if-none-match") == etag:
                return Reply(304, {"ETag": etag})
            return Reply(
                200, {"Content-Type": "application/rss+xml", "ETag": etag}, self.body(name)
            )
        finally:
            with self.lock:
                self.in_flight -= 1

    def serve(self, server: Any, count: int) -> list[str]:
        """Serve feeds ``f0`` ... on *server*; their URLs."""
        urls = []
        for i in range(count):
            server.routes[f"/f{i}/feed"] = self
            urls.append(f"{server.url}/f{i}/feed")
        return urls


class TestSource:
    async def test_conditional_get_and_new_items_only(self, server):
        """First cycle emits every entry; then 304s emit nothing; a change emits only news."""
        feeds = _Feeds()
        for name in ("a", "b"):
            server.routes[f"/{name}/feed"] = feeds
        urls = [f"{server.url}/a/feed", f"{server.url}/b/feed"]
        source = FeedsSource(urls=urls)
        try:
            first = [p async for p in source.pages(None, follow=False)]
            cursor = first[-1].cursor
            quiet = [p async for p in source.pages(cursor, follow=False)]
            feeds.items["b"] = 3
            news = [p async for p in source.pages(cursor, follow=False)]
        finally:
            await source.aclose()

        assert sorted((p.title or "" for p in first[0].posts), key=lambda t: (t[-1], t)) == [
            "a 1",
            "b 1",
            "a 2",
            "b 2",
        ]
        assert quiet == []
        assert {'"a-2"', '"b-2"'} == {r.headers.get("if-none-match") for r in server.requests[2:4]}
        assert [p.title for p in news[0].posts] == ["b 3"]
        assert f"{server.url}/b/3" == news[0].posts[0].url
        state = json.loads(news[0].cursor or "")["feeds"]
        assert {'"a-2"', '"b-3"'} == {state[u]["etag"] for u in urls}

    @pytest.mark.parametrize("processes", [1, 2])
    async def test_worker_processes_poll_like_the_loop(
        self, server, caplog, monkeypatch, processes
    ):
        """parse_workers= polls in worker processes too: same pages, cursor, limits, errors."""
        monkeypatch.setattr(feeds_module, "_FEEDS_PER_TASK", 3)  # every lane takes a few
        feeds = _Feeds(delay=0.02)
        urls = feeds.serve(server, 10)
        urls.append(f"{server.url}/missing")
        inline = FeedsSource(urls=urls, per_host=2, retry=RetryPolicy.disabled())
        workers = FeedsSource(
            urls=urls, per_host=2, parse_workers=processes, retry=RetryPolicy.disabled()
        )
        try:
            expected = [p async for p in inline.pages(None, follow=False)]
            feeds.peak = 0
            caplog.clear()
            got = [p async for p in workers.pages(None, follow=False)]
            quiet = [p async for p in workers.pages(got[-1].cursor, follow=False)]
        finally:
            await inline.aclose()
            await workers.aclose()

        assert [p.posts for p in got] == [p.posts for p in expected]
        assert sum(len(p.posts) for p in got) == 20
        assert [p.cursor for p in got] == [p.cursor for p in expected]
        assert feeds.peak <= 2  # the loop and the workers share the host's per_host
        assert quiet == []  # every feed answered 304
        assert list(workers.errors) == [urls[-1]]
        assert "404" in workers.errors[urls[-1]]
        assert f"feed {urls[-1]} failed" in caplog.text

    async def test_a_worker_process_that_ends_leaves_its_feeds_to_the_loop(
        self, server, caplog, monkeypatch, tmp_path
    ):
        """A worker that dies is replaced; its feeds are polled by the loop meanwhile."""
        monkeypatch.setattr(feeds_module, "_FEEDS_PER_TASK", 2)
        script = tmp_path / "unguarded.py"
        marker = tmp_path / "ran"
        script.write_text(f"open({str(marker)!r}, 'w').close()\n")
        main = type(sys)("__main__")
        main.__file__ = str(script)
        monkeypatch.setitem(sys.modules, "__main__", main)
        feeds = _Feeds()
        urls = feeds.serve(server, 6)
        source = FeedsSource(urls=urls, parse_workers=1, retry=RetryPolicy.disabled())
        try:
            first = [p async for p in source.pages(None, follow=False)]
            assert source._workers is not None
            [worker] = source._workers._idle
            worker.process.kill()
            await worker.process.wait()
            feeds.items.update({f"f{i}": 3 for i in range(6)})
            second = [p async for p in source.pages(first[-1].cursor, follow=False)]
        finally:
            await source.aclose()

        assert sum(len(p.posts) for p in first) == 12
        assert sorted(p.title or "" for p in second[0].posts) == [f"f{i} 3" for i in range(6)]
        assert "worker process failed" in caplog.text
        assert source.errors == {}
        assert not marker.exists()  # workers never run the __main__ script

    async def test_workers_that_cannot_start_leave_every_feed_to_the_loop(
        self, server, caplog, monkeypatch
    ):
        """Worker processes that end at once are not started again: the loop polls alone."""
        monkeypatch.setattr(feeds_module, "_FEEDS_PER_TASK", 1)
        monkeypatch.setattr(feeds_module, "_WORKER_BOOT", "import sys; sys.exit(3)")
        feeds = _Feeds()
        urls = feeds.serve(server, 5)
        source = FeedsSource(urls=urls, parse_workers=1, retry=RetryPolicy.disabled())
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert sum(len(p.posts) for p in pages) == 10
        assert source.errors == {}
        assert caplog.text.count("worker process failed") >= 1
        assert source._workers is None  # closed

    async def test_with_a_client_of_its_own_workers_only_parse(self, server):
        """An injected client cannot move to a worker process: the workers parse only."""
        data = _own("xhtml.atom")
        server.routes["/feed.atom"] = Reply(200, {"Content-Type": "application/atom+xml"}, data)
        inline = FeedsSource(urls=[server.url + "/feed.atom"])
        async with httpx.AsyncClient() as client:
            workers = FeedsSource(urls=[server.url + "/feed.atom"], parse_workers=1, client=client)
            try:
                expected = [p async for p in inline.pages(None, follow=False)]
                got = [p async for p in workers.pages(None, follow=False)]
            finally:
                await inline.aclose()
                await workers.aclose()

        assert [p.posts for p in got] == [p.posts for p in expected]
        assert len(got[0].posts) == 2
        assert len(server.requests) == 2  # both through the loop's clients

    async def test_same_document_without_validators_changes_nothing(self, server):
        """A server without ETag/Last-Modified sends the same feed: no page, no cursor write."""
        data = _own("xhtml.atom")
        server.routes["/feed.atom"] = Reply(200, {"Content-Type": "application/atom+xml"}, data)
        source = FeedsSource(urls=[server.url + "/feed.atom"])
        try:
            first = [p async for p in source.pages(None, follow=False)]
            again = [p async for p in source.pages(first[-1].cursor, follow=False)]
        finally:
            await source.aclose()

        assert len(first[0].posts) == 2
        assert again == []

    async def test_per_host_limit(self, server):
        """No more than per_host requests to one host are in flight at once."""
        feeds = _Feeds(delay=0.05)
        urls = feeds.serve(server, 12)
        source = FeedsSource(urls=urls, per_host=3)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert sum(len(p.posts) for p in pages) == 24
        assert feeds.peak == 3

    async def test_a_broken_feed_does_not_stop_the_others(self, server):
        """A 404, an HTML page and a refused connection are reported; good feeds still come."""
        server.routes["/ok/feed"] = _Feeds()
        server.routes["/html"] = Reply(
            200, {"Content-Type": "text/html"}, b"<html><p>Maintenance</p></html>"
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{s.getsockname()[1]}/feed"
        urls = [f"{server.url}/ok/feed", f"{server.url}/missing", f"{server.url}/html", closed]
        source = FeedsSource(urls=urls, retry=RetryPolicy.disabled())
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert len(pages[0].posts) == 2
        assert {urls[1], urls[2], urls[3]} == set(source.errors)
        assert "404" in source.errors[urls[1]]
        assert len(pages[0].malformed) == 1
        assert "Maintenance" in pages[0].malformed[0].payload
        assert [urls[0]] == list(json.loads(pages[0].cursor or "")["feeds"])


def test_markup_is_sanitized():
    """A script in entry content is removed from the markup and never reaches the text."""
    [post] = parse(
        _shared("feedparser__wellformed__sanitize__entry_content_script.xml"),
        url="http://f.test/",
        fetched_at=FETCHED,
    )

    assert post.text == "safe description"
    assert post.html == "safe description"


@pytest.mark.parametrize(
    ("per_host", "private", "shared", "limits"),
    [
        pytest.param(
            4, [[], []], list(range(9)), [dict.fromkeys("abc", 2)] * 2, id="hosts-shared"
        ),
        pytest.param(
            3, [[], []], list(range(9)), [dict.fromkeys("abc", 1)] * 2, id="per-host-rounded-down"
        ),
        pytest.param(
            1,
            [[0, 1, 2, 3, 4, 5], [6, 7, 8]],
            [],
            [{"a": 1}, {"b": 1, "c": 1}],
            id="hosts-private-to-the-least-busy",
        ),
    ],
)
def test_feeds_are_planned_among_lanes(per_host, private, shared, limits):
    """A host is shared by the lanes only if each can have one of its per_host requests."""
    plan = _Plan.of({"a": [0, 1, 2, 3, 4, 5], "b": [6], "c": [7, 8]}, 2, per_host)

    assert (plan.private, plan.shared, plan.limits) == (private, shared, limits)
