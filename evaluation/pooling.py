"""Patch vectors to one track vector: the bot's own pooling, and the variants only compared here.

"mean" must be exactly the vector the bot stores, so it is core.embedding.track_vector itself,
not a copy; "mean+std" appends each dimension's spread over the patches, which says how much
the track changes along it.
"""

from typing import Literal

import numpy as np
import numpy.typing as npt

from core.embedding import track_vector
from evaluation.metrics import l2_rows

Pooling = Literal["mean", "mean+std"]
POOLINGS: tuple[Pooling, ...] = ("mean", "mean+std")


def pool(patches: npt.NDArray[np.float32], method: Pooling = "mean") -> npt.NDArray[np.float32]:
    """One unit-norm track vector from its patch vectors (p, d): (d,) for "mean", (2d,) for
    "mean+std"."""
    x = np.asarray(patches, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected patch vectors of shape (p ≥ 1, d), got {x.shape}")
    if method == "mean":
        return track_vector(x)
    if method == "mean+std":
        wide = x.astype(np.float64)
        return l2_rows(np.concatenate([wide.mean(axis=0), wide.std(axis=0)])[np.newaxis])[0]
    raise ValueError(f"unknown pooling {method!r}")
