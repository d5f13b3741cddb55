"""What DATABASE_PATH may point at: Soundalike's file (old or new) opens; anything else is refused
in one clear error naming the path, before a single byte of it changes."""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiosqlite
import pytest

from storage import (
    APPLICATION_ID,
    LATEST_VERSION,
    MIGRATIONS,
    Database,
    DatabaseFileError,
    ForeignDatabaseError,
    SchemaTooOldError,
    migrate,
)


def snapshot(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and every name beside it (a -wal or -shm would show up here)."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def foreign_with_id(path: Path) -> None:
    """A GeoPackage-like file: its own application_id, rollback journal."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA application_id = 0x47504B47")
        conn.execute("CREATE TABLE gpkg_contents (table_name TEXT)")
    conn.close()


def foreign_without_id(path: Path) -> None:
    """The common case: an app that sets neither application_id nor user_version."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()


def foreign_with_a_version(path: Path) -> None:
    """Another app that counts its own schema versions in user_version."""
    foreign_without_id(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    conn.close()


def text_file(path: Path) -> None:
    path.write_text("DATABASE_PATH=oops\n" * 20)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (foreign_with_id, ForeignDatabaseError, "another application's SQLite database"),
        (foreign_without_id, ForeignDatabaseError, "another application's SQLite database"),
        (foreign_with_a_version, ForeignDatabaseError, "another application's SQLite database"),
        (text_file, DatabaseFileError, "is not an SQLite database"),
    ],
)
@pytest.mark.parametrize("read_only", [False, True])
async def test_files_that_are_not_ours_are_refused_untouched(
    tmp_path: Path,
    make: Callable[[Path], None],
    error: type[Exception],
    message: str,
    read_only: bool,
) -> None:
    path = tmp_path / "other.db"
    make(path)
    before = snapshot(path)
    with pytest.raises(error, match=message) as caught:
        await Database(path, read_only=read_only).open()
    assert str(path) in str(caught.value)
    assert snapshot(path) == before  # byte-identical, and no -wal/-shm appeared


async def test_a_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatabaseFileError, match="is a folder") as caught:
        await Database(tmp_path).open()
    assert str(caught.value).startswith(f"{tmp_path}:")
    assert list(tmp_path.iterdir()) == []


async def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(DatabaseFileError, match="folder cannot be created"):
        await Database(tmp_path / "data" / "soundalike.sqlite3").open()


async def test_a_file_made_before_application_id_opens_and_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn, MIGRATIONS[:3]) == 3
        await conn.execute("INSERT INTO users (telegram_id, whitelisted) VALUES (7, 1)")
    async with Database(path) as db:
        assert await db.schema_version() == LATEST_VERSION
        assert await db.users.is_whitelisted(7)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    raw.close()


async def test_read_only_reads_and_never_writes(tmp_path: Path) -> None:
    """mode=ro: no WAL switch, no migration, writes refused by SQLite itself."""
    path = tmp_path / "soundalike.sqlite3"
    async with Database(path) as db:
        await db.users.allow(42, None)
    before = path.read_bytes()
    async with Database(path, read_only=True) as db:
        assert [user.telegram_id for user in await db.users.list()] == [42]
        assert (await db.tracks.stats()).tracks == 0
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
            await db.users.allow(7, None)
    assert path.read_bytes() == before


async def test_read_only_refuses_a_file_that_needs_migrating(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn, MIGRATIONS[:2])
    before = snapshot(path)
    with pytest.raises(SchemaTooOldError, match="run a writing command"):
        await Database(path, read_only=True).open()
    assert snapshot(path) == before


async def test_read_only_does_not_create_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.sqlite3"
    with pytest.raises(SchemaTooOldError, match="no Soundalike database yet"):
        await Database(path, read_only=True).open()
    assert not path.exists()
