"""A model's catalog as ranked: the one place that knows how a raw query vector becomes a ranking
(plain cosine, or the standardised space of a fused model; exact below the crossover, through
the index above it) and how the stored vector closest to it is found (copy detection).

The recommender asks questions of it — for an uploaded track, a stored one, an album's mean —
and never touches the catalog matrix itself, so how ranking scales is decided here alone.

A standardised model (the default fusion) below the crossover, or without faiss, ranks exactly
in its catalog's space, computed in a thread (streamed, never on the event loop). Recomputing it
for every revision a query saw, with the whole matrix reloaded each time, kept queries at
≈ 130 ms and held the event loop up to 136 ms at 5,000 tracks while another process committed
90 tracks a second (bench/catalog_scale.py). So, while tracks are being added:

- the catalog cache reads only the added rows (storage/catalog.py);
- a query does not wait for the grown catalog's space: the added rows are standardised with
  the last space's statistics and appended (`RankingSpace.rows`: each row as that space would
  hold it), and the grown catalog's own space is recomputed in the background
  (`_recomputed`: once no newer revision was seen for QUIET_S, or half of STALE_AT_MOST was
  added since the statistics) and swapped in;
- the matrix-vector products over a catalog of RANKED_INLINE or more run in a thread.

Answers during an import thus use statistics at most STALE_AT_MOST of the catalog old (a query
waits for new ones beyond that); a catalog that does not change is answered in its own space,
exactly as before. A catalog of fewer than PROVISIONAL_FROM tracks (its recompute costs a few
ms), or one changed otherwise than by additions (a track removed or replaced: the cache
reloads it whole), waits for its new space, as before.

From the crossover up, catalog/space_index.py's generations answer (statistics frozen per
generation, tracks added as they arrive, a new generation built in the background), and the
catalog matrix is not held. There a copy is found among the first COPY_CANDIDATES of the
standardised ranking by their stored vectors' plain cosine (a few rows read from storage).
"""

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec

import numpy as np
import numpy.typing as npt

from catalog.index import CatalogIndex, index_folder
from catalog.space_index import SpaceIndex
from core.models import ModelSpec
from core.ranking import Ranking, rank
from core.standardise import RankingSpace, load_prior
from storage import Catalog, CatalogCache, Database
from storage.catalog import GrowingRows

log = logging.getLogger(__name__)

# Candidates of the standardised ranking whose stored vectors are compared by plain cosine for
# copy detection above the crossover: a re-encode's standardised score scatters (down to 0.75),
# but it stays among the first few of a catalog's (bench/catalog_scale.py counts them).
COPY_CANDIDATES = 32
# Below the crossover: catalogs from this size rank with the last space, the tracks added since
# standardised with its statistics, while the grown catalog's space is recomputed in the
# background (smaller ones wait for it: a few milliseconds); at most this share of the catalog
# may have been added since those statistics were computed, else a query waits for new ones.
PROVISIONAL_FROM = 1_000
STALE_AT_MOST = 0.02
# Catalogs ranked exactly in a thread from this size: the products are then long enough (0.2 ms
# on a quiet machine, up to 16 ms while an import shares its cores with BLAS's own threads) to
# hold the event loop up.
RANKED_INLINE = 2_000
Params = ParamSpec("Params")
QUIET_S = 0.25  # no newer revision seen for this long: the catalog's own space is recomputed
ADDED_INLINE = 64  # added rows standardised on the event loop at most (≈ 50 µs each)


@dataclass(frozen=True)
class _Space:
    """The exact path's ranking space and the catalog snapshot it ranks, its standardised
    matrix a view of `rows` (room for the tracks added later). Its statistics are those of the
    catalog's first `counted` rows: all of them (`exact`), or, provisionally, of an earlier
    snapshot, the rows added since standardised with them, until the background recompute."""

    catalog: Catalog
    space: RankingSpace
    rows: GrowingRows[np.float32]
    counted: int

    @property
    def exact(self) -> bool:
        return self.counted == len(self.catalog)


