"""A full disk, for real: SQLite's SQLITE_FULL on a database file that may not grow
(PRAGMA max_page_count), surfacing as DiskFullError that names what was not saved."""

import sqlite3

import numpy as np
import pytest

from storage import Database, SentMedia
from storage.errors import DiskFullError

UNLIMITED = 1073741823


async def _cap_at_current_size(db: Database) -> None:
    row = await db.connector.fetchone("PRAGMA page_count")
    assert row is not None
    await db.connector.execute(f"PRAGMA max_page_count = {int(row[0])}")


async def test_whitelisting_on_a_full_disk_raises_disk_full_error(db: Database) -> None:
    await _cap_at_current_size(db)
    with pytest.raises(DiskFullError, match=r"could not save user \d+: .*full") as caught:
        for telegram_id in range(1, 100_000):
            await db.users.allow(telegram_id, None)
    cause = caught.value.__cause__
    assert isinstance(cause, sqlite3.OperationalError)
    assert cause.sqlite_errorname == "SQLITE_FULL"
    await db.connector.execute(f"PRAGMA max_page_count = {UNLIMITED}")  # space again
    assert (await db.users.allow(10**9, None)).whitelisted  # the database carries on


async def test_saving_a_query_on_a_full_disk_raises_disk_full_error(db: Database) -> None:
    ids, scores = np.arange(100, dtype=np.int64), np.linspace(1, 0, 100, dtype=np.float32)
    await _cap_at_current_size(db)
    with pytest.raises(DiskFullError, match="could not save the query"):
        for _ in range(10_000):
            await db.queries.save(1, SentMedia("voice"), "m", ids, scores, 0.5)


async def test_other_storage_errors_pass_unchanged(db: Database) -> None:
    await _cap_at_current_size(db)
    with pytest.raises(sqlite3.IntegrityError):  # no such query: a foreign key, not the disk
        await db.feedback.vote(12345, 1, 1)
