"""The ranking of a query against a model's catalog: exact below core.index.CROSSOVER vectors
(or without the optional faiss install), through the approximate index of the model above it.

The index file lives beside the database, `<database file>.index/<model id>-<hash>.faiss`, one
per model id, so rankings never mix models. `CatalogIndex` keeps it in step with the catalog
(storage.CatalogCache, which moves with the catalog revision): tracks added since the index's
revision are added to it; removed or replaced vectors, a file of another model or of another
catalog (its track ids or vector fingerprints are not this catalog's, whatever its revision and
count), a corrupt file, or more new tracks than the index holds (its quantisers were trained on
a much smaller catalog) make it rebuild from the catalog. The index ranks from its own
half-precision copies of the vectors (scores within about 1e-3 of the cosines), so once it is
current the catalog's matrix is released: above the crossover the bot holds the index (about
0.6 GB per million 256-d vectors), not the index and a 1 GB-per-million matrix besides.

Over a read-only database (`read_only`) nothing is built or written: the saved index is used
when it is current, and otherwise every query is ranked exactly.
"""

import asyncio
import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core import index as ann
from core.ranking import Ranking, rank
from storage import Catalog, CatalogCache

log = logging.getLogger(__name__)

PRINT_TOLERANCE = 1e-3  # fingerprints further apart than this: the vector was replaced


def index_folder(database_path: Path) -> Path | None:
    """`<database file>.index` beside the database; None for an in-memory database."""
    if str(database_path) == ":memory:":
        return None
    return database_path.with_name(f"{database_path.name}.index")


def index_file(folder: Path, model_id: str) -> Path:
    """The model's index file in `folder`: its id made file-safe, plus a hash of the real id."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:10]
    return folder / f"{safe}-{digest}.{ann.LIBRARY}"


class IndexNotCurrentError(ann.VectorIndexError):
    """Over a read-only database: no saved index of the catalog's current revision."""


