"""The catalog matrix of one model id, kept in memory and reloaded only when it changed.

Ranking a query needs every catalog vector of the query's model; reading thousands of blobs per
query would dominate its latency. `CatalogCache` reads the catalog revision (one row, bumped by
triggers on any change to the embeddings, from any connection or process) before each use and
refreshes the matrix only when the revision moved. A caller that ranks through an index of the
catalog instead (catalog/index.py, above its crossover) `release`s the matrix once the index
is current and checks `revision` before each query.

A refresh reads only the tracks added since, when adding them is all that changed
(`EmbeddingRepository.added_since` proves it from the revision), and appends them in place
(`GrowingRows`): during an import, one track committed per revision, each revision a query sees
costs its new rows, not a reload of the whole matrix — which at 5,000 768-d tracks, about 90
commits a second (bench/catalog_scale.py), held the event loop for tens of milliseconds each
time. Any other change (a vector removed or replaced, another model's changed) reloads it
whole, so a refreshed catalog is always the one a full load would give, row for row.
"""

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

Item = TypeVar("Item", bound=np.generic)
LARGE_COPY = 1_000  # rows of a matrix copied into more room in a thread, not on the event loop


@dataclass(frozen=True, slots=True)
class Catalog:
    """A consistent snapshot of one model's vectors.

    track_ids: (n,) int64, ascending. matrix: (n, dim) float32, row i is track_ids[i]'s vector;
    (0, 0) when the model has no vectors. Both arrays are read-only: one snapshot is shared by
    every concurrent query. `lineage` names the full load a cache's snapshot descends from by
    appends alone (`extends`); 0 for a snapshot of its own.
    """

    model_id: str
    revision: int
    track_ids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]
    lineage: int = field(default=0, compare=False)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])

    def extends(self, other: "Catalog") -> bool:
        """Whether this snapshot is `other` with rows appended (or `other` itself): its first
        len(other) rows are other's, so work done on them can be kept."""
        return bool(self.lineage) and self.lineage == other.lineage and len(self) >= len(other)


