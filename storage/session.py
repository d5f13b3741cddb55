"""Serialised use of one connection: what the repositories depend on, instead of `Database`.

A connection has a single transaction: without a lock, one handler's statement could land inside
another handler's open transaction (and vanish with its rollback). `Connector` holds that lock
and hands out `Session`s; `Database` opens and closes the connection it serves.
"""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from storage.errors import StorageError

Params = Iterable[Any]


class Session:
    """SQL helpers on a connection the caller holds exclusively (inside `Connector`'s lock)."""

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


class Connector:
    """Exclusive, one-at-a-time access to the connection `Database` attached (if any).

    `name` only labels errors (the file's path).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def connection(self) -> aiosqlite.Connection:
        """The raw connection, for diagnostics and tests; use `session` to run statements."""
        if self._conn is None:
            raise StorageError(f"database {self.name} is not open")
        return self._conn

    def attach(self, conn: aiosqlite.Connection) -> None:
        """Start serving `conn` (configured and migrated by its owner)."""
        if self._conn is not None:
            raise StorageError(f"database {self.name} is already open")
        self._conn = conn

    async def detach(self) -> aiosqlite.Connection | None:
        """Stop serving the connection, once a running operation ends; the owner closes it."""
        async with self._lock:
            conn, self._conn = self._conn, None
            return conn

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
