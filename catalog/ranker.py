"""A model's catalog as ranked: the one place that knows how a raw query vector becomes a ranking
(plain cosine, or the standardised space of a fused model; exact below the crossover, through
the index above it) and how the stored vector closest to it is found (copy detection).

The recommender asks questions of it — for an uploaded track, a stored one, an album's mean —
and never touches the catalog matrix itself, so how ranking scales is decided here alone.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from catalog.index import CatalogIndex, index_folder
from core.models import ModelSpec
from core.ranking import Ranking, rank
from core.standardise import RankingSpace, load_prior
from storage import Catalog, CatalogCache, Database


@dataclass(frozen=True)
class Ranked:
    """A query's ranking in the model's space, and the stored vector nearest to it by plain
    cosine (≤ 1 entry): what decides whether the query is a copy of a catalog track."""

    ranking: Ranking
    nearest: Ranking


class CatalogRanker:
    """Ranks raw vectors of one model against that model's catalog."""

    def __init__(self, database: Database, model: ModelSpec, index: CatalogIndex | None = None):
        self.model = model
        self.catalog = CatalogCache(database.embeddings, model.model_id)
        # a standardised model ranks in its catalog's space, recomputed when the catalog changes
        self._prior = load_prior(model.model_id) if model.standardised else None
        self._space: tuple[int, RankingSpace] | None = None
        # exact ranking below the crossover; the approximate index (optional install) above it,
        # only read, never built or written, over a read-only database
        self.index = index or CatalogIndex(
            index_folder(database.path), model.model_id, read_only=database.read_only
        )

    async def prepare(self) -> int:
        """Start-up: load, update or build what ranking needs now rather than on the first
        query; the catalog's size."""
        catalog = await self.catalog.get()
        if not self.model.standardised:
            await self.index.prepare(self.catalog)
        return len(catalog)

    def ranking_space(self, catalog: Catalog) -> RankingSpace | None:
        """The catalog's standardised space (None for a model ranked by plain cosine)."""
        if not self.model.standardised:
            return None
        if self._space is None or self._space[0] != catalog.revision:
            space = RankingSpace.of(
                catalog.matrix, self.model.part_sizes, self._prior, self.model.standardised_parts
            )
            self._space = (catalog.revision, space)
        return self._space[1]

    async def rank(self, vector: npt.NDArray[np.float32], k: int) -> Ranked:
        """The `k` catalog tracks most similar to the raw `vector`, best first, in the model's
        ranking space; both rankings empty when the catalog has no vectors of this model."""
        if not self.model.standardised:
            # exact below the crossover; above it the index alone, and then the catalog
            # matrix is not held (catalog/index.py)
            ranking = await self.index.rank(vector, self.catalog, k)
            return Ranked(ranking, ranking)
        # a standardised space moves with the catalog's statistics: ranked exactly, no index;
        # a copy is recognised by the stored vectors' plain cosine, since standardising
        # spreads the scores of re-encodes too widely to set a threshold on
        catalog = await self.catalog.get()
        space = self.ranking_space(catalog)
        if space is None or len(catalog) == 0:
            empty = Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
            return Ranked(empty, empty)
        ranking = rank(space.query(vector), space.matrix, catalog.track_ids, k)
        return Ranked(ranking, rank(vector, catalog.matrix, catalog.track_ids, 1))

    async def nearest(self, vector: npt.NDArray[np.float32]) -> Ranking:
        """The stored vector closest to the raw `vector` by plain cosine (≤ 1 entry)."""
        if not self.model.standardised:
            return await self.index.rank(vector, self.catalog, 1)
        catalog = await self.catalog.get()
        return rank(vector, catalog.matrix, catalog.track_ids, 1)