class CatalogIndex:
    """Ranks queries of one model id; holds (and saves) its approximate index when used."""

    def __init__(
        self,
        folder: Path | None,
        model_id: str,
        *,
        crossover: int | None = None,
        read_only: bool = False,
    ) -> None:
        self.model_id = model_id
        self.path = index_file(folder, model_id) if folder is not None else None
        self.crossover = ann.CROSSOVER if crossover is None else crossover
        self.read_only = read_only  # never build or write: use the saved index or rank exactly
        self._index: ann.VectorIndex | None = None
        self._not_current: int | None = None  # read-only: the revision no saved index covers
        self._lock = asyncio.Lock()
        self.builds = 0  # full builds from the catalog
        self.additions = 0  # incremental updates

    def used_for(self, catalog: Catalog) -> bool:
        """Whether a catalog of this size is ranked through the index (faiss installed)."""
        return len(catalog) >= self.crossover and ann.available()

    async def rank(self, query: npt.NDArray[np.float32], catalogs: CatalogCache, k: int) -> Ranking:
        """The `k` catalog tracks most similar to `query`, best first (see the module)."""
        index = self._index
        idle = not self._lock.locked()
        if index is not None and idle and index.revision == await catalogs.revision():
            try:  # current: the index alone answers, no matrix needed
                return index.search(query, k)
            except Exception:
                log.exception("index unusable for %s; ranked exactly", self.model_id)
        catalog = await catalogs.get()
        if not self.used_for(catalog) or self._lock.locked():
            # small catalog, no faiss, or an update in progress: the exact ranking, at once
            return rank(query, catalog.matrix, catalog.track_ids, k)
        try:
            index = await self.sync(catalog)
            ranking = index.search(query, k)
        except IndexNotCurrentError:
            return rank(query, catalog.matrix, catalog.track_ids, k)
        except Exception:  # an optional accelerator never costs an answer: rank exactly
            log.exception("index unusable for %s; ranked exactly", self.model_id)
            return rank(query, catalog.matrix, catalog.track_ids, k)
        catalogs.release()  # the index is current: later queries need no matrix
        return ranking

    async def prepare(self, catalogs: CatalogCache) -> None:
        """Load, update or build the index now (start-up), if this catalog uses one; then the
        matrix is released, as after a query."""
        catalog = await catalogs.get()
        if self.used_for(catalog):
            try:
                await self.sync(catalog)
            except IndexNotCurrentError:
                log.info("no current index of %s over a read-only database", self.model_id)
            except Exception:  # the bot still starts: queries rank exactly or retry the index
                log.exception("index not prepared for %s", self.model_id)
            else:
                catalogs.release()

    async def sync(self, catalog: Catalog) -> ann.VectorIndex:
        """The index, brought to `catalog`'s revision (in a thread: a build takes seconds).
        IndexNotCurrentError when read-only and no saved index is current."""
        if catalog.model_id != self.model_id:
            raise ann.IndexMismatchError(f"a {catalog.model_id} catalog for {self.model_id}")
        async with self._lock:
            index = self._index
            if index is not None and _current(index, catalog):
                return index
            if self.read_only and self._not_current == catalog.revision:
                raise IndexNotCurrentError(f"no index of {self.model_id} at {catalog.revision}")
            index = await asyncio.to_thread(self._synced, catalog)
            self._index = index
            return index

    def _synced(self, catalog: Catalog) -> ann.VectorIndex:
        index = self._index
        if index is None or (self.read_only and not _current(index, catalog)):
            loaded = self._load(catalog.dim)  # read-only: another process may have saved it
            index = loaded if loaded is not None else index
        if index is not None and _current(index, catalog):
            return index
        if self.read_only:  # never built nor written beside a read-only database
            self._not_current = catalog.revision
            log.info("saved index of %s is not current: ranked exactly", self.model_id)
            raise IndexNotCurrentError(f"no index of {self.model_id} at {catalog.revision}")
        if index is not None and index.dim == catalog.dim and self._bridge(index, catalog):
            self.additions += 1
        else:
            index = ann.VectorIndex.build(
                self.model_id, catalog.track_ids, catalog.matrix, catalog.revision
            )
            self.builds += 1
            log.info("index built: %s, %d vectors", self.model_id, len(index))
        self._save(index)
        return index

    def _bridge(self, index: ann.VectorIndex, catalog: Catalog) -> bool:
        """Add the catalog's new tracks to `index`; False when only a rebuild will do."""
        ids = catalog.track_ids
        rows = np.searchsorted(ids, index.ids)
        inside = rows < len(ids)
        if not inside.all() or not np.array_equal(ids[rows], index.ids):
            log.info("index stale: tracks were removed from %s", self.model_id)
            return False
        now = ann.fingerprints(catalog.matrix)
        if not np.allclose(now[rows], index.prints, atol=PRINT_TOLERANCE, rtol=0):
            log.info("index stale: vectors of %s were replaced", self.model_id)
            return False
        new = np.ones(len(ids), bool)
        new[rows] = False
        if new.sum() > len(index):
            log.info("index stale: %s more than doubled", self.model_id)
            return False
        index.add(ids[new], catalog.matrix[new], catalog.revision)
        return True

    def _load(self, dim: int) -> ann.VectorIndex | None:
        if self.path is None:
            return None
        try:
            return ann.VectorIndex.load(self.path, self.model_id, dim)
        except FileNotFoundError:
            return None
        except (ann.VectorIndexError, OSError) as error:
            log.warning("index rebuilt: %s", error)
            return None

    def _save(self, index: ann.VectorIndex) -> None:
        if self.path is None:
            return
        try:
            index.save(self.path)
        except OSError as error:  # a read-only database folder: the index lives in memory only
            log.warning("index not saved: %s", error)


def _current(index: ann.VectorIndex, catalog: Catalog) -> bool:
    """Whether `index` holds `catalog`'s vectors as they are now. The revision and the count
    are not enough: an index copied from another catalog can have the same ones, and would
    answer with that catalog's ranking. So its ids and the vectors' fingerprints must match
    too (one matrix-vector product, done only when the revision and the count already do)."""
    if index.revision != catalog.revision or len(index) != len(catalog):
        return False
    order = np.argsort(index.ids, kind="stable")
    if not np.array_equal(index.ids[order], catalog.track_ids):
        log.info("index of %s is another catalog's: its tracks differ", index.model_id)
        return False
    now = ann.fingerprints(catalog.matrix)
    if not np.allclose(index.prints[order], now, atol=PRINT_TOLERANCE, rtol=0):
        log.info("index of %s is another catalog's: its vectors differ", index.model_id)
        return False
    return True
