"""The catalog's tracks: what a ranked id is shown as, and how a file is recognised again."""

import builtins
import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

from storage.codecs import parse_timestamp
from storage.errors import DuplicateTrackError
from storage.session import Connector


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Default of `update_metadata` fields: leave the column as it is (None clears it)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Track:
    id: int
    sha256: str  # of the file's bytes: the same file imported twice is one track
    title: str
    artist: str | None
    album: str | None
    duration: float | None  # seconds
    yandex_track_id: str | None
    yandex_album_id: str | None
    source_path: str | None  # where it was imported from; informative, may no longer exist
    added_at: datetime


@dataclass(frozen=True, slots=True)
class CatalogStats:
    tracks: int
    total_duration: float  # seconds, over tracks with a known duration
    with_yandex_id: int
    embeddings: dict[str, int]  # model id → number of tracks with a vector of that model
    last_added_at: datetime | None


_COLUMNS = (
    "id, sha256, title, artist, album, duration, yandex_track_id, yandex_album_id, "
    "source_path, added_at"
)


def _track(row: sqlite3.Row) -> Track:
    return Track(
        id=row["id"],
        sha256=row["sha256"],
        title=row["title"],
        artist=row["artist"],
        album=row["album"],
        duration=row["duration"],
        yandex_track_id=row["yandex_track_id"],
        yandex_album_id=row["yandex_album_id"],
        source_path=row["source_path"],
        added_at=parse_timestamp(row["added_at"]),
    )


def normalize_sha256(sha256: str) -> str:
    """Lower-case hex digest, validated, so lookups never miss on letter case."""
    digest = sha256.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return digest


class TrackRepository:
    """The `tracks` table."""

    def __init__(self, connector: Connector) -> None:
        self._sql = connector

    async def add(
        self,
        sha256: str,
        title: str,
        *,
        artist: str | None = None,
        album: str | None = None,
        duration: float | None = None,
        yandex_track_id: str | None = None,
        yandex_album_id: str | None = None,
        source_path: str | None = None,
    ) -> int:
        """Insert a track and return its id; DuplicateTrackError if its hash is known."""
        digest = normalize_sha256(sha256)
        async with self._sql.transaction() as tx:
            existing = await tx.fetchone("SELECT id FROM tracks WHERE sha256 = ?", (digest,))
            if existing is not None:
                raise DuplicateTrackError(digest, existing["id"])
            row = await tx.fetchone_required(
                """INSERT INTO tracks (sha256, title, artist, album, duration,
                                       yandex_track_id, yandex_album_id, source_path)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (
                    digest,
                    title,
                    artist,
                    album,
                    duration,
                    yandex_track_id,
                    yandex_album_id,
                    source_path,
                ),
            )
        return int(row["id"])

    async def get(self, track_id: int) -> Track | None:
        row = await self._sql.fetchone(f"SELECT {_COLUMNS} FROM tracks WHERE id = ?", (track_id,))
        return _track(row) if row else None

    async def find_by_sha256(self, sha256: str) -> Track | None:
        row = await self._sql.fetchone(
            f"SELECT {_COLUMNS} FROM tracks WHERE sha256 = ?", (normalize_sha256(sha256),)
        )
        return _track(row) if row else None

    async def find_by_yandex_id(self, yandex_track_id: str) -> Track | None:
        """The track linked to this Yandex Music track id (the first, should several be), as
        its own id or as one of its extra ids (`yandex_ids`: the same audio re-issued)."""
        wanted = str(yandex_track_id).strip()
        row = await self._sql.fetchone(
            f"SELECT {_COLUMNS} FROM tracks WHERE yandex_track_id = ? ORDER BY id LIMIT 1",
            (wanted,),
        ) or await self._sql.fetchone(
            f"""SELECT {_COLUMNS} FROM tracks
                WHERE id = (SELECT track_id FROM yandex_ids WHERE yandex_track_id = ?)""",
            (wanted,),
        )
        return _track(row) if row else None

    async def get_many(self, track_ids: Iterable[int]) -> builtins.list[Track]:
        """Tracks in the order of `track_ids` (a ranking), skipping ids no longer stored."""
        ids = [int(track_id) for track_id in track_ids]
        if not ids:
            return []
        # One JSON parameter instead of one per id: no limit on the number of ids.
        rows = await self._sql.fetchall(
            f"SELECT {_COLUMNS} FROM tracks WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        by_id = {row["id"]: _track(row) for row in rows}
        return [by_id[track_id] for track_id in ids if track_id in by_id]

    async def update_metadata(
        self,
        track_id: int,
        *,
        title: str | _Unset = UNSET,
        artist: str | _Unset | None = UNSET,
        album: str | _Unset | None = UNSET,
        duration: float | _Unset | None = UNSET,
        yandex_track_id: str | _Unset | None = UNSET,
        yandex_album_id: str | _Unset | None = UNSET,
        source_path: str | _Unset | None = UNSET,
    ) -> bool:
        """Set the given fields (None clears one); False if the track does not exist."""
        given = {
            "title": title,
            "artist": artist,
            "album": album,
            "duration": duration,
            "yandex_track_id": yandex_track_id,
            "yandex_album_id": yandex_album_id,
            "source_path": source_path,
        }
        changes = {name: value for name, value in given.items() if value is not UNSET}
        if not changes:
            return await self.get(track_id) is not None
        assignments = ", ".join(f"{name} = ?" for name in changes)
        changed = await self._sql.execute(
            f"UPDATE tracks SET {assignments} WHERE id = ?", (*changes.values(), track_id)
        )
        return changed > 0

    async def list(self, limit: int = 50, offset: int = 0) -> builtins.list[Track]:
        """A page of the catalog in import order."""
        rows = await self._sql.fetchall(
            f"SELECT {_COLUMNS} FROM tracks ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
        )
        return [_track(row) for row in rows]

    async def stats(self) -> CatalogStats:
        """Catalog figures for `python -m bot catalog stats`, from one snapshot."""
        async with self._sql.transaction(write=False) as tx:
            totals = await tx.fetchone_required(
                """SELECT count(*) AS tracks,
                          coalesce(sum(duration), 0.0) AS total_duration,
                          count(yandex_track_id) AS with_yandex_id,
                          max(added_at) AS last_added_at
                   FROM tracks"""
            )
            per_model = await tx.fetchall(
                "SELECT model_id, count(*) AS n FROM embeddings GROUP BY model_id ORDER BY model_id"
            )
        last = totals["last_added_at"]
        return CatalogStats(
            tracks=int(totals["tracks"]),
            total_duration=float(totals["total_duration"]),
            with_yandex_id=int(totals["with_yandex_id"]),
            embeddings={row["model_id"]: int(row["n"]) for row in per_model},
            last_added_at=parse_timestamp(last) if last is not None else None,
        )

    async def remove(self, track_id: int) -> bool:
        """Delete a track and (by cascade) its embeddings; False if there was none."""
        return await self._sql.execute("DELETE FROM tracks WHERE id = ?", (track_id,)) > 0
