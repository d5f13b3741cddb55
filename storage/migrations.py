"""Versioned schema: `PRAGMA user_version` counts the steps of MIGRATIONS applied to a file.

A new schema version is a new `Migration` appended to MIGRATIONS — never an edit of an old one,
because files in the field have already run it. Each step runs in its own IMMEDIATE transaction
together with the bump of user_version, so a crash leaves the file at a whole version.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from storage.codecs import SQL_NOW
from storage.errors import SchemaTooNewError


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: SQL statements run in order, in one transaction."""

    description: str
    statements: tuple[str, ...]


# `PRAGMA application_id` of a Soundalike file ("SNDL"): how `storage.files` tells our file from
# another application's SQLite database before anything writes to it.
APPLICATION_ID = 0x534E444C

_CATALOG_CHANGED = "UPDATE catalog_state SET revision = revision + 1 WHERE id = 1;"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "users, tracks, embeddings and the catalog revision counter",
        (
            f"""CREATE TABLE users (
                telegram_id INTEGER PRIMARY KEY,
                username    TEXT,
                role        TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
                whitelisted INTEGER NOT NULL DEFAULT 0 CHECK (whitelisted IN (0, 1)),
                added_by    INTEGER,
                added_at    TEXT NOT NULL DEFAULT {SQL_NOW},
                language    TEXT
            )""",
            # AUTOINCREMENT: an id is never reused, so a stored ranking can't point at a new track.
            f"""CREATE TABLE tracks (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                sha256          TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
                title           TEXT NOT NULL,
                artist          TEXT,
                album           TEXT,
                duration        REAL CHECK (duration IS NULL OR duration >= 0),
                yandex_track_id TEXT,
                yandex_album_id TEXT,
                source_path     TEXT,
                added_at        TEXT NOT NULL DEFAULT {SQL_NOW}
            )""",
            f"""CREATE TABLE embeddings (
                track_id   INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
                model_id   TEXT NOT NULL,
                dim        INTEGER NOT NULL CHECK (dim > 0),
                vector     BLOB NOT NULL
                           CHECK (typeof(vector) = 'blob' AND length(vector) = 4 * dim),
                tags       TEXT CHECK (tags IS NULL OR json_valid(tags)),
                created_at TEXT NOT NULL DEFAULT {SQL_NOW},
                PRIMARY KEY (track_id, model_id)
            )""",
            "CREATE INDEX embeddings_by_model ON embeddings (model_id, track_id)",
            # One counter for the whole catalog, bumped by triggers in the writer's transaction:
            # any connection or process can tell its cached matrix is stale with one read.
            """CREATE TABLE catalog_state (
                id       INTEGER PRIMARY KEY CHECK (id = 1),
                revision INTEGER NOT NULL
            )""",
            "INSERT INTO catalog_state (id, revision) VALUES (1, 0)",
            f"CREATE TRIGGER embeddings_inserted AFTER INSERT ON embeddings "
            f"BEGIN {_CATALOG_CHANGED} END",
            f"CREATE TRIGGER embeddings_deleted AFTER DELETE ON embeddings "
            f"BEGIN {_CATALOG_CHANGED} END",
            f"CREATE TRIGGER embeddings_updated "
            f"AFTER UPDATE OF track_id, model_id, dim, vector ON embeddings "
            f"BEGIN {_CATALOG_CHANGED} END",
        ),
    ),
    Migration(
        "query history (top-100 rankings, paging position) and feedback",
        (
            # AUTOINCREMENT: buttons in old chat messages carry query ids; they must stay unique.
            f"""CREATE TABLE queries (
                id             INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id        INTEGER NOT NULL,
                created_at     TEXT NOT NULL DEFAULT {SQL_NOW},
                input_kind     TEXT NOT NULL,
                input_name     TEXT,
                input_size     INTEGER CHECK (input_size IS NULL OR input_size >= 0),
                input_duration REAL CHECK (input_duration IS NULL OR input_duration >= 0),
                model_id       TEXT NOT NULL,
                track_ids      BLOB NOT NULL,
                scores         BLOB NOT NULL,
                elapsed        REAL NOT NULL CHECK (elapsed >= 0),
                position       INTEGER NOT NULL DEFAULT 0 CHECK (position >= 0),
                CHECK (length(track_ids) % 8 = 0 AND length(track_ids) = 2 * length(scores))
            )""",
            "CREATE INDEX queries_by_user ON queries (user_id, id)",
            f"""CREATE TABLE feedback (
                query_id INTEGER NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
                user_id  INTEGER NOT NULL,
                vote     INTEGER NOT NULL CHECK (vote IN (-1, 1)),
                at       TEXT NOT NULL DEFAULT {SQL_NOW},
                PRIMARY KEY (query_id, user_id)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "drop columns nothing reads: embeddings.tags and users.language",
        (
            # Neither column is indexed, in a trigger (embeddings_updated names its columns and
            # not tags) or in another column's CHECK, so SQLite can drop them in place.
            "ALTER TABLE embeddings DROP COLUMN tags",
            "ALTER TABLE users DROP COLUMN language",
        ),
    ),
    Migration(
        "mark the file as Soundalike's (PRAGMA application_id), also in files made before",
        # Written to the header in this step's transaction, together with user_version.
        (f"PRAGMA application_id = {APPLICATION_ID:d}",),
    ),
    Migration(
        "find tracks by Yandex Music id without a scan (import-yandex's resume, link-yandex)",
        ("CREATE INDEX tracks_by_yandex_id ON tracks (yandex_track_id)",),
    ),
    Migration(
        "keep each vector's section vectors (little-endian float16 rows of `dim`), which name "
        "the track a clip comes from; NULL for vectors stored before",
        # Not named by embeddings_updated: sections leave the catalog matrix, so its revision,
        # as they are.
        (
            "ALTER TABLE embeddings ADD COLUMN sections BLOB CHECK (sections IS NULL "
            "OR (length(sections) > 0 AND length(sections) % (2 * dim) = 0))",
        ),
    ),
    Migration(
        "Yandex Music ids of a track besides its own (re-issues of the same audio), so that "
        "import-yandex recognises them without a download",
        (
            """CREATE TABLE yandex_ids (
                yandex_track_id TEXT PRIMARY KEY,
                track_id        INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE
            )""",
            "CREATE INDEX yandex_ids_by_track ON yandex_ids (track_id)",
        ),
    ),
    Migration(
        "a user's 'other artists only' switch, and what each query asked about (the catalog "
        "track, the artist), which that switch and exploring from a result need",
        (
            "ALTER TABLE users ADD COLUMN other_artists INTEGER NOT NULL DEFAULT 0 "
            "CHECK (other_artists IN (0, 1))",
            "ALTER TABLE queries ADD COLUMN seed_track_id INTEGER",
            "ALTER TABLE queries ADD COLUMN seed_artist TEXT",
        ),
    ),
)

LATEST_VERSION = len(MIGRATIONS)


async def schema_version(conn: aiosqlite.Connection) -> int:
    """Return the file's `PRAGMA user_version` (0 for a new file)."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the steps of `migrations` the file lacks; return the version reached.

    `conn` must be in autocommit mode (isolation_level=None). The version is re-read inside
    each step's write transaction, so two processes opening one file migrate it once.
    Raises SchemaTooNewError for a file newer than `migrations`.
    """
    known = len(migrations)
    version = await schema_version(conn)
    if version > known:
        raise SchemaTooNewError(version, known)
    for target, step in enumerate(migrations[version:], start=version + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            current = await schema_version(conn)
            if current >= target:
                await conn.execute("ROLLBACK")
                continue
            for statement in step.statements:
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {target:d}")
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.rollback()
            raise
    return await schema_version(conn)