class GrowingRows(Generic[Item]):
    """Rows appended in place into spare room; `view()` is a read-only snapshot of the rows so
    far. An append writes only past every earlier view's end, so a snapshot a query still uses
    never changes; outgrowing the room copies into a buffer a quarter larger at least, so
    appending n rows costs O(n) in all, not a copy of the whole matrix each time."""

    def __init__(self, rows: npt.NDArray[Item], room: int = 0) -> None:
        """Over `rows`, never written: without `room` the first append copies them (into
        room for a quarter more), with it they are copied now, into room for `room` more."""
        self._buffer = rows
        self.count = int(rows.shape[0])
        if room > 0:
            self._grow(room)

    @property
    def room(self) -> int:
        """Rows that can be appended without a copy."""
        return int(self._buffer.shape[0]) - self.count

    def append(self, rows: npt.NDArray[Item]) -> None:
        """Rows (m, …) of the buffer's width after the others."""
        m = int(rows.shape[0])
        if m > self.room:
            self._grow(max(m, self.count // 4, 64))
        self._buffer[self.count : self.count + m] = rows
        self.count += m

    def _grow(self, room: int) -> None:
        grown = np.empty((self.count + room, *self._buffer.shape[1:]), self._buffer.dtype)
        grown[: self.count] = self._buffer[: self.count]
        self._buffer = grown

    def view(self) -> npt.NDArray[Item]:
        """The rows appended so far, read-only."""
        rows = self._buffer[: self.count]
        rows.flags.writeable = False
        return rows


class Added(Protocol):
    """What `added_since` returns: the new rows, by ascending id, and the revision now."""

    @property
    def track_ids(self) -> npt.NDArray[np.int64]: ...

    @property
    def matrix(self) -> npt.NDArray[np.float32]: ...

    @property
    def revision(self) -> int | None: ...


class CatalogSource(Protocol):
    """Where a cache reads from: `EmbeddingRepository` (a protocol, so this module needs none)."""

    async def revision(self) -> int: ...

    async def load_catalog(self, model_id: str) -> Catalog: ...


@runtime_checkable
class AppendingSource(CatalogSource, Protocol):
    """A source that also names the rows added since a snapshot, when nothing else changed
    (`EmbeddingRepository.added_since`); a cache of a plain `CatalogSource` reloads the whole
    matrix at every change."""

    async def added_since(self, model_id: str, revision: int, after: int) -> Added | None: ...


_lineages = itertools.count(1)


class CatalogCache:
    """Holds the `Catalog` of one model id; `await get()` before each ranking."""

    def __init__(self, source: CatalogSource, model_id: str) -> None:
        self._source = source
        self.model_id = model_id
        self._catalog: Catalog | None = None
        self._rows: tuple[GrowingRows[np.int64], GrowingRows[np.float32]] | None = (
            None  # ids, matrix of _catalog
        )
        self._lock = asyncio.Lock()  # concurrent callers share one reload
        self.loads = 0  # how many times the catalog was read from the database (whole or not)
        self.appends = 0  # how many of those read only the tracks added since

    async def get(self) -> Catalog:
        """The current catalog: the cached one if the revision is unchanged, else refreshed
        (the added rows appended, or the whole matrix reloaded; see the module)."""
        async with self._lock:
            cached = self._catalog
            catalog = await self._refreshed(cached) if cached is not None else None
            if catalog is not None and catalog is cached:
                return catalog
            if catalog is None:
                catalog = await self._loaded()
            self._catalog = catalog
            self.loads += 1
            return catalog

    async def _loaded(self) -> Catalog:
        """The whole catalog read anew: a new lineage, which later appends extend."""
        loaded = await self._source.load_catalog(self.model_id)
        if not len(loaded):  # no width yet: the first vectors come by a full load
            self._rows = None
            return loaded
        self._rows = (GrowingRows(loaded.track_ids), GrowingRows(loaded.matrix))
        return self._snapshot(loaded.revision, next(_lineages))

    async def _refreshed(self, cached: Catalog) -> Catalog | None:
        """The cached catalog itself when the revision has not moved; with the tracks added
        since appended; or None when something else changed too (or the source cannot tell):
        then it is reloaded whole."""
        if self._rows is None or not isinstance(self._source, AppendingSource):
            if cached.revision == await self._source.revision():
                return cached
            return None
        after = int(cached.track_ids[-1])
        added = await self._source.added_since(self.model_id, cached.revision, after)
        if added is None or added.revision is None:
            return None
        if added.revision == cached.revision:
            return cached  # nothing changed
        if len(added.track_ids) and added.matrix.shape[1] != cached.dim:
            return None  # a vector of another length: the full load reports it
        ids, matrix = self._rows
        if matrix.room < len(added.track_ids) and matrix.count > LARGE_COPY:
            await asyncio.to_thread(_append, ids, matrix, added)  # copied into more room
        else:
            _append(ids, matrix, added)
        self.appends += 1
        return self._snapshot(added.revision, cached.lineage)

    def _snapshot(self, revision: int, lineage: int) -> Catalog:
        assert self._rows is not None
        ids, matrix = self._rows
        return Catalog(self.model_id, revision, ids.view(), matrix.view(), lineage)

    async def revision(self) -> int:
        """The catalog revision now (one row): whether a snapshot or an index is still current."""
        return await self._source.revision()

    def release(self) -> None:
        """Stop holding the matrix (its memory is freed once no ranking uses it); the next
        `get` reads it again."""
        self._catalog = None
        self._rows = None

    @property
    def held(self) -> bool:
        """Whether a matrix is held now."""
        return self._catalog is not None


def _append(ids: GrowingRows[np.int64], matrix: GrowingRows[np.float32], added: Added) -> None:
    ids.append(added.track_ids)
    matrix.append(added.matrix)
