"""The one SQLite file: opening it (pragmas, migrations), its repositories, and closing it.

One `Database` owns one aiosqlite connection and hands the repositories a `Connector`, which
serialises their use of it. Other connections and processes share the file through WAL: readers
never block the writer, writers wait `busy_timeout` for each other instead of failing with
"database is locked".
"""

import os
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from storage.embeddings import EmbeddingRepository
from storage.errors import JournalModeError, SchemaTooNewError, StorageError
from storage.feedback import FeedbackRepository
from storage.migrations import LATEST_VERSION, migrate, schema_version
from storage.queries import QueryRepository
from storage.session import Connector, Session
from storage.tracks import TrackRepository
from storage.users import UserRepository

DEFAULT_PATH = Path("data/soundalike.sqlite3")
DEFAULT_BUSY_TIMEOUT_MS = 5000
MIN_SQLITE_VERSION = (3, 35, 0)


class Database:
    """The application's SQLite database and its repositories.

    Open it once (`await db.open()` or `async with Database(path) as db`) and share it; the
    repositories are attributes: `users`, `tracks`, `embeddings`, `queries`, `feedback`, all
    served by `connector` (also the way to run raw SQL, e.g. in diagnostics and tests).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.connector = Connector(str(self.path))
        self.users = UserRepository(self.connector)
        self.tracks = TrackRepository(self.connector)
        self.embeddings = EmbeddingRepository(self.connector)
        self.queries = QueryRepository(self.connector)
        self.feedback = FeedbackRepository(self.connector)

    async def open(self) -> Self:
        """Connect, set the pragmas, and migrate the file to the latest schema."""
        if self.connector.is_open:
            raise StorageError(f"database {self.path} is already open")
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every one here is explicit.
        conn = await aiosqlite.connect(
            self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000
        )
        try:
            conn.row_factory = sqlite3.Row
            await _configure(conn, self.busy_timeout_ms)
            version = await migrate(conn)
            if version != LATEST_VERSION:
                raise SchemaTooNewError(version, LATEST_VERSION)
        except BaseException:
            await conn.close()
            raise
        self.connector.attach(conn)
        return self

    async def close(self) -> None:
        """Close the connection (a no-op when closed); waits for a running operation."""
        conn = await self.connector.detach()
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self.connector.is_open

    async def schema_version(self) -> int:
        async with self.connector.session() as session:
            return await schema_version(session.connection)


async def _configure(conn: aiosqlite.Connection, busy_timeout_ms: int) -> None:
    """Set and verify the pragmas every connection needs; busy_timeout first, so the rest wait."""
    if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        raise StorageError(
            f"SQLite {sqlite3.sqlite_version} is too old; "
            f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer is needed (RETURNING, JSON)"
        )
    session = Session(conn)
    await session.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
    row = await session.fetchone("PRAGMA journal_mode = WAL")
    mode = str(row[0]).lower() if row else "unknown"
    if mode != "wal":
        raise JournalModeError(
            f"SQLite kept journal_mode={mode!r} instead of 'wal' for this file; "
            "use a regular file on a local disk"
        )
    await session.execute("PRAGMA foreign_keys = ON")
    row = await session.fetchone("PRAGMA foreign_keys")
    if not row or row[0] != 1:
        raise StorageError("this SQLite build cannot enforce foreign keys")
    # In WAL mode NORMAL is durable against application crashes and much faster than FULL.
    await session.execute("PRAGMA synchronous = NORMAL")
