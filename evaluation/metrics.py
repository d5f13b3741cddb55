"""Retrieval metrics for comparing embeddings: pure numpy, no I/O, no model.

The evaluation asks two questions of a vector space. Do tracks of the same album or soundtrack
come first (leave-one-out precision@k and mean average precision)? Does a short, badly encoded
excerpt still find its own track (recall@k and rank of the track it was cut from)? Plus the
similarity figures the "already in the catalog" threshold is tuned on. Cosine similarity is a dot
product of L2-normalised rows throughout, as in core.ranking.
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from core.constants import CLIP_CANDIDATES
from core.ranking import clip_source, led_by, rank

_EPS = 1e-12


def l2_rows(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Rows of `x` (n, d) scaled to unit length; zero rows stay zero. Returns (n, d) float32."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, _EPS)).astype(np.float32)


@dataclass(frozen=True)
class Standardiser:
    """Per-dimension centring and scaling fitted on a catalog, applied to catalog and queries.

    Raw CNN features share a large common direction (every track is "music"), which crowds all
    cosines near 1; subtracting the catalog mean and dividing by its spread lets the dimensions
    that tell tracks apart count. mean, scale: (d,) float32; dimensions that do not vary over the
    catalog get scale 1 (they centre to zero and drop out).
    """

    mean: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]

    @classmethod
    def fit(cls, catalog: npt.NDArray[np.float32]) -> "Standardiser":
        """Fit on catalog vectors (n, d), n ≥ 1."""
        x = np.asarray(catalog, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"expected a catalog of shape (n ≥ 1, d), got {x.shape}")
        spread = x.std(axis=0)
        scale = np.where(spread > 1e-8 * max(float(spread.max()), _EPS), spread, 1.0)
        return cls(x.mean(axis=0).astype(np.float32), scale.astype(np.float32))

    def apply(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Standardised, then L2-normalised rows: (m, d) in, (m, d) out."""
        x = np.asarray(vectors, dtype=np.float64)
        return l2_rows((x - self.mean) / self.scale)


