"""File sinks (JSON Lines, CSV, Parquet) and the DataFrame collector."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest
from _sinks_support import deliveries, make_post

from socialplug.clock import ManualClock
from socialplug.exceptions import ConfigurationError, DeliveryError
from socialplug.model import item_from_dict
from socialplug.sinks.dataframe import DataFrameSink, to_frame
from socialplug.sinks.files import CSVSink, JSONLinesSink, ParquetSink


pytestmark = pytest.mark.anyio


class TestJSONLinesSink:
    async def test_lines_round_trip_losslessly(self, tmp_path):
        """Each line rebuilds the exact post, raw payload included, with route and key."""
        sink = JSONLinesSink(tmp_path / "out" / "posts.jsonl")
        posts = [make_post(i) for i in range(3)]
        batch = deliveries(posts)
        await sink.deliver(batch)
        await sink.deliver([])
        await sink.aclose()

        lines = (tmp_path / "out" / "posts.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        back = [item_from_dict(r["item"]) for r in records]
        assert back == posts
        assert [dict(p.raw) for p in posts] == [dict(b.raw) for b in back]
        assert [d.key for d in batch] == [r["delivery"] for r in records]
        assert {"ops"} == {r["route"] for r in records}
        assert "🚆" in lines[0]

    async def test_rotation_by_size_keeps_every_line_once(self, tmp_path):
        """Size rotation renames full files; together the files hold each post exactly once."""
        clock = ManualClock()
        sink = JSONLinesSink(tmp_path / "posts.jsonl", max_bytes=3000, clock=clock)
        posts = [make_post(i) for i in range(20)]
        for i in range(0, 20, 2):
            clock.current += timedelta(seconds=1)
            await sink.deliver(deliveries(posts[i : i + 2]))
        await sink.aclose()

        files = sorted(tmp_path.glob("posts*.jsonl"))
        keys = [
            json.loads(line)["item"]["key"] for f in files for line in f.read_text().splitlines()
        ]
        assert len(files) > 2
        assert sorted(p.key for p in posts) == sorted(keys)
        rotated = [f for f in files if f.name != "posts.jsonl"]
        assert all(f.stat().st_size >= 3000 for f in rotated)
        assert rotated[0].name.startswith("posts.20260101T0000")

    async def test_rotation_by_age_uses_the_clock(self, tmp_path):
        """A file open longer than max_age is rotated before the next batch."""
        clock = ManualClock()
        sink = JSONLinesSink(tmp_path / "p.jsonl", max_age=timedelta(minutes=5), clock=clock)
        await sink.deliver(deliveries([make_post(0)]))
        clock.current += timedelta(minutes=4)
        await sink.deliver(deliveries([make_post(1)]))
        clock.current += timedelta(minutes=2)
        await sink.deliver(deliveries([make_post(2)]))
        await sink.aclose()

        assert sorted(f.name for f in tmp_path.iterdir()) == [
            "p.20260101T000600000000Z.jsonl",
            "p.jsonl",
        ]
        assert len((tmp_path / "p.20260101T000600000000Z.jsonl").read_text().splitlines()) == 2

    async def test_rotated_files_read_back_with_the_jsonl_source(self, tmp_path):
        """JSONLSource reads the active and the rotated files: nothing lost, nothing new."""
        from socialplug.sources import JSONLSource

        sink = JSONLinesSink(tmp_path / "p.jsonl", max_bytes=2000)
        posts = [make_post(i) for i in range(8)]
        for p in posts:
            await sink.deliver(deliveries([p]))
        await sink.aclose()
        got = []
        for f in sorted(tmp_path.glob("p*.jsonl")):
            source = JSONLSource(f)
            got.extend(
                p
                for page in [pg async for pg in source.pages(None, follow=False)]
                for p in page.posts
            )
            await source.aclose()

        assert len(list(tmp_path.glob("p*.jsonl"))) > 1
        assert sorted(posts, key=lambda p: p.key) == sorted(got, key=lambda p: p.key)

    async def test_explicit_rotate_and_reopen(self, tmp_path):
        """rotate() closes the active file; delivering afterwards starts a fresh one."""
        sink = JSONLinesSink(tmp_path / "p.jsonl")
        assert await sink.rotate() is None
        await sink.deliver(deliveries([make_post(0)]))
        rotated = await sink.rotate()
        await sink.deliver(deliveries([make_post(1)]))
        await sink.aclose()

        assert rotated is not None
        assert len(rotated.read_text().splitlines()) == 1
        assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 1

    async def test_unwritable_path_is_permanent(self, tmp_path):
        """A path under a regular file cannot be written; not worth retrying."""
        (tmp_path / "file").write_text("x")
        sink = JSONLinesSink(tmp_path / "file" / "p.jsonl")
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries([make_post(0)]))

        assert not info.value.retryable

    def test_bad_limits_are_refused(self, tmp_path):
        """Zero or negative limits are configuration errors."""
        with pytest.raises(ConfigurationError):
            JSONLinesSink(tmp_path / "p.jsonl", max_bytes=0)
        with pytest.raises(ConfigurationError):
            JSONLinesSink(tmp_path / "p.jsonl", max_age=-1)


class TestCSVSink:
    async def test_header_once_per_file_and_values(self, tmp_path):
        """Each new file starts with the header; rows hold the queryable columns."""
        sink = CSVSink(tmp_path / "p.csv", max_bytes=2500)
        posts = [make_post(i) for i in range(6)]
        for p in posts:
            await sink.deliver(deliveries([p]))
        await sink.aclose()

        files = sorted(tmp_path.glob("p*.csv"))
        rows = []
        for f in files:
            with f.open(newline="", encoding="utf-8") as fh:
                reader = list(csv.DictReader(fh))
            rows.extend(reader)
        assert len(files) > 1
        assert sorted(p.key for p in posts) == sorted(r["key"] for r in rows)
        first = next(r for r in rows if r["key"] == posts[0].key)
        assert posts[0].text == first["text"]
        assert posts[0].created_at == datetime.fromisoformat(first["created_at"])
        assert json.loads(first["matched"]) == ["rail"]
        assert posts[0] == item_from_dict(json.loads(first["item"]))

    async def test_without_item_column(self, tmp_path):
        """include_item=False leaves the JSON column out."""
        sink = CSVSink(tmp_path / "p.csv", include_item=False)
        await sink.deliver(deliveries([make_post(0)]))
        await sink.aclose()

        header = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
        assert "item" not in header
        assert "text" in header


class TestParquetSink:
    async def test_each_batch_is_a_readable_typed_file(self, tmp_path):
        """Batches land as complete files; the folder reads back as one typed table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = ParquetSink(tmp_path / "ds")
        await sink.deliver(deliveries([make_post(i) for i in range(3)]))
        await sink.deliver(deliveries([make_post(i) for i in range(3, 5)]))
        await sink.aclose()

        files = sorted((tmp_path / "ds").iterdir())
        table = pq.read_table(tmp_path / "ds")
        assert len(files) == 2
        assert all(f.suffix == ".parquet" for f in files)
        assert table.num_rows == 5
        assert pa.timestamp("us", tz="UTC") == table.schema.field("created_at").type
        assert pa.list_(pa.string()) == table.schema.field("matched").type
        items = sorted(table.column("item").to_pylist())
        assert make_post(0).key in items[0]


