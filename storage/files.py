"""Recognising DATABASE_PATH before anything writes to it.

`PRAGMA journal_mode = WAL` and the migrations write, so a wrong path (another application's
SQLite file, a text file, a folder) must be recognised first and refused untouched: the header
is read as plain bytes, and only then, if needed, an SQLite connection in read-only mode (which
never writes the file, and creates no -wal/-shm beside a file that is not in WAL mode) looks at
`application_id`, `user_version` and the tables.
"""

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from storage.errors import DatabaseFileError, ForeignDatabaseError
from storage.migrations import APPLICATION_ID

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
_USER_VERSION = slice(60, 64)  # big-endian fields of the database header
_APPLICATION_ID = slice(68, 72)
# Tables every Soundalike file has had since schema version 1: how a file made before
# application_id existed is told from a stranger's.
OWN_TABLES = frozenset({"users", "tracks", "embeddings", "catalog_state"})


@dataclass(frozen=True, slots=True)
class FileState:
    """What `probe` found: `new` files (absent, empty or schema-less) are ours to initialise."""

    new: bool
    application_id: int = 0
    user_version: int = 0
    immutable: bool = False  # read-only location without -wal/-shm: open with immutable=1


def sqlite_uri(path: Path, *, read_only: bool, immutable: bool = False) -> str:
    """A `file:` URI for sqlite3.connect(uri=True); mode=ro can never write the file."""
    query = "mode=ro" if read_only else "mode=rwc"
    if immutable:
        query += "&immutable=1"
    return f"file:{quote(str(path.absolute()))}?{query}"


def writable(path: Path) -> bool:
    """Whether a writing open can succeed: the file (if any) and its folder accept writes.

    The folder matters too: WAL keeps `-wal` and `-shm` files beside the database. os.access
    reports a read-only mount even to root (EROFS), though root ignores permission bits.
    """
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # created by the writing open
        folder = folder.parent
    if not folder.is_dir():
        return True  # a file in the folder's place: not read-only; the writing open says what
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


def probe(path: Path, *, timeout: float = 5.0) -> FileState:
    """Classify `path` without writing to it; raise DatabaseFileError for what isn't ours."""
    if path.is_dir():
        raise DatabaseFileError(path, "is a folder; DATABASE_PATH must name the database file")
    if not path.exists():
        return FileState(new=True)
    if not path.is_file():
        raise DatabaseFileError(path, "is not a regular file; DATABASE_PATH must name a file")
    try:
        with path.open("rb") as file:
            header = file.read(HEADER_SIZE)
    except OSError as error:
        raise DatabaseFileError(path, f"cannot be read ({error.strerror or error})") from error
    if not header:
        return FileState(new=True)  # an empty file is a new SQLite database
    if len(header) < HEADER_SIZE or not header.startswith(SQLITE_MAGIC):
        raise DatabaseFileError(path, "is not an SQLite database; point DATABASE_PATH elsewhere")
    raw_id = int.from_bytes(header[_APPLICATION_ID], "big")
    if raw_id not in (0, APPLICATION_ID):
        raise _foreign(path, f"application_id {raw_id:#010x}")
    # The header can lag behind a WAL file's newer pages: SQLite has the last word.
    application_id, user_version, tables, immutable = _read_identity(path, timeout)
    if application_id == APPLICATION_ID:
        return FileState(False, application_id, user_version, immutable)
    if application_id != 0:
        raise _foreign(path, f"application_id {application_id:#010x}")
    if not tables and user_version == 0:
        return FileState(True, 0, 0, immutable)
    if user_version >= 1 and tables >= OWN_TABLES:
        return FileState(False, 0, user_version, immutable)  # made before application_id
    listed = ", ".join(sorted(tables)[:5]) or "none"
    raise _foreign(path, f"user_version {user_version}, tables: {listed}")


def _foreign(path: Path, evidence: str) -> ForeignDatabaseError:
    return ForeignDatabaseError(
        path,
        f"is another application's SQLite database ({evidence}); it was left untouched — "
        "point DATABASE_PATH at Soundalike's file or a new one",
    )


def _read_identity(path: Path, timeout: float) -> tuple[int, int, frozenset[str], bool]:
    """application_id, user_version, table names, and whether immutable=1 was needed.

    A WAL file on a read-only location can't be opened even with mode=ro when its `-shm`
    can't be created; with no `-wal` there is nothing beyond the main file, so it is read
    as immutable (nothing can write it through this location either).
    """
    immutable = False
    while True:
        try:
            conn = sqlite3.connect(
                sqlite_uri(path, read_only=True, immutable=immutable), uri=True, timeout=timeout
            )
            try:
                application_id = conn.execute("PRAGMA application_id").fetchone()[0]
                user_version = conn.execute("PRAGMA user_version").fetchone()[0]
                rows = conn.execute(
                    "SELECT name FROM sqlite_master "
                    "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.OperationalError as error:
            if immutable or not _wal_index_missing(path):
                raise DatabaseFileError(path, f"cannot be opened ({error})") from error
            immutable = True
            continue
        except sqlite3.DatabaseError as error:
            raise DatabaseFileError(
                path, f"is not an SQLite database ({error}); point DATABASE_PATH elsewhere"
            ) from error
        return int(application_id), int(user_version), frozenset(r[0] for r in rows), immutable


def _wal_index_missing(path: Path) -> bool:
    """True when no -wal/-shm exist and none can be created: a WAL file on a read-only mount."""
    siblings = (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
    return not any(p.exists() for p in siblings) and not writable(path)
