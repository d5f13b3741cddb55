"""Migrations: a new file and a file at every earlier version reach the latest schema intact."""

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import numpy as np
import pytest

from storage import APPLICATION_ID, LATEST_VERSION, MIGRATIONS, Database, Migration, Tally, migrate
from storage.codecs import encode_ranking, encode_vector

Seed = Callable[[aiosqlite.Connection], Awaitable[None]]
Check = Callable[[Database], Awaitable[None]]

VECTOR = np.arange(4, dtype=np.float32)
SHA = hashlib.sha256(b"a song").hexdigest()


async def seed_v1(conn: aiosqlite.Connection) -> None:
    await conn.execute(
        "INSERT INTO users (telegram_id, username, role, whitelisted, language) "
        "VALUES (7, 'ann', 'user', 1, 'ru')"
    )
    await conn.execute(
        "INSERT INTO tracks (id, sha256, title, artist) VALUES (1, ?, 'Song', 'Band')", (SHA,)
    )
    await conn.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector, tags) "
        """VALUES (1, 'm', 4, ?, '{"rock": 0.9}')""",
        (encode_vector(VECTOR),),
    )


async def check_v1(db: Database) -> None:
    assert await db.users.is_whitelisted(7)
    track = await db.tracks.get(1)
    assert track is not None and (track.title, track.artist) == ("Song", "Band")
    catalog = await db.embeddings.load_catalog("m")
    assert catalog.track_ids.tolist() == [1]
    np.testing.assert_array_equal(catalog.matrix[0], VECTOR)


async def seed_v2(conn: aiosqlite.Connection) -> None:
    ids, scores = encode_ranking([1], [0.5])
    await conn.execute(
        """INSERT INTO queries (id, user_id, input_kind, model_id, track_ids, scores, elapsed)
           VALUES (1, 7, 'audio', 'm', ?, ?, 0.25)""",
        (ids, scores),
    )
    await conn.execute("INSERT INTO feedback (query_id, user_id, vote) VALUES (1, 7, -1)")


async def check_v2(db: Database) -> None:
    query = await db.queries.get(1)
    assert query is not None and query.track_ids.tolist() == [1]
    assert await db.feedback.tally_by_model() == {"m": Tally(up=0, down=1)}


async def seed_v3(conn: aiosqlite.Connection) -> None:
    await conn.execute("INSERT INTO users (telegram_id, whitelisted) VALUES (8, 1)")
    await conn.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (1, 'n', 4, ?)",
        (encode_vector(VECTOR * 2),),
    )


async def check_v3(db: Database) -> None:
    assert await db.users.is_whitelisted(8)
    catalog = await db.embeddings.load_catalog("n")
    np.testing.assert_array_equal(catalog.matrix, [VECTOR * 2])


async def seed_v4(conn: aiosqlite.Connection) -> None:
    """Version 4 only marks the file; the data of the earlier versions must survive it."""


async def check_v4(db: Database) -> None:
    row = await db.connector.fetchone("PRAGMA application_id")
    assert row is not None and row[0] == APPLICATION_ID


async def seed_v5(conn: aiosqlite.Connection) -> None:
    await conn.execute(
        "INSERT INTO tracks (sha256, title, yandex_track_id) VALUES (?, 'Y', '12345')", ("e" * 64,)
    )


async def check_v5(db: Database) -> None:
    found = await db.tracks.find_by_yandex_id("12345")
    assert found is not None and found.title == "Y"
    plan = await db.connector.fetchall(
        "EXPLAIN QUERY PLAN SELECT id FROM tracks WHERE yandex_track_id = '12345'"
    )
    assert any("tracks_by_yandex_id" in str(row[-1]) for row in plan)


async def seed_v6(conn: aiosqlite.Connection) -> None:
    await conn.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector, sections) "
        "VALUES (1, 's', 4, ?, ?)",
        (encode_vector(VECTOR), np.stack([VECTOR, -VECTOR]).astype("<f2").tobytes()),
    )


async def check_v6(db: Database) -> None:
    found = await db.embeddings.sections("s", [1])
    np.testing.assert_array_equal(found[1], [VECTOR, -VECTOR])
    # vectors stored before sections existed stand for their track's only section
    np.testing.assert_array_equal((await db.embeddings.sections("m", [1]))[1], [VECTOR])
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # not a whole number of rows
        await db.connector.execute("UPDATE embeddings SET sections = x'0000' WHERE model_id = 's'")


async def seed_v7(conn: aiosqlite.Connection) -> None:
    await conn.execute("INSERT INTO yandex_ids (yandex_track_id, track_id) VALUES ('777', 1)")


