"""Track vectors per model id, and the catalog matrix built from them.

A vector is keyed by (track, model id): vectors of different models live side by side and are
never mixed, because every read filters on one model id.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from storage.catalog import Catalog
from storage.codecs import FLOAT32_LE, decode_rows, encode_rows, encode_vector
from storage.errors import DimensionMismatchError
from storage.session import Connector, Session

_IDS_PER_QUERY = 500  # bound parameters per statement, well under SQLite's limit
LOAD_CHUNK = 20_000  # rows read at a time by load_catalog (20 MB of 256-d vectors)
# Rows decoded on the calling thread (the event loop) at most: more are joined and copied in a
# thread. 5,000 768-d blobs (15 MB) held the loop 5–17 ms; 256 take well under a millisecond.
DECODED_INLINE = 256
# A revision further than this from a cached catalog's is reloaded whole (`added_since`).
ADDED_AT_MOST = LOAD_CHUNK


@dataclass(frozen=True)
class VectorRows:
    """Some of a model's vectors, by ascending track id (`rows_after`): track_ids (m,) int64,
    matrix (m, dim) float32; `total`, when asked for, the model's vector count in the same
    snapshot (what tells a reader that tracks were removed); `revision`, the catalog revision
    they were read at (`added_since`)."""

    track_ids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]
    total: int | None = None
    revision: int | None = None

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])


class EmbeddingRepository:
    """The `embeddings` table and the catalog revision its triggers maintain."""

    def __init__(self, connector: Connector) -> None:
        self._sql = connector

    async def put(
        self,
        track_id: int,
        model_id: str,
        vector: npt.ArrayLike,
        sections: npt.ArrayLike | None = None,
    ) -> None:
        """Store (or replace) a track's (dim,) vector for `model_id`, with its (k, dim) section
        vectors when given (kept as float16).

        The vector must be 1-D and finite, and as long as the model's other vectors
        (DimensionMismatchError otherwise): one model id is one vector space.
        """
        blob = encode_vector(vector)
        dim = len(blob) // FLOAT32_LE.itemsize
        section_blob = None if sections is None else encode_rows(sections, dim)
        async with self._sql.transaction() as tx:
            other = await _stored_dim(tx, model_id, excluding_track=track_id)
            if other is not None and other != dim:
                raise DimensionMismatchError(
                    f"model {model_id!r} stores {other}-d vectors, got a {dim}-d one"
                )
            await tx.execute(
                """INSERT INTO embeddings (track_id, model_id, dim, vector, sections)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (track_id, model_id) DO UPDATE SET
                       dim = excluded.dim, vector = excluded.vector,
                       sections = excluded.sections, created_at = excluded.created_at""",
                (track_id, model_id, dim, blob, section_blob),
            )

    async def put_many(self, model_id: str, vectors: Sequence[tuple[int, npt.ArrayLike]]) -> None:
        """Store (or replace) many tracks' (dim,) vectors of `model_id` in one transaction,
        validated as `put` does (1-D, finite, one length per model): a bulk import or a
        benchmark's catalog of a million tracks, which one transaction per track makes slow."""
        rows = [(int(track_id), encode_vector(vector)) for track_id, vector in vectors]
        dims = {len(blob) // FLOAT32_LE.itemsize for _, blob in rows}
        if len(dims) > 1:
            raise DimensionMismatchError(f"vectors of lengths {sorted(dims)} for {model_id!r}")
        if not rows:
            return
        dim = dims.pop()
        async with self._sql.transaction() as tx:
            other = await _stored_dim(tx, model_id)
            if other is not None and other != dim:
                raise DimensionMismatchError(
                    f"model {model_id!r} stores {other}-d vectors, got {dim}-d ones"
                )
            await tx.executemany(
                """INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (?, ?, ?, ?)
                   ON CONFLICT (track_id, model_id) DO UPDATE SET
                       dim = excluded.dim, vector = excluded.vector, sections = NULL,
                       created_at = excluded.created_at""",
                ((track_id, model_id, dim, blob) for track_id, blob in rows),
            )

    async def count(self, model_id: str) -> int:
        """How many vectors `model_id` has (its index, not its blobs, is read)."""
        row = await self._sql.fetchone_required(
            "SELECT COUNT(*) AS n FROM embeddings WHERE model_id = ?", (model_id,)
        )
        return int(row["n"])

    async def rows_after(
        self, model_id: str, after: int | None, limit: int, *, total: bool = False
    ) -> VectorRows:
        """Up to `limit` vectors of `model_id` whose track id is above `after` (all: None), by
        ascending id, and with `total` the model's count read in the same snapshot: a catalog
        streamed a chunk at a time, or the tracks added since an index was built, without
        loading the catalog matrix."""
        async with self._sql.transaction(write=False) as tx:
            rows = await tx.fetchall(
                """SELECT track_id, dim, vector FROM embeddings
                   WHERE model_id = ? AND track_id > coalesce(?, -9223372036854775808)
                   ORDER BY track_id LIMIT ?""",
                (model_id, after, limit),
            )
            count = None
            if total:
                row = await tx.fetchone_required(
                    "SELECT COUNT(*) AS n FROM embeddings WHERE model_id = ?", (model_id,)
                )
                count = int(row["n"])
        part = await _decoded(model_id, rows)
        return VectorRows(part.track_ids, part.matrix, count)

    async def added_since(self, model_id: str, revision: int, after: int) -> VectorRows | None:
        """The vectors of `model_id` added since a snapshot read at `revision` whose highest
        track id was `after` (none when the revision has not moved), with the revision now —
        when adding them is all that changed in the whole catalog since; None when anything
        else did (a vector removed or replaced, another model's changed, more than
        ADDED_AT_MOST changes): then only a full `load_catalog` gives the catalog.

        Exact, not a guess: the triggers bump the revision once per row inserted, deleted or
        updated in a column the matrix is made of (storage/migrations.py), so when it moved by
        exactly the number of this model's rows above `after` (each was inserted since
        `revision`: the snapshot held every row of the model), those inserts were the only
        changes. One statement, so one snapshot and
        one round trip to the connection's thread: as cheap as `revision` when nothing moved.
        """
        rows = await self._sql.fetchall(
            """SELECT revision AS now, NULL AS track_id, NULL AS dim, NULL AS vector
               FROM catalog_state WHERE id = 1
               UNION ALL
               SELECT * FROM (
                   SELECT NULL, track_id, dim, vector FROM embeddings
                   WHERE model_id = ? AND track_id > ? ORDER BY track_id
                   LIMIT max(0, min((SELECT revision FROM catalog_state WHERE id = 1) - ?, ?)) + 1
               )
               ORDER BY track_id""",  # the revision's row first (NULL sorts first)
            (model_id, after, revision, ADDED_AT_MOST),
        )
        now = int(rows[0]["now"])
        moved = now - revision
        if moved < 0 or moved > ADDED_AT_MOST or len(rows) - 1 != moved:
            return None
        part = await _decoded(model_id, rows[1:])
        return VectorRows(part.track_ids, part.matrix, revision=now)

    async def has(self, track_id: int, model_id: str) -> bool:
        """Whether the track already has a vector of this model (the importer skips it)."""
        row = await self._sql.fetchone(
            "SELECT 1 FROM embeddings WHERE track_id = ? AND model_id = ?", (track_id, model_id)
        )
        return row is not None

    async def has_sections(self, track_id: int, model_id: str) -> bool:
        """Whether the track's vector of this model was stored with its section vectors."""
        row = await self._sql.fetchone(
            "SELECT 1 FROM embeddings WHERE track_id = ? AND model_id = ? AND sections NOT NULL",
            (track_id, model_id),
        )
        return row is not None

    async def vectors(
        self, model_id: str, track_ids: Sequence[int]
    ) -> dict[int, npt.NDArray[np.float32]]:
        """Each listed track's stored (dim,) vector of `model_id`, without reading the catalog:
        what a question about a few known tracks needs (a result to explore, copy candidates).
        Tracks without a vector of the model are absent."""
        found: dict[int, npt.NDArray[np.float32]] = {}
        wanted = list(dict.fromkeys(int(i) for i in track_ids))
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            rows = await self._sql.fetchall(
                f"""SELECT track_id, vector FROM embeddings
                    WHERE model_id = ? AND track_id IN ({", ".join("?" * len(chunk))})""",
                (model_id, *chunk),
            )
            for row in rows:
                vector = np.frombuffer(row["vector"], dtype=FLOAT32_LE).astype(np.float32)
                found[int(row["track_id"])] = vector
        return found

    async def sections(
        self, model_id: str, track_ids: Sequence[int]
    ) -> dict[int, npt.NDArray[np.float32]]:
        """Each listed track's (k, dim) section vectors of `model_id`; a vector stored without
        sections stands for its track's only section, (1, dim). Tracks without a vector of
        the model are absent."""
        found: dict[int, npt.NDArray[np.float32]] = {}
        wanted = list(dict.fromkeys(int(i) for i in track_ids))
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            rows = await self._sql.fetchall(
                f"""SELECT track_id, dim, vector, sections FROM embeddings
                    WHERE model_id = ? AND track_id IN ({", ".join("?" * len(chunk))})""",
                (model_id, *chunk),
            )
            for row in rows:
                dim = int(row["dim"])
                if row["sections"] is None:
                    vector = np.frombuffer(row["vector"], dtype=FLOAT32_LE).astype(np.float32)
                    found[int(row["track_id"])] = vector.reshape(1, dim)
                else:
                    found[int(row["track_id"])] = decode_rows(row["sections"], dim)
        return found

    async def rename_model(self, old_id: str, new_id: str) -> int:
        """Move every vector of `old_id` to `new_id`; how many moved.

        For a model whose id changed only in spelling: its stored vectors stay usable instead
        of being recomputed. A track that already has a `new_id` vector keeps that one (its
        `old_id` vector is dropped). All or nothing, in one transaction; the triggers bump the
        catalog revision. DimensionMismatchError if the two ids hold vectors of different
        lengths: they are not one vector space.
        """
        if old_id == new_id:
            return 0
        async with self._sql.transaction() as tx:
            old_dim = await _stored_dim(tx, old_id)
            new_dim = await _stored_dim(tx, new_id)
            if old_dim is not None and new_dim is not None and old_dim != new_dim:
                raise DimensionMismatchError(
                    f"model {old_id!r} stores {old_dim}-d vectors, {new_id!r} {new_dim}-d ones"
                )
            await tx.execute(
                """DELETE FROM embeddings WHERE model_id = ? AND track_id IN
                       (SELECT track_id FROM embeddings WHERE model_id = ?)""",
                (old_id, new_id),
            )
            return await tx.execute(
                "UPDATE embeddings SET model_id = ? WHERE model_id = ?", (new_id, old_id)
            )

    async def revision(self) -> int:
        """The catalog revision: changes whenever any vector is added, replaced or deleted."""
        row = await self._sql.fetchone_required("SELECT revision FROM catalog_state WHERE id = 1")
        return int(row["revision"])

    async def load_catalog(self, model_id: str) -> Catalog:
        """All vectors of `model_id` and the revision they were read at, from one snapshot.

        Read LOAD_CHUNK rows at a time into the matrix, so that a large catalog needs about its
        matrix's size while it loads (1 GB per million 256-d vectors), not three times that.
        Raises DimensionMismatchError if the stored vectors disagree on their length (written
        around `put`, e.g. by a manual edit).
        """
        async with self._sql.transaction(write=False) as tx:
            state = await tx.fetchone_required("SELECT revision FROM catalog_state WHERE id = 1")
            count = await tx.fetchone_required(
                "SELECT COUNT(*) AS n FROM embeddings WHERE model_id = ?", (model_id,)
            )
            track_ids = np.zeros(0, np.int64)
            matrix = np.zeros((0, 0), np.float32)
            filled, last = 0, None
            while filled < int(count["n"]):
                rows = await tx.fetchall(
                    """SELECT track_id, dim, vector FROM embeddings
                       WHERE model_id = ? AND track_id > coalesce(?, -9223372036854775808)
                       ORDER BY track_id LIMIT ?""",
                    (model_id, last, LOAD_CHUNK),
                )
                if not rows:
                    break
                dims = {int(row["dim"]) for row in rows} | ({matrix.shape[1]} if filled else set())
                if len(dims) > 1:
                    raise DimensionMismatchError(
                        f"model {model_id!r} has vectors of lengths {sorted(dims)}"
                    )
                if filled == 0:
                    track_ids = np.empty(int(count["n"]), np.int64)
                    matrix = np.empty((int(count["n"]), dims.pop()), np.float32)
                # decoded straight into the matrix, in a thread: 20,000 blobs are 60 MB
                await _run(len(rows), _decode_into, rows, track_ids, matrix, filled)
                filled += len(rows)
                last = int(track_ids[filled - 1])
        track_ids, matrix = track_ids[:filled], matrix[:filled]
        track_ids.flags.writeable = False
        matrix.flags.writeable = False
        return Catalog(model_id, int(state["revision"]), track_ids, matrix)


Params = ParamSpec("Params")
Result = TypeVar("Result")


async def _run(
    rows: int, function: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs
) -> Result:
    """`function(...)` here when it decodes at most DECODED_INLINE rows, else in a thread."""
    if rows <= DECODED_INLINE:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)


