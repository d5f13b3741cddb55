"""One use case, "a track in, an answer out", shared by the chat and `recommend`, so both always
give the same list: embed in the workers, rank the catalog of the same model, let a clip's
source track lead, keep the top RESULTS_KEPT for paging (saved with the asker when there is one),
and resolve pages to tracks — all of them, or "other artists only" (catalog.variety).

A catalog track is its own question (a link to it, a result explored): its stored vector is
ranked, nothing is downloaded or embedded, and it is left out of its list."""

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.index import CatalogIndex
from catalog.links import track_url
from catalog.ranker import CatalogRanker
from catalog.variety import other_artists
from core.constants import CLIP_CANDIDATES, CLIP_SECONDS
from core.embedding import TrackEmbedding
from core.embedding_service import Embedder
from core.models import ModelSpec
from core.ranking import Ranking, clip_source, led_by, near_duplicate
from storage import Database, SentMedia, Track

RESULTS_KEPT = 100  # ranked tracks stored per query: what /top can page through


class EmptyCatalogError(Exception):
    """The catalog has no vectors of the query's model yet."""


@dataclass(frozen=True)
class Answer:
    """What a track gets. track_ids, scores: (n ≤ RESULTS_KEPT,), best first, without the
    query's own track when it is `in_catalog`; `query_id` when it was saved for an asker.
    `embedding`: the file's, None for a catalog track's stored vector."""

    embedding: TrackEmbedding | None
    in_catalog: Track | None
    track_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    seconds: float  # embedding and ranking, after the file was on disk
    sent: SentMedia  # what was asked about, as saved (its artist: see catalog.variety)
    query_id: int | None = None

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])


@dataclass(frozen=True)
class Recommendation:
    """One line of a result list."""

    position: int  # 1-based, as the user sees the list
    track: Track
    similarity: float  # cosine, -1…1
    entry: int = 0  # its place in the saved ranking (what a button names: stable under filters)

    @property
    def url(self) -> str:
        return track_url(self.track)

    @property
    def percent(self) -> int:
        return round(max(self.similarity, 0.0) * 100)


@dataclass(frozen=True)
class Page:
    """Results as shown, `end`: ranking entries consumed (the stored paging position; the whole
    ranking once nothing shown remains), `more`: whether a later page has anything to show."""

    items: list[Recommendation]
    end: int
    more: bool


