"""Cosine ranking of a query against the catalog: one matrix-vector product and argpartition."""

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# A query whose best match scores at least this is that catalog track's recording (another
# encoding or format of the same file), not merely a similar piece. Tuned for msd-vgg/pool5 on
# 419 real soundtrack tracks: full re-encodes at 128 kbps score ≥ 0.986 (median 0.999) against
# their original, while the closest two different tracks score 0.970 at most and a 15-s excerpt's
# best *other* match 0.967. Excerpts (own-track median 0.92) are not flagged: their track comes
# first in the list instead. See README "Already in the catalog".
NEAR_DUPLICATE_SIMILARITY = 0.98


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
    exclude: Collection[int] = (),
) -> Ranking:
    """The `k` catalog vectors most similar to `query`, excluding the ids in `exclude`.

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
    if exclude:
        scores[np.isin(ids, np.fromiter(exclude, np.int64))] = -np.inf
    k = min(k, int(np.count_nonzero(np.isfinite(scores))))
    if k == 0:
        return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(k)
    top = top[np.argsort(-scores[top], kind="stable")]
    return Ranking(ids[top].astype(np.int64), scores[top].astype(np.float32))


def near_duplicate(ranking: Ranking, threshold: float = NEAR_DUPLICATE_SIMILARITY) -> int | None:
    """The catalog id the query is a copy of, if its best match is that close."""
    if len(ranking) and ranking.scores[0] >= np.float32(threshold):
        return int(ranking.ids[0])
    return None
