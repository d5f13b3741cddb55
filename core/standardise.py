"""Per-dimension standardisation of a catalog's vectors, part by part, for ranking.

Raw CNN features share a large common direction (every track is "music"), which crowds all
cosines near 1; centring each dimension on the catalog's mean and dividing by its spread lets
the dimensions that tell tracks apart count. A fused vector (core/models/fusion.py) is
standardised part by part, each part then brought to unit length, so each model weighs the same.

The statistics are the catalog's own, blended with fixed prior statistics (measured once on the
development corpus and shipped beside the model) in proportion to the catalog's size: a catalog
of one to three tracks, whose own spread is zero or noise, ranks with the prior's; one of
thousands with its own. Stored vectors stay raw; queries get the catalog's statistics.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

# A catalog of this many tracks weighs as much as the prior in the blend.
PRIOR_WEIGHT_TRACKS = 50
_EPS = 1e-12
PRIORS = Path(__file__).resolve().parent / "models" / "priors"


@dataclass(frozen=True)
class Statistics:
    """Per-dimension mean and standard deviation, (d,) float64 each."""

    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]

    @classmethod
    def of(cls, vectors: npt.NDArray[np.float32]) -> "Statistics":
        """The statistics of vectors (n ≥ 1, d)."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"expected vectors of shape (n ≥ 1, d), got {x.shape}")
        return cls(x.mean(axis=0), x.std(axis=0))


def blended(
    catalog: npt.NDArray[np.float32],
    prior: Statistics | None,
    prior_tracks: float = PRIOR_WEIGHT_TRACKS,
) -> Statistics:
    """The catalog's statistics (n, d) pulled towards `prior` by n / (n + prior_tracks).

    The variance blends as a mixture of the two populations. Without a prior (or catalog), the
    other side's statistics alone.
    """
    n = int(catalog.shape[0])
    if prior is None:
        return Statistics.of(catalog)
    if n == 0:
        return prior
    own = Statistics.of(catalog)
    weight = n / (n + prior_tracks)
    mean = weight * own.mean + (1 - weight) * prior.mean
    variance = weight * (own.std**2 + (own.mean - mean) ** 2) + (1 - weight) * (
        prior.std**2 + (prior.mean - mean) ** 2
    )
    return Statistics(mean, np.sqrt(variance))


def standardise(
    vectors: npt.NDArray[np.float32],
    statistics: Statistics,
    part_sizes: tuple[int, ...],
    which: tuple[bool, ...] | None = None,
) -> npt.NDArray[np.float32]:
    """Rows (m, d) centred and scaled per dimension, each part at unit length, the whole at
    unit length: cosine is then a dot product and each part weighs the same.

    which: per part, whether it is standardised (default: all); a part that is not keeps its
    raw direction (MSD_vgg's, whose excerpt recall standardising costs). Dimensions that do
    not vary keep scale 1 (they centre to zero and drop out).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != sum(part_sizes):
        raise ValueError(f"vectors of shape {x.shape} do not have parts {part_sizes}")
    which = which if which is not None else (True,) * len(part_sizes)
    spread = statistics.std
    scale = np.where(spread > 1e-8 * max(float(spread.max(initial=0.0)), _EPS), spread, 1.0)
    z = (x - statistics.mean) / scale
    start = 0
    for size, standardised in zip(part_sizes, which, strict=True):
        if not standardised:
            z[:, start : start + size] = x[:, start : start + size]
        block = z[:, start : start + size]
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), _EPS)
        start += size
    return (z / np.sqrt(len(part_sizes))).astype(np.float32)


def prior_path(model_id: str) -> Path:
    """Where a model's prior statistics are shipped (core/models/priors/<id>.npz)."""
    safe = "".join(c if c.isalnum() or c in "@.-" else "_" for c in model_id)
    return PRIORS / f"{safe}.npz"


def load_prior(model_id: str) -> Statistics | None:
    """The shipped prior statistics of `model_id`, or None when it has none."""
    path = prior_path(model_id)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return Statistics(data["mean"].astype(np.float64), data["std"].astype(np.float64))


def save_prior(model_id: str, statistics: Statistics) -> Path:
    """Write a model's prior statistics (float32, a few KB)."""
    path = prior_path(model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mean=statistics.mean.astype(np.float32), std=statistics.std.astype(np.float32))
    return path


@dataclass(frozen=True)
class RankingSpace:
    """A catalog matrix as ranked: standardised per part with the blended statistics.

    `matrix` (n, d) holds unit rows; `query(vector)` puts a query in the same space.
    """

    statistics: Statistics
    part_sizes: tuple[int, ...]
    which: tuple[bool, ...]
    matrix: npt.NDArray[np.float32]

    @classmethod
    def of(
        cls,
        catalog: npt.NDArray[np.float32],
        part_sizes: tuple[int, ...],
        prior: Statistics | None,
        which: tuple[bool, ...] | None = None,
    ) -> "RankingSpace":
        """The space of a catalog's raw vectors (n, d); n may be 0 when a prior is given."""
        if catalog.shape[0] == 0 and prior is None:
            raise ValueError("an empty catalog needs prior statistics")
        which = which if which is not None else (True,) * len(part_sizes)
        statistics = blended(catalog, prior)
        matrix = (
            standardise(catalog, statistics, part_sizes, which)
            if catalog.shape[0]
            else np.zeros((0, sum(part_sizes)), np.float32)
        )
        return cls(statistics, part_sizes, which, matrix)

    def query(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One raw vector (d,) standardised like the catalog: (d,) unit."""
        return standardise(vector[np.newaxis], self.statistics, self.part_sizes, self.which)[0]