class TestDataFrame:
    async def test_sink_frame_has_sensible_types_and_one_row_per_key(self):
        """Times are UTC datetimes, counts nullable ints, replays replace rows."""
        import pandas as pd

        sink = DataFrameSink()
        posts = [make_post(i) for i in range(4)]
        await sink.deliver(deliveries(posts))
        await sink.deliver(deliveries(posts[:2]))
        frame = sink.frame()

        assert 4 == len(frame) == len(sink)
        assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
        assert str(frame["likes"].dtype) == "Int64"
        assert isinstance(frame["platform"].dtype, pd.CategoricalDtype)
        assert pd.isna(frame.loc[posts[0].key, "replies"])
        assert frame.loc[posts[1].key, "matched"] == ["rail"]
        assert posts == sink.posts
        assert posts[2] == item_from_dict(json.loads(frame.loc[posts[2].key, "item"]))

    def test_to_frame_from_plain_posts(self):
        """to_frame turns collected posts into a frame without a pipeline."""
        frame = to_frame([make_post(1), make_post(2, lang=None)])

        assert [make_post(1).key, make_post(2).key] == list(frame.index)
        assert frame["lang"].isna().tolist() == [False, True]
        assert datetime(2026, 3, 1, 8, 30, 1, tzinfo=UTC) == frame["created_at"].iloc[0]
