"""The one SQLite file: connection set-up, migrations on open, and serialised access.

One `Database` owns one aiosqlite connection. An asyncio lock serialises its users, because a
connection has a single transaction: without the lock, one handler's statement could land inside
another handler's open transaction (and vanish with its rollback). Other connections and
processes share the file through WAL: readers never block the writer, writers wait
`busy_timeout` for each other instead of failing with "database is locked".
"""

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from storage.embeddings import EmbeddingRepository
from storage.errors import JournalModeError, SchemaTooNewError, StorageError
from storage.feedback import FeedbackRepository
from storage.migrations import LATEST_VERSION, migrate, schema_version
from storage.queries import QueryRepository
from storage.tracks import TrackRepository
from storage.users import UserRepository

DEFAULT_PATH = Path("data/soundalike.sqlite3")
DEFAULT_BUSY_TIMEOUT_MS = 5000
MIN_SQLITE_VERSION = (3, 35, 0)

Params = Iterable[Any]


class Session:
    """SQL helpers on a connection the caller holds exclusively (inside `Database`'s lock)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.connection = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self.connection.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run one statement and return its first row (also for INSERT … RETURNING)."""
        async with self.connection.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def fetchone_required(self, sql: str, params: Params = ()) -> sqlite3.Row:
        """Like fetchone, for statements that always yield a row (aggregates, upserts)."""
        row = await self.fetchone(sql, params)
        if row is None:
            raise StorageError(f"statement returned no row: {sql.split()[0]} …")
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one statement and return all its rows."""
        async with self.connection.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter tuple in `rows`."""
        async with self.connection.executemany(sql, [tuple(row) for row in rows]):
            pass


class Database:
    """The application's SQLite database and its repositories.

    Open it once (`await db.open()` or `async with Database(path) as db`) and share it; the
    repositories are attributes: `users`, `tracks`, `embeddings`, `queries`, `feedback`.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self.users = UserRepository(self)
        self.tracks = TrackRepository(self)
        self.embeddings = EmbeddingRepository(self)
        self.queries = QueryRepository(self)
        self.feedback = FeedbackRepository(self)

    async def open(self) -> Self:
        """Connect, set the pragmas, and migrate the file to the latest schema."""
        if self._conn is not None:
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
        self._conn = conn
        return self

    async def close(self) -> None:
        """Close the connection (a no-op when closed); waits for a running operation."""
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
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
        return self._conn is not None

    @property
    def connection(self) -> aiosqlite.Connection:
        """The raw connection, for diagnostics and tests; repositories go through `session`."""
        if self._conn is None:
            raise StorageError(f"database {self.path} is not open")
        return self._conn

    async def schema_version(self) -> int:
        async with self.session() as session:
            return await schema_version(session.connection)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """Exclusive use of the connection, in autocommit mode (each statement commits)."""
        async with self._lock:
            yield Session(self.connection)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Session]:
        """Exclusive use of the connection inside one transaction, committed on success.

        write=True begins IMMEDIATE: the write lock is taken up front (waiting busy_timeout),
        so the transaction can't fail half-way when it upgrades from reading to writing.
        write=False begins a read transaction: one consistent snapshot over several queries.
        """
        async with self._lock:
            session = Session(self.connection)
            await session.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield session
            except BaseException:
                if session.connection.in_transaction:
                    await session.connection.rollback()
                raise
            await session.execute("COMMIT")

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.session() as session:
            return await session.fetchone(sql, params)

    async def fetchone_required(self, sql: str, params: Params = ()) -> sqlite3.Row:
        async with self.session() as session:
            return await session.fetchone_required(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.session() as session:
            return await session.fetchall(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.session() as session:
            return await session.execute(sql, params)


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
