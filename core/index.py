"""An approximate nearest-neighbour index of one model's catalog, for catalogs too large to scan.

Exact ranking (core.ranking.rank) reads every catalog vector per query: 1,000,000 256-d vectors
is 1 GB per query. Above `CROSSOVER` vectors this index answers instead: faiss product
quantisation with 4-bit codes scanned by SIMD ("fast scan", 64 bytes per 256-d vector), whose
best `k × K_FACTOR` candidates are re-scored from half-precision copies of the vectors
(`Refine(SQfp16)`, two bytes per dimension), so its scores are the cosines to within about
1e-3 and its order the exact one but for such near-ties: recall@10 1.000 at 1,000,000 random
256-d vectors, where 8-bit copies (`Refine(SQ8)`, the first version) reach 0.978 at the same
speed (measured side by side, 4.15 and 5.13 ms on the loaded machine) for half the memory.
Graph indexes (HNSW, in faiss and usearch) were measured too and lost: on random unit vectors
they reach recall@10 ≈ 0.5–0.8 at the same latency (bench/index_speed.py, docs/scaling.md "Large
catalogs"). So did, at 1,000,000 random 256-d vectors:
IVF256 with fast-scan PQ in its lists (recall@10 0.38, 0.56, 0.81 probing 1/8, 1/4, 1/2 of the
lists: random data has no clusters), a cheaper code (PQ64x4fs: 0.79–0.93 with 1,000–4,000
candidates), 1-bit RaBitQ fast scan (0.77–0.86), more candidates re-scored from 8-bit copies
(k_factor 10, 20, 40 all give 0.978: the 8-bit scores decide the top 10), bfloat16 copies
(0.992), and a second OpenMP thread (no faster: faiss splits fast-scan work by query, and a
query is one).

faiss is an optional install (requirements-scale.txt); `available()` says whether it is here,
and nothing in this module imports it before an index is built or loaded.

An index records the model id and the dimension it was built for, the catalog revision it
covers, its ids, and a fingerprint of every vector (the vector's dot product with a fixed
random direction), so whoever keeps it in step with the catalog can tell added tracks (add
them), removed or replaced ones (rebuild), a file of another catalog with the same revision
and count (its ids or fingerprints differ: rebuild), and one of another model (refused on load).
"""

import functools
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.ranking import Ranking

CROSSOVER = 10_000  # catalog size from which the index is faster than exact (bench/index_speed.py)
MAX_SUBQUANTISERS = 128  # 4-bit fast-scan PQ: 64 bytes of code per 256-d vector
REFINE = "SQfp16"  # the copies its candidates are re-scored from: 512 bytes per 256-d vector
K_FACTOR = 10  # candidates re-scored (half-precision copies) per result asked for
TRAINING_SIZE = 65_536  # vectors the quantisers are trained on (a sample of larger catalogs)
MIN_TRAINING = 4_096  # fewer catalog vectors are topped up with random ones to train on
THREADS = 1  # OpenMP threads faiss uses (see _faiss)
FORMAT = 2  # version of the saved file's layout (1: 8-bit copies; rebuilt when found)
LIBRARY = "faiss"


class VectorIndexError(Exception):
    """Base of this module's errors."""


class IndexMismatchError(VectorIndexError):
    """An index of another model id or dimension than the one asked for."""


class IndexFileError(VectorIndexError):
    """An index file that cannot be read: truncated, corrupt, or of another format."""


def _absent_build(record: logging.LogRecord) -> bool:
    """False for faiss's loader reporting that its AVX512 or AVX2 build is not in the wheel
    ("Could not load library with AVX2 support due to: ModuleNotFoundError(...)"): it tries
    each before its generic build, at every start, and the wheel ships only some of them. Its
    other records, a build present but failing to load among them, pass."""
    message = record.getMessage()
    return not (
        message.startswith("Could not load library with") and "ModuleNotFoundError" in message
    )


logging.getLogger("faiss.loader").addFilter(_absent_build)  # before anything imports faiss


@functools.cache
def available() -> bool:
    """Whether faiss (requirements-scale.txt) is installed."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def subquantisers(dim: int) -> int:
    """PQ sub-vectors for `dim`: the most, up to MAX_SUBQUANTISERS, that divide it evenly."""
    return max(m for m in range(1, min(dim, MAX_SUBQUANTISERS) + 1) if dim % m == 0)


def fingerprints(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(n,) a number per row that changes when the row does: its dot with a fixed direction."""
    rng = np.random.default_rng(20_130_613)
    direction = rng.standard_normal(size=(matrix.shape[1],), dtype=np.float32)
    return np.asarray(matrix @ direction, np.float32)


