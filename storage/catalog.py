"""The catalog matrix of one model id, kept in memory and reloaded only when it changed.

Ranking a query needs every catalog vector of the query's model; reading thousands of blobs per
query would dominate its latency. `CatalogCache` reads the catalog revision (one row, bumped by
triggers on any change to the embeddings, from any connection or process) before each use and
reloads the matrix only when the revision moved.
"""

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from storage.database import Database


@dataclass(frozen=True, slots=True)
class Catalog:
    """A consistent snapshot of one model's vectors.

    track_ids: (n,) int64, ascending. matrix: (n, dim) float32, row i is track_ids[i]'s vector;
    (0, dim) when the model has no vectors (dim is 0 if it is also unknown). Both arrays are
    read-only: one snapshot is shared by every concurrent query.
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


class CatalogCache:
    """Holds the `Catalog` of one model id; `await get()` before each ranking."""

    def __init__(self, db: "Database", model_id: str, *, dim: int | None = None) -> None:
        """`dim`, when given, is the model's vector length: stored vectors must match it."""
        self._db = db
        self.model_id = model_id
        self.dim = dim
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()  # concurrent callers share one reload
        self.loads = 0  # how many times the matrix was read from the database

    async def get(self) -> Catalog:
        """The current catalog: the cached one if the revision is unchanged, else reloaded."""
        async with self._lock:
            cached = self._catalog
            if cached is not None and cached.revision == await self._db.embeddings.revision():
                return cached
            catalog = await self._db.embeddings.load_catalog(self.model_id, dim=self.dim)
            self._catalog = catalog
            self.loads += 1
            return catalog

    def invalidate(self) -> None:
        """Drop the cached matrix, so the next `get` reloads it."""
        self._catalog = None