async def check_v7(db: Database) -> None:
    """A re-issue's id finds the track; a track's own id is not recorded twice."""
    found = await db.tracks.find_by_yandex_id("777")
    assert found is not None and found.id == 1
    assert not await db.yandex_ids.add(1, "777") and await db.yandex_ids.add(1, "778")
    assert await db.yandex_ids.of_track(1) == ["777", "778"]
    own = await db.tracks.find_by_yandex_id("12345")
    assert own is not None and not await db.yandex_ids.add(own.id, "12345")
    await db.tracks.remove(1)
    assert await db.tracks.find_by_yandex_id("778") is None  # removed with the track


async def seed_v8(conn: aiosqlite.Connection) -> None:
    await conn.execute("UPDATE users SET other_artists = 1 WHERE telegram_id = 8")
    await conn.execute(
        "INSERT INTO queries (user_id, input_kind, model_id, track_ids, scores, elapsed, "
        "seed_track_id, seed_artist) VALUES (8, 'yandex', 'm', x'', x'', 0.1, 1, 'Кино')"
    )


async def check_v8(db: Database) -> None:
    """The switch is kept per user, off for everyone else; a query keeps what it asked about."""
    assert await db.users.other_artists(8) and not await db.users.other_artists(7)
    query = await db.queries.latest_for_user(8)
    assert query is not None and (query.sent.track_id, query.sent.artist) == (1, "Кино")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.connector.execute("UPDATE users SET other_artists = 2")


# Data a file at each version can hold, and how to see it survived. A new migration adds an entry.
DATA: dict[int, tuple[Seed, Check]] = {
    1: (seed_v1, check_v1),
    2: (seed_v2, check_v2),
    3: (seed_v3, check_v3),
    4: (seed_v4, check_v4),
    5: (seed_v5, check_v5),
    6: (seed_v6, check_v6),
    7: (seed_v7, check_v7),
    8: (seed_v8, check_v8),
}


async def build(path: Path, version: int) -> None:
    """A file at `version`: the first `version` migration steps, each followed by its data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        for step in range(1, version + 1):  # each version's data, written in its schema
            assert await migrate(conn, MIGRATIONS[:step]) == step
            seed, _ = DATA[step]
            await seed(conn)


async def schema(db: Database) -> list[tuple[str, str, str]]:
    rows = await db.connector.fetchall(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
    )
    return [(row[0], row[1], row[2]) for row in rows]


def test_every_version_has_test_data() -> None:
    assert set(DATA) == set(range(1, LATEST_VERSION + 1))


@pytest.mark.parametrize("version", range(LATEST_VERSION + 1))
async def test_open_upgrades_a_file_at_each_version(tmp_path: Path, version: int) -> None:
    fresh_path, old_path = tmp_path / "fresh.sqlite3", tmp_path / "old.sqlite3"
    await build(old_path, version)
    async with Database(old_path) as db:
        assert await db.schema_version() == LATEST_VERSION
        for step in range(1, version + 1):
            _, check = DATA[step]
            await check(db)
        upgraded = await schema(db)
    async with Database(fresh_path) as fresh:
        assert await schema(fresh) == upgraded  # the upgrade path ends where a new file starts


async def columns(db: Database, table: str) -> list[str]:
    return [row["name"] for row in await db.connector.fetchall(f"PRAGMA table_info({table})")]


@pytest.mark.parametrize("version", [0, 2])
async def test_columns_nothing_reads_are_dropped(tmp_path: Path, version: int) -> None:
    path = tmp_path / "db.sqlite3"
    await build(path, version)
    async with Database(path) as db:
        assert "tags" not in await columns(db, "embeddings")
        assert "language" not in await columns(db, "users")
        assert await columns(db, "users") == [
            "telegram_id",
            "username",
            "role",
            "whitelisted",
            "added_by",
            "added_at",
            "other_artists",
        ]


async def test_empty_file_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    path.touch()
    async with Database(path) as db:
        assert await db.schema_version() == LATEST_VERSION
        assert (await db.tracks.stats()).tracks == 0
        assert await db.embeddings.revision() == 0


async def test_a_failing_step_leaves_the_file_at_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    broken = Migration("broken", ("CREATE TABLE half_done (x INTEGER)", "NOT SQL AT ALL"))
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        with pytest.raises(aiosqlite.OperationalError):
            await migrate(conn, (*MIGRATIONS, broken))
        async with conn.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone()) == (LATEST_VERSION,)
        async with conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") as c:
            assert (await c.fetchone()) == (0,)


async def test_two_connections_opening_a_new_file_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first, second = Database(path), Database(path)
    try:
        await asyncio.gather(first.open(), second.open())
        assert await first.schema_version() == await second.schema_version() == LATEST_VERSION
    finally:
        await first.close()
        await second.close()