class Recommender:
    """The answer to a track, from the embedding workers and the catalog of their model."""

    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        model: ModelSpec,
        index: CatalogIndex | None = None,
    ) -> None:
        if embedder.model_id != model.model_id:
            raise ValueError(f"workers embed with {embedder.model_id}, not {model.model_id}")
        self.database = database
        self.embedder = embedder
        self.model = model
        self.ranker = CatalogRanker(database, model, index)

    async def answer(
        self, path: Path, *, user_id: int | None = None, sent: SentMedia | None = None
    ) -> Answer:
        """Embed `path`, rank the catalog, and save the ranking for `user_id` when given.

        Raises core.errors.AudioError subclasses for unusable audio, EmptyCatalogError when
        no track has a vector of this model yet.
        """
        started = time.monotonic()
        embedding = await self.embedder.embed(path, query=True)
        ranking = await self.ranker.rank(embedding.vector, RESULTS_KEPT + 1)
        if len(ranking) == 0:
            raise EmptyCatalogError(self._empty())
        nearest = await self.ranker.nearest(embedding.vector, ranking)
        best_raw = await self.confirmed_copy(path, nearest)
        duplicate_id = near_duplicate(best_raw, self.model.near_duplicate_similarity)
        in_catalog = None
        sent = sent or SentMedia("file")
        if duplicate_id is not None:
            in_catalog = await self.database.tracks.get(duplicate_id)
        elif embedding.seconds_analysed <= CLIP_SECONDS:
            ranking = await self.clip_source_first(embedding, ranking)
        if in_catalog is not None:  # the catalog's own name for whose track it is
            sent = replace(sent, track_id=in_catalog.id, artist=in_catalog.artist or sent.artist)
        return await self._answered(embedding, in_catalog, ranking, started, user_id, sent)

    async def answer_track(
        self, track: Track, *, user_id: int | None = None, sent: SentMedia | None = None
    ) -> Answer:
        """The answer to a catalog track, from its stored vector: no download, no embedding.

        Raises EmptyCatalogError when the track has no vector of this model (it is not in the
        catalog this model ranks, or nothing is)."""
        started = time.monotonic()
        stored = await self.database.embeddings.vectors(self.model.model_id, [track.id])
        if track.id not in stored:
            raise EmptyCatalogError(f"track {track.id} has no vector of {self.model.model_id}")
        ranking = await self.ranker.rank(stored[track.id], RESULTS_KEPT + 1)
        sent = replace(sent or SentMedia("track"), track_id=track.id, artist=track.artist)
        return await self._answered(None, track, ranking, started, user_id, sent)

    async def answer_mean(
        self,
        vectors: Sequence[npt.NDArray[np.float32]],
        *,
        leave_out: Collection[int] = (),
        user_id: int | None = None,
        sent: SentMedia | None = None,
    ) -> Answer:
        """The answer to several tracks at once (an album, a playlist): their vectors' mean,
        each part brought back to the parts' mean length (an average of many directions is
        shorter than any of them, and a standardised space must see vectors of the usual
        scale); the catalog tracks `leave_out` (the album's own) are left out of the list."""
        if not vectors:
            raise ValueError("no vectors to answer for")
        started = time.monotonic()
        stacked = np.stack([np.asarray(v, np.float32) for v in vectors])
        mean = stacked.mean(axis=0)
        start = 0
        for size in self.model.part_sizes:
            part = slice(start, start + size)
            length = float(np.linalg.norm(stacked[:, part], axis=1).mean())
            mean[part] *= length / max(float(np.linalg.norm(mean[part])), 1e-12)
            start += size
        left_out = np.array(sorted(set(leave_out)), np.int64)
        ranking = await self.ranker.rank(mean, RESULTS_KEPT + len(left_out))
        if len(ranking) == 0:
            raise EmptyCatalogError(self._empty())
        keep = ~np.isin(ranking.ids, left_out)
        ranking = Ranking(ranking.ids[keep], ranking.scores[keep])
        return await self._answered(
            None, None, ranking, started, user_id, sent or SentMedia("tracks")
        )

    async def _answered(
        self,
        embedding: TrackEmbedding | None,
        in_catalog: Track | None,
        ranking: Ranking,
        started: float,
        user_id: int | None,
        sent: SentMedia,
    ) -> Answer:
        """The answer from a ranking: the asked-about catalog track left out, RESULTS_KEPT
        kept, saved for `user_id` when given."""
        keep = ranking.ids != in_catalog.id if in_catalog is not None else slice(None)
        track_ids, scores = ranking.ids[keep][:RESULTS_KEPT], ranking.scores[keep][:RESULTS_KEPT]
        seconds = time.monotonic() - started
        query_id = None
        if user_id is not None:
            query_id = await self.database.queries.save(
                user_id, sent, self.model.model_id, track_ids, scores, seconds
            )
        return Answer(embedding, in_catalog, track_ids, scores, seconds, sent, query_id)

    async def confirmed_copy(self, path: Path, best: Ranking) -> Ranking:
        """The best match of the query as the catalog embeds it, where the query's own best
        match only suggests a copy (ModelSpec.duplicate_suspect_similarity): a user's track is
        read by windows, which scatter a copy's similarity too widely to decide on."""
        suspect = self.model.duplicate_suspect_similarity
        threshold = self.model.near_duplicate_similarity
        if suspect is None or threshold is None or not len(best):
            return best
        if not suspect <= float(best.scores[0]) < threshold:
            return best
        whole = await self.embedder.embed(path)
        return await self.ranker.nearest(whole.vector)

    async def clip_source_first(self, clip: TrackEmbedding, ranking: Ranking) -> Ranking:
        """`ranking` led by the track among its first CLIP_CANDIDATES that has the section
        closest to the clip: the track it most likely comes from."""
        candidates = ranking.ids[:CLIP_CANDIDATES]
        sections = await self.database.embeddings.sections(
            self.model.model_id, [int(i) for i in candidates]
        )
        present = np.array([i for i in candidates if int(i) in sections], np.int64)
        source = clip_source(clip.vector, present, [sections[int(i)] for i in present])
        return ranking if source is None else led_by(ranking, *source)

    def _empty(self) -> str:
        return f"the catalog has no tracks indexed with {self.model.model_id}"

    async def page_from(
        self,
        track_ids: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float32],
        start: int,
        count: int,
        *,
        other_artists_of: SentMedia | None = None,
    ) -> Page:
        """Up to `count` results from ranking entry `start` on, skipping tracks removed from the
        catalog since the ranking was saved, so a page stays full and its numbers run on from
        the previous page without gaps; `end` is where the next page starts in the ranking.

        `other_artists_of`: what the list was asked about, to show other artists only
        (catalog.variety); the same ranking pages either way, so the switch applies at once."""
        later = [item for item in await self.shown(track_ids, scores, other_artists_of)
                 if item.entry >= start]  # fmt: skip
        page, more = later[:count], len(later) > count
        return Page(page, page[-1].entry + 1 if more else len(track_ids), more)

    async def shown(
        self,
        track_ids: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float32],
        other_artists_of: SentMedia | None = None,
    ) -> list[Recommendation]:
        """The ranking as a user sees it, numbered from 1: each track still in the catalog
        (and, with `other_artists_of`, kept by that rule)."""
        ids = [int(i) for i in track_ids]
        alive = {track.id: track for track in await self.database.tracks.get_many(ids)}
        entries = [entry for entry, track_id in enumerate(ids) if track_id in alive]
        if other_artists_of is not None:
            tracks = [alive[ids[entry]] for entry in entries]
            kept = other_artists(tracks, other_artists_of.artist)
            entries = [entry for entry, keep in zip(entries, kept, strict=True) if keep]
        return [
            Recommendation(n + 1, alive[ids[entry]], float(scores[entry]), entry)
            for n, entry in enumerate(entries)
        ]
