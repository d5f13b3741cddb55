"""Typed storage failures, so callers can tell a bad database from a bad argument."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


class StorageError(Exception):
    """Base class of every error this package raises on purpose."""


class JournalModeError(StorageError):
    """SQLite refused WAL (e.g. an in-memory or network file): concurrent use would lock up."""


class SchemaTooNewError(StorageError):
    """The file was migrated by newer code; opening it with this code could corrupt it."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this code knows ({known}); "
            "upgrade Soundalike instead of downgrading the database"
        )
        self.found = found
        self.known = known


class DuplicateTrackError(StorageError):
    """A track with the same content hash is already in the catalog."""

    def __init__(self, sha256: str, track_id: int) -> None:
        super().__init__(f"a track with sha256 {sha256} already exists (id {track_id})")
        self.sha256 = sha256
        self.track_id = track_id


class DimensionMismatchError(StorageError):
    """Vectors of one model id disagree on their length, so they cannot form one matrix."""


class DatabaseFileError(StorageError):
    """DATABASE_PATH can't serve as Soundalike's database (a folder, not SQLite, unreadable…).

    The message names the path and says what to do, so the CLI and the bot print it as is.
    """

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


class ForeignDatabaseError(DatabaseFileError):
    """An SQLite file that belongs to another application; refused before anything writes."""


class ReadOnlyDatabaseError(DatabaseFileError):
    """The file or its folder can't be written, and this use of the database needs to write."""


class SchemaTooOldError(DatabaseFileError):
    """Opened read-only, the file lacks migrations this code needs (and can't apply them)."""


class DiskFullError(StorageError):
    """SQLite could not write: the disk (or the file's size limit) is full (SQLITE_FULL).

    Raised instead of the bare sqlite3.OperationalError so the bot can say what failed
    ("could not save: the disk is full") instead of a generic apology.
    """


@contextmanager
def disk_full_as_error(what: str) -> Iterator[None]:
    """Turn SQLITE_FULL raised inside the block into DiskFullError naming `what` was not
    saved; every other error passes unchanged."""
    try:
        yield
    except sqlite3.Error as error:
        if (getattr(error, "sqlite_errorcode", 0) & 0xFF) != sqlite3.SQLITE_FULL:
            raise
        raise DiskFullError(f"could not save {what}: the database or disk is full") from error
