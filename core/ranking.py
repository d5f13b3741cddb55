"""Cosine ranking of a query against the catalog: one matrix-vector product and argpartition."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Ranking:
    """Catalog ids best first, with their cosine similarities. Shapes (k,)."""

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def rank(
    query: npt.NDArray[np.float32],
    matrix: npt.NDArray[np.float32],
    ids: npt.NDArray[np.int64],
    k: int,
) -> Ranking:
    """The `k` catalog vectors most similar to `query`, best first.

    query: (dim,) unit norm. matrix: (n, dim) float32, rows unit norm. ids: (n,) row ids.
    Cosine similarity is then a dot product.
    """
    if matrix.shape[0] != ids.shape[0]:
        raise ValueError(f"{matrix.shape[0]} vectors but {ids.shape[0]} ids")
    if matrix.shape[0] == 0 or k <= 0:
        return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
    if matrix.shape[1] != query.shape[0]:
        raise ValueError(f"query has {query.shape[0]} dimensions, catalog {matrix.shape[1]}")
    scores = matrix @ query.astype(np.float32, copy=False)
    k = min(k, scores.shape[0])
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(k)
    top = top[np.argsort(-scores[top], kind="stable")]
    return Ranking(ids[top].astype(np.int64), scores[top].astype(np.float32))


def near_duplicate(ranking: Ranking, threshold: float | None) -> int | None:
    """The catalog id the query is a copy of, if its best match is at least `threshold` close.

    `threshold` is the model's own (ModelSpec.near_duplicate_similarity); None, for a model
    nobody tuned one for, never claims a copy.
    """
    if threshold is not None and len(ranking) and ranking.scores[0] >= np.float32(threshold):
        return int(ranking.ids[0])
    return None
