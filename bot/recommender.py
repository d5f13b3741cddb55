"""From a query's embedding to the ranked catalog tracks a user sees — shared by the chat and
the `recommend` command, so both always give the same list."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.links import yandex_music_url
from core.embedding import TrackEmbedding
from core.models import ModelSpec
from core.ranking import near_duplicate, rank
from storage import CatalogCache, Database, Track

RESULTS_KEPT = 100  # ranked tracks stored per query: what /top can page through


class EmptyCatalogError(Exception):
    """The catalog has no vectors of the query's model yet."""


@dataclass(frozen=True)
class Recommendations:
    """A query's ranking. track_ids, scores: (n ≤ RESULTS_KEPT,), best first, without the
    query's own track when it is `in_catalog`."""

    model_id: str
    in_catalog: Track | None
    track_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]


@dataclass(frozen=True)
class Recommendation:
    """One line of a result list."""

    position: int  # 1-based
    track: Track
    similarity: float  # cosine, -1…1

    @property
    def url(self) -> str:
        return track_url(self.track)

    @property
    def percent(self) -> int:
        return round(max(self.similarity, 0.0) * 100)


def track_url(track: Track) -> str:
    return yandex_music_url(
        track_id=track.yandex_track_id,
        album_id=track.yandex_album_id,
        artist=track.artist,
        title=track.title,
    )


def display_name(track: Track) -> str:
    """`Artist — Title`, or the title alone."""
    return f"{track.artist} — {track.title}" if track.artist else track.title


async def recommend(
    database: Database, cache: CatalogCache, embedding: TrackEmbedding, model: ModelSpec
) -> Recommendations:
    """Rank the catalog for `embedding`; a near-duplicate best match is reported, not listed."""
    if cache.model_id != embedding.model_id:
        raise ValueError(f"catalog of {cache.model_id}, query of {embedding.model_id}")
    catalog = await cache.get()
    if len(catalog) == 0:
        raise EmptyCatalogError(f"the catalog has no tracks indexed with {cache.model_id}")
    ranking = rank(embedding.vector, catalog.matrix, catalog.track_ids, RESULTS_KEPT + 1)
    duplicate_id = near_duplicate(ranking, model.near_duplicate_similarity)
    keep = ranking.ids != duplicate_id if duplicate_id is not None else slice(RESULTS_KEPT)
    in_catalog = await database.tracks.get(duplicate_id) if duplicate_id is not None else None
    return Recommendations(
        model_id=embedding.model_id,
        in_catalog=in_catalog,
        track_ids=ranking.ids[keep][:RESULTS_KEPT],
        scores=ranking.scores[keep][:RESULTS_KEPT],
    )


async def page(
    database: Database,
    track_ids: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    start: int,
    count: int,
) -> list[Recommendation]:
    """Entries start … start+count of a ranking, with their tracks (removed tracks skipped)."""
    ids = [int(i) for i in track_ids[start : start + count]]
    tracks = {track.id: track for track in await database.tracks.get_many(ids)}
    return [
        Recommendation(start + offset + 1, tracks[track_id], float(scores[start + offset]))
        for offset, track_id in enumerate(ids)
        if track_id in tracks
    ]
