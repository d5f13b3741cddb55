"""Pooling: "mean" is the bot's own track vector, "mean+std" adds the spread."""

import numpy as np
import pytest

from core.embedding import track_vector
from evaluation.pooling import pool


def test_pooling_mean_is_the_bots_vector_and_std_adds_the_spread() -> None:
    patches = np.array([[1.0, 0.0], [3.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(pool(patches, "mean"), [1.0, 0.0])
    # mean (2, 0) and spread (1, 0): (2, 0, 1, 0) / √5
    np.testing.assert_allclose(pool(patches, "mean+std"), np.array([2, 0, 1, 0]) / np.sqrt(5))
    with pytest.raises(ValueError):
        pool(np.zeros((0, 2), np.float32))
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(patches, "max")  # type: ignore[arg-type]


def test_mean_pooling_is_core_track_vector_bit_for_bit() -> None:
    patches = np.random.default_rng(0).standard_normal((24, 256)).astype(np.float32)
    assert np.array_equal(pool(patches, "mean"), track_vector(patches))
