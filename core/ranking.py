"""Cosine ranking of a query against the catalog: one matrix-vector product and argpartition."""

from collections.abc import Sequence
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


def clip_source(
    query: npt.NDArray[np.float32],
    candidate_ids: npt.NDArray[np.int64],
    sections: Sequence[npt.NDArray[np.float32]],
) -> tuple[int, float] | None:
    """The candidate a clip most likely comes from: the one with the section closest to it.

    query: (dim,) the clip's vector, in the stored vectors' space (not a standardised one).
    candidate_ids: (m,); sections: m arrays (k_i, dim) of unit rows. Returns (id, cosine of
    that section), or None without candidates. A whole track's mean can lie closer to
    another track than to a clip of it; one of its sections rarely does.
    """
    if len(candidate_ids) != len(sections):
        raise ValueError(f"{len(candidate_ids)} candidates but {len(sections)} section sets")
    if len(sections) == 0:
        return None
    best = [float(np.max(rows @ query)) for rows in sections]
    winner = int(np.argmax(best))
    return int(candidate_ids[winner]), best[winner]


def led_by(ranking: Ranking, track_id: int, score: float) -> Ranking:
    """`ranking` with `track_id` moved to the front, scored the better of its two scores; the
    others keep their order. A track not in the ranking is put in front of it."""
    others = ranking.ids != track_id
    own = ranking.scores[~others]
    lead = max(score, float(own[0])) if own.size else score
    return Ranking(
        np.concatenate([np.array([track_id], np.int64), ranking.ids[others]]),
        np.concatenate([np.array([lead], np.float32), ranking.scores[others]]),
    )
