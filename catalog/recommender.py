"""One use case, "a track in, an answer out", shared by the chat and `recommend`, so both always
give the same list: embed in the workers, rank the catalog of the same model, let a clip's
source track lead, keep the top RESULTS_KEPT for paging (saved with the asker when there is one),
and resolve pages to tracks."""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.index import CatalogIndex
from catalog.links import track_url
from catalog.ranker import CatalogRanker
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
    query's own track when it is `in_catalog`; `query_id` when it was saved for an asker."""

    embedding: TrackEmbedding
    in_catalog: Track | None
    track_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    seconds: float  # embedding and ranking, after the file was on disk
    query_id: int | None = None

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])


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
        ranked = await self.ranker.rank(embedding.vector, RESULTS_KEPT + 1)
        if len(ranked.ranking) == 0:
            raise EmptyCatalogError(self._empty())
        ranking = ranked.ranking
        best_raw = await self.confirmed_copy(path, ranked.nearest)
        duplicate_id = near_duplicate(best_raw, self.model.near_duplicate_similarity)
        keep = ranking.ids != duplicate_id if duplicate_id is not None else slice(RESULTS_KEPT)
        in_catalog = None
        if duplicate_id is not None:
            in_catalog = await self.database.tracks.get(duplicate_id)
        elif embedding.seconds_analysed <= CLIP_SECONDS:
            ranking = await self.clip_source_first(embedding, ranking)
        track_ids, scores = ranking.ids[keep][:RESULTS_KEPT], ranking.scores[keep][:RESULTS_KEPT]
        seconds = time.monotonic() - started
        query_id = None
        if user_id is not None:
            query_id = await self.database.queries.save(
                user_id, sent or SentMedia("file"), self.model.model_id, track_ids, scores, seconds
            )
        return Answer(embedding, in_catalog, track_ids, scores, seconds, query_id)

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
    ) -> Page:
        """Up to `count` results from ranking entry `start` on, skipping tracks removed from the
        catalog since the ranking was saved, so a page stays full and its numbers run on from
        the previous page without gaps; `end` is where the next page starts in the ranking."""
        ids = [int(i) for i in track_ids]
        alive = {track.id: track for track in await self.database.tracks.get_many(ids)}
        shown_before = sum(track_id in alive for track_id in ids[:start])
        items: list[Recommendation] = []
        end = start
        while end < len(ids) and len(items) < count:
            if (track := alive.get(ids[end])) is not None:
                number = shown_before + len(items) + 1
                items.append(Recommendation(number, track, float(scores[end])))
            end += 1
        more = any(track_id in alive for track_id in ids[end:])
        return Page(items, end if more else len(ids), more)
