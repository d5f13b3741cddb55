"""Opening the file: pragmas, refusal of unusable files, transactions."""

import ast
import sqlite3
from pathlib import Path

import pytest

from storage import (
    LATEST_VERSION,
    Database,
    JournalModeError,
    SchemaTooNewError,
    StorageError,
)


async def pragma(db: Database, name: str) -> object:
    row = await db.connector.fetchone(f"PRAGMA {name}")
    assert row is not None
    return row[0]


async def test_open_creates_parent_dirs_and_sets_pragmas(db_path: Path) -> None:
    assert not db_path.parent.exists()
    async with Database(db_path, busy_timeout_ms=1234) as db:
        assert db_path.is_file()
        assert await pragma(db, "journal_mode") == "wal"
        assert await pragma(db, "foreign_keys") == 1
        assert await pragma(db, "busy_timeout") == 1234
        assert await db.schema_version() == LATEST_VERSION
    assert not db.is_open


async def test_wal_persists_for_other_connections(db: Database, db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


async def test_schema_has_the_expected_tables(db: Database) -> None:
    rows = await db.connector.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    names = {row["name"] for row in rows}
    assert {"users", "tracks", "embeddings", "queries", "feedback", "catalog_state"} <= names


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.connector.execute(
            "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (999, 'm', 1, ?)",
            (b"\0\0\0\0",),
        )


async def test_in_memory_database_is_refused_for_lack_of_wal() -> None:
    with pytest.raises(JournalModeError, match="'memory'"):
        await Database(":memory:").open()


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with Database(db_path):
        pass
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaTooNewError, match="newer than this code knows") as caught:
        await Database(db_path).open()
    assert caught.value.found == LATEST_VERSION + 1
    assert caught.value.known == LATEST_VERSION


async def test_use_before_open_and_double_open_are_errors(db_path: Path) -> None:
    db = Database(db_path)
    with pytest.raises(StorageError, match="not open"):
        await db.tracks.list()
    await db.open()
    try:
        with pytest.raises(StorageError, match="already open"):
            await db.open()
    finally:
        await db.close()
    await db.close()  # closing twice is harmless


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    async with db.connector.transaction() as tx:
        await tx.execute("INSERT INTO users (telegram_id) VALUES (1)")
    with pytest.raises(RuntimeError):
        async with db.connector.transaction() as tx:
            await tx.execute("INSERT INTO users (telegram_id) VALUES (2)")
            raise RuntimeError("abort")
    rows = await db.connector.fetchall("SELECT telegram_id FROM users ORDER BY 1")
    assert [row[0] for row in rows] == [1]
    assert not db.connector.connection.in_transaction


def test_only_the_database_module_builds_on_the_database() -> None:
    """The repositories and the cache depend on the connector, never on `Database` (no cycle)."""
    package = Path(__file__).resolve().parents[2] / "storage"
    importers = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "storage.database":
                importers.add(module.name)
    assert importers == {"__init__.py"}
