"""The one SQLite file: opening it (pragmas, migrations), its repositories, and closing it.

One `Database` owns one aiosqlite connection and hands the repositories a `Connector`, which
serialises their use of it. Other connections and processes share the file through WAL: readers
never block the writer, writers wait `busy_timeout` for each other instead of failing with
"database is locked".
"""

import asyncio
import os
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from storage.embeddings import EmbeddingRepository
from storage.errors import (
    DatabaseFileError,
    JournalModeError,
    ReadOnlyDatabaseError,
    SchemaTooNewError,
    SchemaTooOldError,
    StorageError,
)
from storage.feedback import FeedbackRepository
from storage.files import FileState, probe, sqlite_uri, writable
from storage.migrations import APPLICATION_ID, LATEST_VERSION, migrate, schema_version
from storage.queries import QueryRepository
from storage.session import Connector, Session
from storage.tracks import TrackRepository
from storage.users import UserRepository
from storage.yandex_ids import YandexIdRepository

DEFAULT_PATH = Path("data/soundalike.sqlite3")
DEFAULT_BUSY_TIMEOUT_MS = 5000
MIN_SQLITE_VERSION = (3, 35, 0)


class Database:
    """The application's SQLite database and its repositories.

    Open it once (`await db.open()` or `async with Database(path) as db`) and share it; the
    repositories are attributes: `users`, `tracks`, `embeddings`, `queries`, `feedback`,
    `yandex_ids`, all
    served by `connector` (also the way to run raw SQL, e.g. in diagnostics and tests).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self.connector = Connector(str(self.path))
        self.users = UserRepository(self.connector)
        self.tracks = TrackRepository(self.connector)
        self.embeddings = EmbeddingRepository(self.connector)
        self.queries = QueryRepository(self.connector)
        self.feedback = FeedbackRepository(self.connector)
        self.yandex_ids = YandexIdRepository(self.connector)

    async def open(self) -> Self:
        """Recognise the file, connect, set the pragmas, and migrate it to the latest schema.

        Nothing is written before the file is known to be ours (or new): another application's
        SQLite file, a text file or a folder raise DatabaseFileError and stay untouched.
        read_only=True opens with mode=ro and writes nothing at all (no WAL switch, no
        migration): for reading commands on a read-only file or mount.
        """
        if self.connector.is_open:
            raise StorageError(f"database {self.path} is already open")
        if str(self.path) == ":memory:":
            conn = await aiosqlite.connect(
                self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000
            )
        else:
            conn = await self._connect_file()
        try:
            conn.row_factory = sqlite3.Row
            try:
                if self.read_only:
                    await _configure_read_only(conn, self.path, self.busy_timeout_ms)
                else:
                    await _configure(conn, self.busy_timeout_ms)
                    version = await migrate(conn)
                    if version != LATEST_VERSION:
                        raise SchemaTooNewError(version, LATEST_VERSION)
            except sqlite3.DatabaseError as error:  # e.g. a read-only or full disk, a lock
                raise DatabaseFileError(self.path, f"cannot be opened ({error})") from error
        except BaseException:
            await conn.close()
            raise
        self.connector.attach(conn)
        return self

    async def _connect_file(self) -> aiosqlite.Connection:
        """Probe the file (raising for what isn't ours), then connect as `read_only` says."""
        timeout = self.busy_timeout_ms / 1000
        if not self.read_only and not self.path.parent.is_dir():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DatabaseFileError(
                    self.path, f"its folder cannot be created ({error.strerror or error})"
                ) from error
        state = await asyncio.to_thread(probe, self.path, timeout=timeout)
        if self.read_only:
            _check_readable_schema(self.path, state)
        elif not writable(self.path):
            raise ReadOnlyDatabaseError(
                self.path,
                "is read-only here (the file or its folder can't be written) and this needs "
                "to write; commands that only read still work",
            )
        uri = sqlite_uri(self.path, read_only=self.read_only, immutable=state.immutable)
        try:
            # isolation_level=None: no implicit transactions; every one here is explicit.
            return await aiosqlite.connect(uri, uri=True, isolation_level=None, timeout=timeout)
        except sqlite3.Error as error:
            raise DatabaseFileError(self.path, f"cannot be opened ({error})") from error

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


def _check_readable_schema(path: Path, state: FileState) -> None:
    """A read-only open can't migrate: the file must already be at this code's schema."""
    if state.new:
        raise SchemaTooOldError(
            path, "holds no Soundalike database yet; run a writing command first (e.g. import)"
        )
    if state.user_version > LATEST_VERSION:
        raise SchemaTooNewError(state.user_version, LATEST_VERSION)
    if state.user_version < LATEST_VERSION or state.application_id != APPLICATION_ID:
        raise SchemaTooOldError(
            path,
            f"has schema version {state.user_version}, older than this code's "
            f"{LATEST_VERSION}, and is read-only here; run a writing command on it once "
            "(e.g. `users list` where it is writable) to migrate it",
        )


async def _configure_read_only(
    conn: aiosqlite.Connection, path: Path, busy_timeout_ms: int
) -> None:
    """The pragmas that don't write; the schema is re-checked on this connection."""
    session = Session(conn)
    await session.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
    await session.execute("PRAGMA query_only = ON")  # belt and braces beside mode=ro
    await session.execute("PRAGMA foreign_keys = ON")
    version = await schema_version(conn)
    if version > LATEST_VERSION:
        raise SchemaTooNewError(version, LATEST_VERSION)
    if version < LATEST_VERSION:
        raise SchemaTooOldError(path, f"has schema version {version}; run a writing command first")


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
