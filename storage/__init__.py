"""Soundalike's persistence: one SQLite file (WAL) behind small async repositories.

Imports neither `core` nor `bot`: it stores vectors as float32 arrays and knows nothing of the
models that made them, beyond their model id.
"""

from storage.catalog import Catalog, CatalogCache, CatalogSource
from storage.database import DEFAULT_PATH, Database
from storage.embeddings import EmbeddingRepository
from storage.errors import (
    DatabaseFileError,
    DimensionMismatchError,
    DuplicateTrackError,
    ForeignDatabaseError,
    JournalModeError,
    ReadOnlyDatabaseError,
    SchemaTooNewError,
    SchemaTooOldError,
    StorageError,
)
from storage.feedback import FeedbackRepository, Tally
from storage.files import writable
from storage.migrations import APPLICATION_ID, LATEST_VERSION, MIGRATIONS, Migration, migrate
from storage.queries import Query, QueryRepository, SentMedia
from storage.session import Connector, Session
from storage.tracks import UNSET, CatalogStats, Track, TrackRepository
from storage.users import Role, User, UserRepository
from storage.yandex_ids import YandexIdRepository

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_PATH",
    "LATEST_VERSION",
    "MIGRATIONS",
    "UNSET",
    "Catalog",
    "CatalogCache",
    "CatalogSource",
    "CatalogStats",
    "Connector",
    "Database",
    "DatabaseFileError",
    "DimensionMismatchError",
    "DuplicateTrackError",
    "EmbeddingRepository",
    "FeedbackRepository",
    "ForeignDatabaseError",
    "JournalModeError",
    "Migration",
    "Query",
    "QueryRepository",
    "ReadOnlyDatabaseError",
    "Role",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "SentMedia",
    "Session",
    "StorageError",
    "Tally",
    "Track",
    "TrackRepository",
    "User",
    "UserRepository",
    "YandexIdRepository",
    "migrate",
    "writable",
]