def similarities(
    queries: npt.NDArray[np.float32], catalog: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Cosine similarity of every query (m, d) with every catalog vector (n, d): (m, n)."""
    return l2_rows(queries) @ l2_rows(catalog).T


@dataclass(frozen=True)
class LeaveOneOut:
    """Per-query retrieval scores where each track queries all the others.

    queries: (q,) indices of the tracks that have at least one other track of their group (the
    others have nothing to find and are only distractors). precision: k → (q,) precision@k.
    average_precision: (q,).
    """

    queries: npt.NDArray[np.intp]
    precision: dict[int, npt.NDArray[np.float64]]
    average_precision: npt.NDArray[np.float64]


def leave_one_out(
    vectors: npt.NDArray[np.float32],
    groups: npt.NDArray[np.integer] | Sequence[int],
    ks: Sequence[int] = (5, 10),
    query_vectors: npt.NDArray[np.float32] | None = None,
) -> LeaveOneOut:
    """Rank all other tracks for each track (self excluded) and score same-group neighbours.

    vectors: (n, d); groups: (n,) labels; query_vectors: (n, d), track i as a query where that
    is embedded otherwise than its catalog vector (the fusion), else the catalog vectors.
    precision@k divides by min(k, n − 1), the number of candidates there are, so a catalog
    smaller than k is not penalised for its size. Ties keep catalog order.
    """
    labels = np.asarray(groups)
    n = labels.shape[0]
    if vectors.shape[0] != n:
        raise ValueError(f"{vectors.shape[0]} vectors but {n} group labels")
    if n < 2:
        raise ValueError("leave-one-out needs at least two tracks")
    asked = vectors if query_vectors is None else query_vectors
    if asked.shape != vectors.shape:
        raise ValueError(f"{asked.shape[0]} query vectors for {vectors.shape[0]} tracks")
    scores = similarities(asked, vectors).astype(np.float64)
    np.fill_diagonal(scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, : n - 1]  # self is last: −inf
    relevant = labels[order] == labels[:, np.newaxis]  # (n, n − 1)
    totals = relevant.sum(axis=1)
    queries = np.flatnonzero(totals > 0)
    relevant, totals = relevant[queries], totals[queries]
    hits = np.cumsum(relevant, axis=1)
    precision = {}
    for k in ks:
        depth = min(k, n - 1)
        precision[k] = hits[:, depth - 1] / depth
    positions = np.arange(1, n, dtype=np.float64)
    average_precision = (relevant * hits / positions).sum(axis=1) / np.maximum(totals, 1)
    return LeaveOneOut(queries, precision, average_precision)


def chance_precision(groups: npt.NDArray[np.integer] | Sequence[int]) -> float:
    """Expected precision of a random ranking: the mean over queries of (group size − 1)/(n − 1).

    Queries are the tracks with at least one other track in their group, as in leave_one_out.
    """
    labels = np.asarray(groups)
    n = labels.shape[0]
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    sizes = counts[inverse]
    sizes = sizes[sizes > 1]
    if n < 2 or sizes.size == 0:
        return math.nan
    return float(np.mean((sizes - 1) / (n - 1)))


def own_ranks(
    queries: npt.NDArray[np.float32],
    catalog: npt.NDArray[np.float32],
    own: npt.NDArray[np.integer] | Sequence[int],
) -> npt.NDArray[np.int64]:
    """1-based rank of each query's own catalog track: 1 + how many others score higher.

    queries: (m, d); catalog: (n, d); own: (m,) row of each query's track. Returns (m,).
    """
    scores = similarities(queries, catalog)
    rows = np.arange(scores.shape[0])
    own_scores = scores[rows, np.asarray(own)]
    return 1 + (scores > own_scores[:, np.newaxis]).sum(axis=1).astype(np.int64)


@dataclass(frozen=True)
class Clips:
    """What the bot names a clip's source track from (core.ranking.clip_source).

    excerpts: (n, d) the excerpts' vectors in the stored form (before any standardising);
    sections: n arrays (k_i, d), each catalog track's section vectors in that form.
    """

    excerpts: npt.NDArray[np.float32]
    sections: Sequence[npt.NDArray[np.float32]]


def clip_ranks(
    queries: npt.NDArray[np.float32], catalog: npt.NDArray[np.float32], clips: Clips
) -> npt.NDArray[np.int64]:
    """`own_ranks` of clip queries (query i cut from track i) answered as the bot answers them:
    ranked in the catalog's space, then led by the track among the first CLIP_CANDIDATES whose
    section is closest to the clip."""
    ranks = own_ranks(queries, catalog, np.arange(catalog.shape[0]))
    unit_queries, unit_catalog = l2_rows(queries), l2_rows(catalog)
    ids = np.arange(catalog.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        ranking = rank(unit_queries[i], unit_catalog, ids, CLIP_CANDIDATES)
        source = clip_source(
            clips.excerpts[i], ranking.ids, [clips.sections[j] for j in ranking.ids]
        )
        if source is not None:
            ranking = led_by(ranking, *source)
        position = np.flatnonzero(ranking.ids == i)
        if position.size:  # further down, leading with another candidate moved nothing above it
            ranks[i] = int(position[0]) + 1
    return ranks


def recall_at(ranks: npt.NDArray[np.integer], k: int) -> float:
    """Share of queries whose own track is among the first `k`."""
    return float(np.mean(np.asarray(ranks) <= k)) if len(ranks) else math.nan


def own_similarity(
    queries: npt.NDArray[np.float32],
    catalog: npt.NDArray[np.float32],
    own: npt.NDArray[np.integer] | Sequence[int],
) -> npt.NDArray[np.float32]:
    """Cosine of each query (m, d) with its own catalog track; (m,)."""
    return (l2_rows(queries) * l2_rows(catalog)[np.asarray(own)]).sum(axis=1)


def best_other_similarity(
    queries: npt.NDArray[np.float32],
    catalog: npt.NDArray[np.float32],
    own: npt.NDArray[np.integer] | Sequence[int],
) -> npt.NDArray[np.float32]:
    """Each query's (m, d) best match among the catalog (n, d) other than its own track; (m,).

    For a catalog queried with itself this is each track's nearest different track.
    """
    scores = similarities(queries, catalog)
    scores[np.arange(scores.shape[0]), np.asarray(own)] = -np.inf
    return scores.max(axis=1)


def _figure(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


@dataclass(frozen=True)
class Row:
    """One embedding variant's figures (NaN where not measured; JSON gets null).

    p_at_5, p_at_10, mean_ap: leave-one-out, same group = relevant. excerpt_*: the 15-s excerpt
    queries. seconds_per_track: decode + front end + network for one full track.
    Near-duplicate figures: reencode_own_min/median (a full re-encode against its original),
    pair_max (the two most similar different catalog tracks), excerpt_wrong_p99/max (an
    excerpt's best match that is not its track), excerpt_own_median.
    """

    name: str
    dim: int
    p_at_5: float
    p_at_10: float
    mean_ap: float
    excerpt_r1: float
    excerpt_r5: float
    excerpt_median_rank: float
    seconds_per_track: float
    pair_max: float = math.nan
    excerpt_own_median: float = math.nan
    excerpt_wrong_p99: float = math.nan
    excerpt_wrong_max: float = math.nan
    reencode_own_min: float = math.nan
    reencode_own_median: float = math.nan

    def as_json(self) -> dict[str, object]:
        """Plain JSON values, figures rounded to 4 decimals, NaN as null."""
        return {
            key: _figure(value) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }


def evaluate(
    name: str,
    catalog: npt.NDArray[np.float32],
    groups: npt.NDArray[np.integer] | Sequence[int],
    excerpts: npt.NDArray[np.float32],
    seconds_per_track: float = math.nan,
    reencodes: npt.NDArray[np.float32] | None = None,
    reencoded: npt.NDArray[np.integer] | Sequence[int] = (),
    clips: Clips | None = None,
    queries: npt.NDArray[np.float32] | None = None,
) -> Row:
    """All figures of one variant, its vectors already pooled (and standardised if wanted).

    catalog: (n, d) one vector per track; groups: (n,); excerpts: (n, d), row i cut from track i;
    reencodes: (r, d) full re-encodes of the tracks `reencoded` (r,), or None. With `clips`,
    the excerpts are answered as the bot answers clips (`clip_ranks`); `queries`: see
    `leave_one_out`.
    """
    loo = leave_one_out(catalog, groups, (5, 10), queries)
    ranks = (
        own_ranks(excerpts, catalog, np.arange(catalog.shape[0]))
        if clips is None
        else clip_ranks(excerpts, catalog, clips)
    )
    own = np.arange(catalog.shape[0])
    wrong = best_other_similarity(excerpts, catalog, own)
    reencode_own = (
        own_similarity(reencodes, catalog, reencoded)
        if reencodes is not None and len(reencoded)
        else np.full(1, np.nan)
    )

    def mean(values: npt.NDArray[np.float64]) -> float:
        return float(values.mean()) if values.size else math.nan

    return Row(
        name=name,
        dim=int(catalog.shape[1]),
        p_at_5=mean(loo.precision[5]),
        p_at_10=mean(loo.precision[10]),
        mean_ap=mean(loo.average_precision),
        excerpt_r1=recall_at(ranks, 1),
        excerpt_r5=recall_at(ranks, 5),
        excerpt_median_rank=float(np.median(ranks)),
        seconds_per_track=seconds_per_track,
        pair_max=float(best_other_similarity(catalog, catalog, own).max()),
        excerpt_own_median=float(np.median(own_similarity(excerpts, catalog, own))),
        excerpt_wrong_p99=float(np.percentile(wrong, 99)),
        excerpt_wrong_max=float(wrong.max()),
        reencode_own_min=float(np.min(reencode_own)),
        reencode_own_median=float(np.median(reencode_own)),
    )


@dataclass(frozen=True)
class Report:
    """An evaluation run: its rows and what they were measured on.

    chance_p_at_10: P@10 of a random ranking (see chance_precision) for comparison.
    left_out: (file, reason) of the tracks that could not be analysed.
    """

    rows: list[Row]
    tracks: int
    groups: int
    chance_p_at_10: float
    left_out: list[tuple[str, str]]
    # (variant, baseline, figure, difference, 95 % low, high): paired bootstrap over groups
    comparisons: list[tuple[str, str, str, float, float, float]] = field(default_factory=list)