class CatalogRanker:
    """Ranks raw vectors of one model against that model's catalog."""

    def __init__(self, database: Database, model: ModelSpec, index: CatalogIndex | None = None):
        self.model = model
        self.database = database
        self.catalog = CatalogCache(database.embeddings, model.model_id)
        # a standardised model ranks in its catalog's space: exactly below the crossover,
        # recomputed when the catalog changes; above it through `spaces`' generations
        self._prior = load_prior(model.model_id) if model.standardised else None
        self._space: _Space | None = None
        self._space_lock = asyncio.Lock()
        self._recompute: asyncio.Task[None] | None = None
        self.recomputes = 0  # spaces computed for a whole catalog, awaited or in the background
        # exact ranking below the crossover; the approximate index (optional install) above it,
        # only read, never built or written, over a read-only database
        self.index = index or CatalogIndex(
            index_folder(database.path), model.model_id, read_only=database.read_only
        )
        self.spaces = SpaceIndex(database.embeddings, model, self._prior, self.index.crossover)

    async def prepare(self) -> int:
        """Start-up: load, update or build what ranking needs now rather than on the first
        query; the catalog's size."""
        if not self.model.standardised:
            catalog = await self.catalog.get()
            await self.index.prepare(self.catalog)
            return len(catalog)
        revision = await self.catalog.revision()
        count = await self.database.embeddings.count(self.model.model_id)
        if count >= self.spaces.crossover and self.spaces.available():
            try:
                generation = await self.spaces.prepare(revision)  # the matrix is never loaded
            except Exception:  # the bot still starts: its queries are ranked exactly
                log.exception("no standardised index of %s: ranked exactly", self.model.model_id)
            else:
                return generation.count
        catalog = await self.catalog.get()
        await self.ranking_space(catalog)
        return len(catalog)

    async def ranking_space(self, catalog: Catalog) -> RankingSpace | None:
        """The space `catalog` is ranked in (None for a model ranked by plain cosine): its own,
        computed in a thread once per revision; or, while tracks are being added to a catalog
        of PROVISIONAL_FROM or more, the last one with the added tracks appended (see the
        module) while its own is recomputed in the background."""
        if not self.model.standardised:
            return None
        current = self._space
        if current is not None and current.catalog.revision == catalog.revision:
            return current.space
        if current is not None and self._provisional(current, catalog):
            extended = await self._extended(current, catalog)
            if extended is not None:
                return extended.space
        async with self._space_lock:
            current = self._space
            if current is None or current.catalog.revision != catalog.revision:
                current = self._space = await asyncio.to_thread(self._space_of, catalog)
            return current.space

    def _space_of(self, catalog: Catalog) -> _Space:
        """In a thread: the catalog's own space (today's exact ranking), its matrix copied
        into room for the tracks added later (here, not on the event loop at the first one)."""
        space = RankingSpace.of(
            catalog.matrix, self.model.part_sizes, self._prior, self.model.standardised_parts
        )
        rows = GrowingRows(space.matrix, room=max(len(catalog) // 4, 64))
        self.recomputes += 1
        return _Space(catalog, dataclasses.replace(space, matrix=rows.view()), rows, len(catalog))

    @staticmethod
    def _provisional(current: _Space, catalog: Catalog) -> bool:
        """Whether `catalog` may rank in `current`'s space with its added tracks appended."""
        return (
            catalog.extends(current.catalog)
            and len(catalog) >= PROVISIONAL_FROM
            and len(catalog) - current.counted <= STALE_AT_MOST * len(catalog)
        )

    async def _extended(self, current: _Space, catalog: Catalog) -> _Space | None:
        """`current` with the rows `catalog` added standardised with its statistics (appended
        in place), and the recompute of the grown catalog's own space set off; None when
        another space replaced `current` while the rows were standardised."""
        added = catalog.matrix[len(current.catalog) :]
        if len(added) <= ADDED_INLINE:
            rows = current.space.rows(added)
        else:
            rows = await asyncio.to_thread(current.space.rows, added)
        if self._space is not current or current.rows.count != len(current.catalog):
            return None
        current.rows.append(rows)  # past the end of every view a query may still use
        space = dataclasses.replace(current.space, matrix=current.rows.view())
        self._space = extended = _Space(catalog, space, current.rows, current.counted)
        if self._recompute is None or self._recompute.done():
            self._recompute = asyncio.get_running_loop().create_task(self._recomputed())
        return extended

    async def _recomputed(self) -> None:
        """In the background: the own space of the catalog the provisional space ranks, swapped
        in unless the catalog was reloaded meanwhile. Computed once no query has seen a newer
        revision for QUIET_S, or once half of STALE_AT_MOST was added since the statistics:
        during an import, one recompute per 1 % of the catalog rather than one per track (each
        a pass over the whole catalog, whose threads slowed the event loop and the queries);
        after it, the catalog's own space QUIET_S and one recompute later."""
        try:
            while (seen := self._space) is not None and not seen.exact:
                await asyncio.sleep(QUIET_S)
                target = self._space
                if target is None or target.exact:
                    return  # let go (an index answers) or replaced by an awaited space
                added = len(target.catalog) - target.counted
                if target is not seen and added <= STALE_AT_MOST / 2 * len(target.catalog):
                    continue  # still changing, the statistics fresh enough: later
                fresh = await asyncio.to_thread(self._space_of, target.catalog)
                latest = self._space
                if latest is None or latest.exact or not latest.catalog.extends(target.catalog):
                    continue  # let go, replaced by an awaited space, or reloaded: see again
                self._space = fresh
                if latest is not target:  # tracks added while it was computed: provisionally
                    await self._extended(fresh, latest.catalog)
        except Exception:  # queries go on with the provisional space, and wait when it is stale
            log.exception("ranking space of %s not recomputed", self.model.model_id)

    async def settled(self) -> None:
        """Wait until the ranking space and index updates running in the background are done
        (tests, the benchmark): the answers are then the catalog's own space's."""
        while self._recompute is not None and not self._recompute.done():
            await asyncio.wait({self._recompute})
        await self.spaces.settled()

    async def rank(self, vector: npt.NDArray[np.float32], k: int) -> Ranking:
        """The `k` catalog tracks most similar to the raw `vector`, best first, in the model's
        ranking space; empty when the catalog has no vectors of this model."""
        if not self.model.standardised:
            # exact below the crossover; above it the index alone, and then the catalog
            # matrix is not held (catalog/index.py)
            return await self.index.rank(vector, self.catalog, k)
        if await self._indexed():
            # never fewer than COPY_CANDIDATES: the index re-scores candidates in proportion
            # to the number asked for, and a short search would lose recall
            ranking = await self.spaces.search(vector, max(k, COPY_CANDIDATES))
            return Ranking(ranking.ids[:k], ranking.scores[:k])
        catalog = await self.catalog.get()
        self._grown(catalog)
        space = await self.ranking_space(catalog)
        if space is None or len(catalog) == 0:
            return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
        return await _inline_or_threaded(
            len(catalog), rank, space.query(vector), space.matrix, catalog.track_ids, k
        )

    async def nearest(
        self, vector: npt.NDArray[np.float32], ranking: Ranking | None = None
    ) -> Ranking:
        """The stored vector closest to the raw `vector` by plain cosine (≤ 1 entry): whether
        it is a copy of a catalog track. A standardised space spreads the scores of re-encodes
        too widely to set a threshold on, so its own ranking cannot tell; above the crossover
        the copy is looked for among its first COPY_CANDIDATES. `ranking`, the vector's own
        from `rank`, saves a search where it serves (a plain-cosine model's head, or enough
        candidates); only an upload's answer needs this, a stored vector's never does."""
        if not self.model.standardised:
            if ranking is not None:
                return Ranking(ranking.ids[:1], ranking.scores[:1])
            return await self.index.rank(vector, self.catalog, 1)
        if await self._indexed():
            if ranking is None or len(ranking) < COPY_CANDIDATES:
                ranking = await self.spaces.search(vector, COPY_CANDIDATES)
            return await self._nearest_of(vector, ranking.ids[:COPY_CANDIDATES])
        catalog = await self.catalog.get()
        return await _inline_or_threaded(
            len(catalog), rank, vector, catalog.matrix, catalog.track_ids, 1
        )

    async def _indexed(self) -> bool:
        """Whether a generation of the standardised index answers (set off its update to the
        catalog's revision in the background); the exact space and matrix are let go then."""
        if self.spaces.generation is None:
            return False
        self.spaces.refresh(await self.catalog.revision())
        if self._space is not None or self.catalog.held:
            self._space = None
            self.catalog.release()
        return self.spaces.generation is not None

    def _grown(self, catalog: Catalog) -> None:
        """A catalog ranked exactly that has reached the crossover gets its first generation,
        built in the background while exact ranking answers."""
        if len(catalog) >= self.spaces.crossover and self.spaces.available():
            self.spaces.start(catalog.revision)

    async def _nearest_of(
        self, vector: npt.NDArray[np.float32], candidates: npt.NDArray[np.int64]
    ) -> Ranking:
        """The candidate whose stored vector is closest to `vector` by plain cosine."""
        stored = await self.database.embeddings.vectors(
            self.model.model_id, [int(i) for i in candidates]
        )
        ids = np.array([i for i in candidates if int(i) in stored], np.int64)
        if not len(ids):
            return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
        matrix = np.stack([stored[int(i)] for i in ids])
        return rank(vector, matrix, ids, 1)


async def _inline_or_threaded(
    tracks: int,
    function: Callable[Params, Ranking],
    *args: Params.args,
    **kwargs: Params.kwargs,
) -> Ranking:
    """`function(...)`, a product over a catalog of `tracks`: here when it is small, in a
    thread from RANKED_INLINE tracks (see the module)."""
    if tracks < RANKED_INLINE:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)
