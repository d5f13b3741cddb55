"""Per-dimension standardisation of a catalog's vectors, part by part, for ranking.

Raw CNN features share a large common direction (every track is "music"), which crowds all
cosines near 1; centring each dimension on the catalog's mean and dividing by its spread lets
the dimensions that tell tracks apart count. A fused vector (core/models/fusion.py) is
standardised part by part, each part then brought to unit length, so each model weighs the same.

The statistics are the catalog's own, blended with fixed prior statistics (measured once on the
development corpus and shipped beside the model) in proportion to the catalog's size: a catalog
of one to three tracks, whose own spread is zero or noise, ranks with the prior's; one of
thousands with its own. Stored vectors stay raw; queries get the catalog's statistics.

A large catalog's statistics are streamed (`Accumulator`, CHUNK rows at a time in float64), so
they never need a float64 copy of the matrix; a catalog of at most CHUNK rows gets exactly the
one-pass figures, so its ranking is unchanged. Above the crossover the statistics are frozen per
index generation (`Standardiser`, catalog/space_index.py) rather than recomputed per revision.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

# A catalog of this many tracks weighs as much as the prior in the blend.
PRIOR_WEIGHT_TRACKS = 50
CHUNK = 4_096  # rows standardised or accumulated at a time: 25 MB of 768-d float64
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


class Accumulator:
    """Per-dimension statistics of rows fed a chunk at a time (Chan et al.'s pairwise merge of
    means and squared deviations), so a catalog's statistics need one chunk in float64, not
    the whole matrix. One chunk gives exactly `Statistics.of` of it."""

    def __init__(self) -> None:
        self.count = 0
        self._mean: npt.NDArray[np.float64] | None = None
        self._squares: npt.NDArray[np.float64] | None = None  # sum of squared deviations
        self._first: Statistics | None = None  # one chunk: returned as computed

    def add(self, rows: npt.NDArray[np.float32]) -> None:
        """Take in rows (m, d); m may be 0."""
        m = int(rows.shape[0])
        if m == 0:
            return
        own = Statistics.of(rows)
        squares = own.std**2 * m
        if self._mean is None or self._squares is None:
            self.count, self._mean, self._squares, self._first = m, own.mean, squares, own
            return
        n = self.count + m
        delta = own.mean - self._mean
        self._mean = self._mean + delta * (m / n)
        self._squares = self._squares + squares + delta**2 * (self.count * m / n)
        self.count, self._first = n, None

    def statistics(self) -> Statistics:
        """The statistics of every row taken in (ValueError before any)."""
        if self._first is not None:
            return self._first
        if self._mean is None or self._squares is None:
            raise ValueError("no rows taken in")
        return Statistics(self._mean, np.sqrt(self._squares / self.count))


def streamed(vectors: npt.NDArray[np.float32], chunk: int = CHUNK) -> Statistics:
    """`Statistics.of(vectors)` computed CHUNK rows at a time (identical up to `chunk` rows)."""
    accumulator = Accumulator()
    for start in range(0, int(vectors.shape[0]), chunk):
        accumulator.add(vectors[start : start + chunk])
    return accumulator.statistics()


def blend(
    own: Statistics | None,
    n: int,
    prior: Statistics | None,
    prior_tracks: float = PRIOR_WEIGHT_TRACKS,
) -> Statistics:
    """A catalog's own statistics (`n` tracks) pulled towards `prior` by n / (n + prior_tracks).

    The variance blends as a mixture of the two populations. Without a prior (or catalog), the
    other side's statistics alone.
    """
    if prior is None or own is None or n == 0:
        chosen = prior if own is None or n == 0 else own
        if chosen is None:
            raise ValueError("neither catalog nor prior statistics")
        return chosen
    weight = n / (n + prior_tracks)
    mean = weight * own.mean + (1 - weight) * prior.mean
    variance = weight * (own.std**2 + (own.mean - mean) ** 2) + (1 - weight) * (
        prior.std**2 + (prior.mean - mean) ** 2
    )
    return Statistics(mean, np.sqrt(variance))


def blended(
    catalog: npt.NDArray[np.float32],
    prior: Statistics | None,
    prior_tracks: float = PRIOR_WEIGHT_TRACKS,
) -> Statistics:
    """The catalog's statistics (n, d), streamed, blended with `prior` (see `blend`)."""
    n = int(catalog.shape[0])
    own = streamed(catalog) if n else None
    return blend(own, n, prior, prior_tracks)


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


def standardised(
    vectors: npt.NDArray[np.float32],
    statistics: Statistics,
    part_sizes: tuple[int, ...],
    which: tuple[bool, ...] | None = None,
    chunk: int = CHUNK,
) -> npt.NDArray[np.float32]:
    """`standardise`, CHUNK rows at a time into one float32 matrix: the same rows (each is
    standardised alone) without a float64 copy of the whole matrix."""
    out = np.empty((int(vectors.shape[0]), sum(part_sizes)), np.float32)
    for start in range(0, int(vectors.shape[0]), chunk):
        rows = vectors[start : start + chunk]
        out[start : start + len(rows)] = standardise(rows, statistics, part_sizes, which)
    return out


@dataclass(frozen=True)
class Standardiser:
    """Frozen statistics and a model's parts: what puts raw rows or a query into one ranking
    space. An index generation keeps one, so every vector it holds and every query it answers
    are standardised alike, whatever the catalog has become since."""

    statistics: Statistics
    part_sizes: tuple[int, ...]
    which: tuple[bool, ...]

    def rows(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Raw rows (m, d) in this space: (m, d) unit rows."""
        return standardised(vectors, self.statistics, self.part_sizes, self.which)

    def query(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One raw vector (d,) in this space: (d,) unit."""
        return standardise(vector[np.newaxis], self.statistics, self.part_sizes, self.which)[0]


@dataclass(frozen=True)
class RankingSpace:
    """A catalog matrix as ranked: standardised per part with the blended statistics.

    `matrix` (n, d) holds unit rows; `query(vector)` puts a query in the same space. Built a
    chunk at a time: the matrix and one chunk, never a float64 copy of the catalog.
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
        matrix = standardised(catalog, statistics, part_sizes, which)
        return cls(statistics, part_sizes, which, matrix)

    def query(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One raw vector (d,) standardised like the catalog: (d,) unit."""
        return standardise(vector[np.newaxis], self.statistics, self.part_sizes, self.which)[0]

    def rows(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Raw rows (m, d) standardised like the catalog, each exactly as `of` put it in the
        matrix had it been among the catalog's rows (a row is standardised alone): what tracks
        added since get while the space of the grown catalog is recomputed (catalog/ranker.py)."""
        return standardised(vectors, self.statistics, self.part_sizes, self.which)
