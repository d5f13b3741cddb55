"""Chat queries and their top-100 rankings: what /top pages through, across restarts."""

import sqlite3
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from storage.codecs import decode_ranking, encode_ranking, parse_timestamp
from storage.errors import disk_full_as_error
from storage.session import Connector


@dataclass(frozen=True, slots=True)
class SentMedia:
    """What the user sent, as far as the answer and the history need to say."""

    kind: str  # e.g. "audio", "voice", "document", "file" (CLI)
    file_name: str | None = None
    size_bytes: int | None = None
    duration: float | None = None  # seconds, as Telegram or the decoder reported it
    # the catalog track asked about (a link, a result explored), left out of its list
    track_id: int | None = None
    artist: str | None = None  # whose tracks "other artists only" leaves out


@dataclass(frozen=True, slots=True)
class Query:
    """A saved query. track_ids: (n,) int64 best first; scores: (n,) float32 aligned with them."""

    id: int
    user_id: int
    created_at: datetime
    sent: SentMedia
    model_id: str
    track_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    elapsed: float  # seconds from receiving the file to the ranking
    position: int  # how many results the user has been shown (the next page starts here)

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])


_COLUMNS = (
    "id, user_id, created_at, input_kind, input_name, input_size, input_duration, model_id, "
    "track_ids, scores, elapsed, position, seed_track_id, seed_artist"
)


def _query(row: sqlite3.Row) -> Query:
    track_ids, scores = decode_ranking(row["track_ids"], row["scores"])
    return Query(
        id=row["id"],
        user_id=row["user_id"],
        created_at=parse_timestamp(row["created_at"]),
        sent=SentMedia(
            kind=row["input_kind"],
            file_name=row["input_name"],
            size_bytes=row["input_size"],
            duration=row["input_duration"],
            track_id=row["seed_track_id"],
            artist=row["seed_artist"],
        ),
        model_id=row["model_id"],
        track_ids=track_ids,
        scores=scores,
        elapsed=row["elapsed"],
        position=row["position"],
    )


# The clamped new position; length(track_ids) / 8 is the number of ranked ids.
_CLAMPED = "max(0, min({expr}, length(track_ids) / 8))"


class QueryRepository:
    """The `queries` table."""

    def __init__(self, connector: Connector) -> None:
        self._sql = connector

    async def save(
        self,
        user_id: int,
        sent: SentMedia,
        model_id: str,
        track_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        elapsed: float,
    ) -> int:
        """Store a ranking ((n,) ids best first, (n,) scores; n ≤ 100 by convention); its id."""
        ids_blob, scores_blob = encode_ranking(track_ids, scores)
        with disk_full_as_error("the query"):
            row = await self._sql.fetchone_required(
                """INSERT INTO queries (user_id, input_kind, input_name, input_size, input_duration,
                                     model_id, track_ids, scores, elapsed, seed_track_id,
                                     seed_artist)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING id""",
                (
                    user_id,
                    sent.kind,
                    sent.file_name,
                    sent.size_bytes,
                    sent.duration,
                    model_id,
                    ids_blob,
                    scores_blob,
                    elapsed,
                    sent.track_id,
                    sent.artist,
                ),
            )
        return int(row["id"])

    async def get(self, query_id: int) -> Query | None:
        row = await self._sql.fetchone(f"SELECT {_COLUMNS} FROM queries WHERE id = ?", (query_id,))
        return _query(row) if row else None

    async def latest_for_user(self, user_id: int) -> Query | None:
        """The user's most recent query: what /top continues."""
        row = await self._sql.fetchone(
            f"SELECT {_COLUMNS} FROM queries WHERE user_id = ? ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        return _query(row) if row else None

    async def set_position(self, query_id: int, position: int) -> int | None:
        """Jump to `position` (clamped to [0, n]); the new position, or None if no such query."""
        with disk_full_as_error("the paging position"):
            row = await self._sql.fetchone(
                f"UPDATE queries SET position = {_CLAMPED.format(expr='?')} "
                "WHERE id = ? RETURNING position",
                (position, query_id),
            )
        return int(row["position"]) if row else None