@dataclass
class VectorIndex:
    """The index of one model's vectors; build with `build`, read with `load`."""

    model_id: str
    dim: int
    revision: int  # the catalog revision it covers
    ids: npt.NDArray[np.int64]  # (n,) in the order they were added
    prints: npt.NDArray[np.float32]  # (n,) fingerprints of the vectors, as `ids`
    _faiss: Any

    @classmethod
    def build(
        cls,
        model_id: str,
        ids: npt.NDArray[np.int64],
        matrix: npt.NDArray[np.float32],
        revision: int,
    ) -> "VectorIndex":
        """An index of `matrix` (n, dim) float32 unit rows whose ids are `ids` (n,)."""
        if matrix.ndim != 2 or matrix.shape[0] != ids.shape[0] or matrix.shape[1] == 0:
            raise ValueError(f"{matrix.shape} vectors for {ids.shape[0]} ids")
        index = cls.trained(model_id, _training_sample(matrix), revision)
        index.add(ids, matrix, revision)
        return index

    @classmethod
    def trained(
        cls,
        model_id: str,
        sample: npt.NDArray[np.float32],
        revision: int,
        *,
        pq: int | None = None,
    ) -> "VectorIndex":
        """An empty index whose quantisers are trained on `sample` (m, dim) unit rows, to be
        filled with `add` a chunk at a time (a catalog streamed from storage, never held whole).
        `pq`, the sub-quantisers (default `subquantisers(dim)`), must divide dim."""
        faiss = _faiss()
        if sample.ndim != 2 or sample.shape[1] == 0:
            raise ValueError(f"a training sample of shape {sample.shape}")
        dim = int(sample.shape[1])
        m = pq or subquantisers(dim)
        if dim % m:
            raise ValueError(f"{m} sub-quantisers do not divide {dim} dimensions")
        inner = faiss.index_factory(dim, f"PQ{m}x4fs,Refine({REFINE})", faiss.METRIC_INNER_PRODUCT)
        inner.train(_training_sample(sample))
        return cls(
            model_id,
            dim,
            revision,
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            faiss.IndexIDMap2(inner),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def add(
        self, ids: npt.NDArray[np.int64], matrix: npt.NDArray[np.float32], revision: int
    ) -> None:
        """Add vectors (ids not in the index yet) and record the revision now covered."""
        if matrix.shape != (ids.shape[0], self.dim):
            raise IndexMismatchError(f"{matrix.shape} vectors for a {self.dim}-d index")
        if len(ids):
            self._faiss.add_with_ids(np.ascontiguousarray(matrix, np.float32), ids.astype(np.int64))
            self.ids = np.concatenate([self.ids, ids.astype(np.int64)])
            self.prints = np.concatenate([self.prints, fingerprints(matrix)])
        self.revision = revision

    def search(
        self, query: npt.NDArray[np.float32], k: int, *, k_factor: float = K_FACTOR
    ) -> Ranking:
        """About the `k` nearest ids to `query` (dim,), best first, with their cosines as the
        half-precision copies give them (within about 1e-3); `k × k_factor` candidates of the
        codes are re-scored."""
        if query.shape != (self.dim,):
            raise IndexMismatchError(f"a {query.shape[0]}-d query for a {self.dim}-d index")
        k = min(k, len(self))
        if k <= 0:
            return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
        faiss = _faiss()
        faiss.downcast_index(self._faiss.index).k_factor = float(k_factor)
        scores, ids = self._faiss.search(query.astype(np.float32).reshape(1, -1), k)
        found = ids[0] >= 0
        return Ranking(ids[0][found].astype(np.int64), scores[0][found].astype(np.float32))

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically (a temporary file beside it, then renamed)."""
        faiss = _faiss()
        meta = {
            "format": FORMAT,
            "library": LIBRARY,
            "model_id": self.model_id,
            "dim": self.dim,
            "revision": self.revision,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("wb") as file:
                np.savez(
                    file,
                    meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                    ids=self.ids,
                    prints=self.prints,
                    faiss=faiss.serialize_index(self._faiss),
                )
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, model_id: str, dim: int) -> "VectorIndex":
        """The index saved at `path`. IndexMismatchError when it was built for another model id
        or dimension, IndexFileError when it cannot be read; FileNotFoundError when absent."""
        faiss = _faiss()
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes())
                ids, prints, blob = npz["ids"], npz["prints"], npz["faiss"]
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise IndexFileError(f"{path}: not a readable index ({error})") from error
        if meta.get("format") != FORMAT or meta.get("library") != LIBRARY:
            raise IndexFileError(f"{path}: format {meta.get('format')}, {meta.get('library')}")
        if meta.get("model_id") != model_id or meta.get("dim") != dim:
            raise IndexMismatchError(
                f"{path} holds {meta.get('dim')}-d vectors of {meta.get('model_id')!r}, "
                f"not {dim}-d ones of {model_id!r}"
            )
        try:
            inner = faiss.deserialize_index(blob)
        except RuntimeError as error:
            raise IndexFileError(f"{path}: corrupt faiss index ({error})") from error
        if inner.ntotal != len(ids) or len(prints) != len(ids) or inner.d != dim:
            raise IndexFileError(f"{path}: {inner.ntotal} vectors but {len(ids)} ids")
        return cls(model_id, dim, int(meta["revision"]), ids.astype(np.int64), prints, inner)


def _faiss() -> Any:
    """The faiss module, on one thread: OpenMP's spinning threads slow it down several times
    on cores shared with the embedding workers (measured: PQ training 0.9 s on one thread,
    4.3 s on two, on the loaded 2-core machine), and one query is too small to split."""
    import faiss

    faiss.omp_set_num_threads(THREADS)
    return faiss


def _training_sample(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Up to TRAINING_SIZE catalog rows; a small catalog is topped up with random unit rows."""
    rng = np.random.default_rng(0)
    n = matrix.shape[0]
    if n > TRAINING_SIZE:
        sample = matrix[np.sort(rng.choice(n, TRAINING_SIZE, replace=False))]
    else:
        sample = matrix
    if len(sample) < MIN_TRAINING:
        extra = rng.standard_normal((MIN_TRAINING - len(sample), matrix.shape[1]))
        extra /= np.linalg.norm(extra, axis=1, keepdims=True)
        sample = np.concatenate([sample, extra.astype(np.float32)])
    return np.ascontiguousarray(sample, np.float32)
