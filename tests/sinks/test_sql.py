"""SQL table sinks: SQLite file and the machine's PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _sinks_support import deliveries, make_post, require

from socialplug.exceptions import ConfigurationError, DeliveryError
from socialplug.model import Alert, Post
from socialplug.sinks.sql import PostgresSink, SQLiteSink, item_of_row


pytestmark = pytest.mark.anyio

PG = "postgresql://postgres@127.0.0.1:5432/test"


def sqlite_rows(path: Path, table: str = "posts") -> list[dict[str, Any]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f'SELECT * FROM "{table}" ORDER BY key')]
    finally:
        db.close()


class TestSQLiteSink:
    async def test_rows_hold_queryable_columns_and_the_lossless_item(self, tmp_path):
        """Each post becomes a row with its fields in columns and the whole post as JSON."""
        sink = SQLiteSink(tmp_path / "out.db")
        post = make_post(3)
        await sink.deliver(deliveries([post]))
        await sink.aclose()

        (row,) = sqlite_rows(tmp_path / "out.db")
        assert post.key == row["key"]
        assert row["platform"] == "mastodon"
        assert row["author"] == "rider3@example.social"
        assert post.created_at == datetime.fromisoformat(row["created_at"])
        assert post.text == row["text"]
        assert row["sentiment"] == "negative"
        assert row["sentiment_score"] == -0.8
        assert json.loads(row["matched"]) == ["rail"]
        assert row["route"] == "ops"
        assert row["likes"] == 3
        back = item_of_row(row)
        assert post == back
        assert isinstance(back, Post)
        assert dict(post.raw) == dict(back.raw)

    async def test_replay_upserts_instead_of_duplicating(self, tmp_path):
        """Delivering the same keys again updates rows: no duplicates, latest text wins."""
        sink = SQLiteSink(tmp_path / "out.db", table="mentions")
        posts = [make_post(i) for i in range(5)]
        await sink.deliver(deliveries(posts))
        edited = posts[2].annotate(severity="high")
        edited = Post.from_dict({**edited.to_dict(), "text": "edited"})
        await sink.deliver(deliveries([posts[0], edited, edited]))
        await sink.aclose()

        rows = sqlite_rows(tmp_path / "out.db", "mentions")
        assert len(rows) == 5
        assert {p.key for p in posts} == {r["key"] for r in rows}
        by_key = {r["key"]: r for r in rows}
        assert by_key[posts[2].key]["text"] == "edited"
        assert by_key[posts[2].key]["severity"] == "high"
        assert SQLiteSink.idempotent

    async def test_older_table_is_migrated_keeping_its_rows(self, tmp_path):
        """A table missing newer columns gains them; existing rows stay."""
        path = tmp_path / "old.db"
        db = sqlite3.connect(path)
        db.execute('CREATE TABLE posts ("key" TEXT PRIMARY KEY, "text" TEXT, "item" TEXT)')
        db.execute("INSERT INTO posts VALUES ('old:1', 'kept', '{}')")
        db.commit()
        db.close()

        sink = SQLiteSink(path)
        await sink.deliver(deliveries([make_post(1)]))
        await sink.aclose()

        rows = sqlite_rows(path)
        assert [r["key"] for r in rows] == [
            "mastodon:https://example.social/@rail/1130000001",
            "old:1",
        ]
        assert rows[1]["text"] == "kept"
        assert rows[0]["route"] == "ops"

    async def test_alerts_are_stored_too(self, tmp_path):
        """An alert gets a row of kind 'alert' and round-trips."""
        alert = Alert(
            kind="spike",
            key="spike:rail:1",
            title="Spike",
            summary="40 posts in 5 min",
            severity="P2",
            created_at=datetime(2026, 3, 1, tzinfo=UTC),
            posts=(make_post(1),),
        )
        sink = SQLiteSink(tmp_path / "a.db")
        await sink.deliver(deliveries([alert]))
        await sink.aclose()

        (row,) = sqlite_rows(tmp_path / "a.db")
        assert (row["kind"], row["severity"]) == ("alert", "P2")
        assert alert == item_of_row(row)

    async def test_locked_database_is_retryable_and_sink_recovers(self, tmp_path):
        """A lock held by another writer is a retryable failure; the next attempt succeeds."""
        path = tmp_path / "locked.db"
        sink = SQLiteSink(path, timeout=0.05)
        await sink.deliver(deliveries([make_post(0)]))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries([make_post(1)]))
        other.execute("ROLLBACK")
        other.close()
        await sink.deliver(deliveries([make_post(1)]))
        await sink.aclose()

        assert info.value.retryable
        assert len(sqlite_rows(path)) == 2

    async def test_foreign_table_is_a_permanent_failure(self, tmp_path):
        """A table of the same name that is not ours is refused without retry."""
        path = tmp_path / "foreign.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT)")
        db.commit()
        db.close()
        sink = SQLiteSink(path)

        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries([make_post(0)]))
        await sink.aclose()

        assert not info.value.retryable

    def test_table_names_are_checked(self, tmp_path):
        """A table name that is not an identifier is refused before any I/O."""
        with pytest.raises(ConfigurationError):
            SQLiteSink(tmp_path / "x.db", table='posts"; DROP TABLE x; --')


@pytest.fixture(name="pg")
async def _pg(unique):
    require("postgres")
    import psycopg

    conn = await psycopg.AsyncConnection.connect(PG, autocommit=True)
    yield conn, unique
    await conn.execute(f'DROP TABLE IF EXISTS "{unique}"')
    await conn.close()


async def pg_rows(conn: Any, table: str) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f'SELECT * FROM "{table}" ORDER BY key')
        return list(await cur.fetchall())


@pytest.mark.service
class TestPostgresSink:
    @pytest.mark.parametrize(
        "threshold", [pytest.param(1, id="copy"), pytest.param(10_000, id="multirow")]
    )
    async def test_batches_upsert_through_copy_and_multirow(self, pg, threshold):
        """
        Both write paths store typed columns, dedupe in and across batches (a COPY batch
        mixing new and known keys falls back to the merge), and keep the JSON.
        """
        conn, table = pg
        sink = PostgresSink(PG, table=table, copy_threshold=threshold)
        posts = [make_post(i) for i in range(50)]
        await sink.deliver(deliveries(posts))
        again = [*posts[:10], Post.from_dict({**posts[3].to_dict(), "text": "v2"}), make_post(99)]
        await sink.deliver(deliveries(again))
        await sink.aclose()

        rows = await pg_rows(conn, table)
        assert len(rows) == 51
        by_key = {r["key"]: r for r in rows}
        row = by_key[posts[3].key]
        assert row["text"] == "v2"
        assert posts[3].created_at == row["created_at"]
        assert row["matched"] == ["rail"]
        assert row["sentiment_score"] == -0.8
        assert posts[7] == item_of_row(by_key[posts[7].key])

    async def test_existing_table_is_migrated(self, pg):
        """Missing columns are added to an older table and its rows kept."""
        conn, table = pg
        await conn.execute(f'CREATE TABLE "{table}" (key text PRIMARY KEY, item jsonb)')
        await conn.execute(f"""INSERT INTO "{table}" VALUES ('old:1', '{{}}')""")
        sink = PostgresSink(PG, table=table)
        await sink.deliver(deliveries([make_post(1)]))
        await sink.aclose()

        rows = await pg_rows(conn, table)
        assert len(rows) == 2
        assert rows[0]["platform"] == "mastodon"

    async def test_injected_connection_is_used_and_not_closed(self, pg):
        """With connection=..., the sink writes through it and leaves it open."""
        import psycopg

        conn, table = pg
        mine = await psycopg.AsyncConnection.connect(PG)
        sink = PostgresSink(connection=mine, table=table)
        await sink.deliver(deliveries([make_post(1), make_post(2)]))
        await sink.aclose()

        assert not mine.closed
        await mine.close()
        assert len(await pg_rows(conn, table)) == 2

    async def test_unreachable_server_is_retryable_without_secret(self, unused_tcp_port):
        """A refused connection is retryable; the password never shows in errors or repr."""
        sink = PostgresSink(
            f"postgresql://u:hunter2secret@127.0.0.1:{unused_tcp_port}/test?connect_timeout=2"
        )
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries([make_post(1)]))
        await sink.aclose()

        assert info.value.retryable
        assert "hunter2secret" not in str(info.value)
        assert "hunter2secret" not in repr(sink)

    async def test_bad_data_is_permanent(self, pg):
        """A row the table refuses (NUL byte in text) dead-letters instead of retrying."""
        conn, table = pg
        sink = PostgresSink(PG, table=table)
        with pytest.raises(DeliveryError) as info:
            await sink.deliver(deliveries([make_post(1, text="nul\x00byte")]))
        await sink.deliver(deliveries([make_post(2)]))
        await sink.aclose()

        assert not info.value.retryable
        assert len(await pg_rows(conn, table)) == 1


def test_sinks_bring_batching_defaults_the_pipeline_uses(tmp_path):
    """A pipeline batches a table sink by the sink's own policy unless told otherwise."""
    from socialplug import Pipeline, SinkPolicy
    from socialplug.testing import StaticSource

    sink = SQLiteSink(tmp_path / "p.db")
    default = Pipeline(sources=[StaticSource([])], sinks={"db": sink})
    custom = Pipeline(
        sources=[StaticSource([])], sinks={"db": sink}, policies={"db": SinkPolicy(batch_size=7)}
    )

    assert default.policy("db").batch_size == 500
    assert custom.policy("db").batch_size == 7
