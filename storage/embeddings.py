"""Track vectors per model id, and the catalog matrix built from them.

A vector is keyed by (track, model id): vectors of different models live side by side and are
never mixed, because every read filters on one model id. Tag probabilities are stored next to
the vector as a JSON object {tag: probability}, so the bot can show a track's top tags without
knowing the model's label list.
"""

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from storage.catalog import Catalog
from storage.codecs import FLOAT32_LE, decode_vector, encode_vector
from storage.errors import DimensionMismatchError

if TYPE_CHECKING:
    from storage.database import Database


class EmbeddingRepository:
    """The `embeddings` table and the catalog revision its triggers maintain."""

    def __init__(self, db: "Database") -> None:
        self._db = db

    async def put(
        self,
        track_id: int,
        model_id: str,
        vector: npt.ArrayLike,
        tags: Mapping[str, float] | None = None,
    ) -> None:
        """Store (or replace) a track's (dim,) vector for `model_id`, with optional tags.

        The vector must be 1-D and finite, and as long as the model's other vectors
        (DimensionMismatchError otherwise): one model id is one vector space. Pass only the
        tags worth showing (e.g. the top ten), not the full label distribution.
        """
        blob = encode_vector(vector)
        dim = len(blob) // FLOAT32_LE.itemsize
        tags_json = (
            json.dumps({str(k): float(v) for k, v in tags.items()}, allow_nan=False)
            if tags is not None
            else None
        )
        async with self._db.transaction() as tx:
            other = await tx.fetchone(
                "SELECT dim FROM embeddings WHERE model_id = ? AND track_id != ? LIMIT 1",
                (model_id, track_id),
            )
            if other is not None and other["dim"] != dim:
                raise DimensionMismatchError(
                    f"model {model_id!r} stores {other['dim']}-d vectors, got a {dim}-d one"
                )
            await tx.execute(
                """INSERT INTO embeddings (track_id, model_id, dim, vector, tags)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (track_id, model_id) DO UPDATE SET
                       dim = excluded.dim, vector = excluded.vector, tags = excluded.tags,
                       created_at = excluded.created_at""",
                (track_id, model_id, dim, blob, tags_json),
            )

    async def has(self, track_id: int, model_id: str) -> bool:
        """Whether the track already has a vector of this model (the importer skips it)."""
        row = await self._db.fetchone(
            "SELECT 1 FROM embeddings WHERE track_id = ? AND model_id = ?", (track_id, model_id)
        )
        return row is not None

    async def get(self, track_id: int, model_id: str) -> npt.NDArray[np.float32] | None:
        """The track's (dim,) vector of this model, or None."""
        row = await self._db.fetchone(
            "SELECT dim, vector FROM embeddings WHERE track_id = ? AND model_id = ?",
            (track_id, model_id),
        )
        return decode_vector(row["vector"], row["dim"]) if row else None

    async def get_tags(self, track_id: int, model_id: str) -> dict[str, float] | None:
        """The stored tag probabilities, most probable first; None if none were stored."""
        row = await self._db.fetchone(
            "SELECT tags FROM embeddings WHERE track_id = ? AND model_id = ?",
            (track_id, model_id),
        )
        if row is None or row["tags"] is None:
            return None
        tags: dict[str, float] = json.loads(row["tags"])
        return dict(sorted(tags.items(), key=lambda item: item[1], reverse=True))

    async def model_ids(self) -> list[str]:
        """Model ids that have at least one vector."""
        rows = await self._db.fetchall("SELECT DISTINCT model_id FROM embeddings ORDER BY 1")
        return [row["model_id"] for row in rows]

    async def revision(self) -> int:
        """The catalog revision: changes whenever any vector is added, replaced or deleted."""
        row = await self._db.fetchone_required("SELECT revision FROM catalog_state WHERE id = 1")
        return int(row["revision"])

    async def load_matrix(
        self, model_id: str, *, dim: int | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """All vectors of `model_id`: ((n,) int64 track ids ascending, (n, dim) float32).

        Both arrays are read-only; (0, dim or 0) when the model has no vectors.
        """
        catalog = await self.load_catalog(model_id, dim=dim)
        return catalog.track_ids, catalog.matrix

    async def load_catalog(self, model_id: str, *, dim: int | None = None) -> Catalog:
        """`load_matrix` plus the revision it was read at, from one read snapshot.

        Raises DimensionMismatchError if the stored vectors disagree on their length, or with
        `dim` when it is given.
        """
        async with self._db.transaction(write=False) as tx:
            state = await tx.fetchone_required("SELECT revision FROM catalog_state WHERE id = 1")
            rows = await tx.fetchall(
                "SELECT track_id, dim, vector FROM embeddings WHERE model_id = ? ORDER BY track_id",
                (model_id,),
            )
        dims = {row["dim"] for row in rows}
        if len(dims) > 1 or (dim is not None and dims - {dim}):
            expected = f", expected {dim}" if dim is not None else ""
            raise DimensionMismatchError(
                f"model {model_id!r} has vectors of lengths {sorted(dims)}{expected}"
            )
        width = dims.pop() if dims else (dim or 0)
        track_ids = np.fromiter((row["track_id"] for row in rows), dtype=np.int64, count=len(rows))
        matrix = (
            np.frombuffer(b"".join(row["vector"] for row in rows), dtype=FLOAT32_LE)
            .astype(np.float32)
            .reshape(len(rows), width)
        )
        track_ids.flags.writeable = False
        matrix.flags.writeable = False
        return Catalog(model_id, int(state["revision"]), track_ids, matrix)