async def _decoded(model_id: str, rows: list[sqlite3.Row]) -> Catalog:
    """`_snapshot` of rows just read, off the event loop when they are many."""
    return await _run(len(rows), _snapshot, model_id, 0, rows)


def _decode_into(
    rows: list[sqlite3.Row],
    track_ids: npt.NDArray[np.int64],
    matrix: npt.NDArray[np.float32],
    start: int,
) -> None:
    """Rows (track_id, vector) of the matrix's width decoded into track_ids and matrix from
    `start`: the blobs joined once and copied in, no float32 matrix of the chunk beside it."""
    end = start + len(rows)
    track_ids[start:end] = np.fromiter((row["track_id"] for row in rows), np.int64, len(rows))
    blobs = b"".join(row["vector"] for row in rows)
    matrix[start:end] = np.frombuffer(blobs, dtype=FLOAT32_LE).reshape(len(rows), -1)


def _snapshot(model_id: str, revision: int, rows: list[sqlite3.Row]) -> Catalog:
    """A read-only Catalog of `rows` (track_id, dim, vector), in their order."""
    dims = {int(row["dim"]) for row in rows}
    if len(dims) > 1:
        raise DimensionMismatchError(f"model {model_id!r} has vectors of lengths {sorted(dims)}")
    width = dims.pop() if dims else 0
    track_ids = np.fromiter((row["track_id"] for row in rows), dtype=np.int64, count=len(rows))
    matrix = (
        np.frombuffer(b"".join(row["vector"] for row in rows), dtype=FLOAT32_LE)
        .astype(np.float32)
        .reshape(len(rows), width)
    )
    track_ids.flags.writeable = False
    matrix.flags.writeable = False
    return Catalog(model_id, revision, track_ids, matrix)


async def _stored_dim(
    tx: Session, model_id: str, *, excluding_track: int | None = None
) -> int | None:
    """The vector length `model_id` stores (one vector is enough), or None if it has none."""
    row = await tx.fetchone(
        "SELECT dim FROM embeddings WHERE model_id = ? AND track_id IS NOT ? LIMIT 1",
        (model_id, excluding_track),
    )
    return int(row["dim"]) if row is not None else None
