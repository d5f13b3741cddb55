"""The catalog matrix of one model id, kept in memory and reloaded only when it changed.

Ranking a query needs every catalog vector of the query's model; reading thousands of blobs per
query would dominate its latency. `CatalogCache` reads the catalog revision (one row, bumped by
triggers on any change to the embeddings, from any connection or process) before each use and
reloads the matrix only when the revision moved. A caller that ranks through an index of the
catalog instead (catalog/index.py, above its crossover) `release`s the matrix once the index
is current and checks `revision` before each query.
"""

import asyncio
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Catalog:
    """A consistent snapshot of one model's vectors.

    track_ids: (n,) int64, ascending. matrix: (n, dim) float32, row i is track_ids[i]'s vector;
    (0, 0) when the model has no vectors. Both arrays are read-only: one snapshot is shared by
    every concurrent query.
    """

    model_id: str
    revision: int
    track_ids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])


class CatalogSource(Protocol):
    """Where a cache reads from: `EmbeddingRepository` (a protocol, so this module needs none)."""

    async def revision(self) -> int: ...

    async def load_catalog(self, model_id: str) -> Catalog: ...


class CatalogCache:
    """Holds the `Catalog` of one model id; `await get()` before each ranking."""

    def __init__(self, source: CatalogSource, model_id: str) -> None:
        self._source = source
        self.model_id = model_id
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()  # concurrent callers share one reload
        self.loads = 0  # how many times the matrix was read from the database

    async def get(self) -> Catalog:
        """The current catalog: the cached one if the revision is unchanged, else reloaded."""
        async with self._lock:
            cached = self._catalog
            if cached is not None and cached.revision == await self._source.revision():
                return cached
            catalog = await self._source.load_catalog(self.model_id)
            self._catalog = catalog
            self.loads += 1
            return catalog

    async def revision(self) -> int:
        """The catalog revision now (one row): whether a snapshot or an index is still current."""
        return await self._source.revision()

    def release(self) -> None:
        """Stop holding the matrix (its memory is freed once no ranking uses it); the next
        `get` reads it again."""
        self._catalog = None

    @property
    def held(self) -> bool:
        """Whether a matrix is held now."""
        return self._catalog is not None
