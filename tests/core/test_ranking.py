"""Cosine top-k against a brute-force sort."""

import numpy as np
import pytest

from core.ranking import Ranking, near_duplicate, rank


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_top_k_matches_a_full_sort() -> None:
    matrix = unit_rows(1_000, 64)
    ids = np.arange(1_000, dtype=np.int64) * 7 + 3
    query = unit_rows(1, 64, seed=1)[0]
    ranking = rank(query, matrix, ids, k=10)
    expected = np.argsort(-(matrix @ query))[:10]
    assert ranking.ids.tolist() == ids[expected].tolist()
    np.testing.assert_allclose(ranking.scores, (matrix @ query)[expected], rtol=1e-6)
    assert (np.diff(ranking.scores) <= 0).all()


def test_small_and_empty_catalogs() -> None:
    matrix = unit_rows(3, 8)
    ids = np.array([10, 20, 30], dtype=np.int64)
    assert len(rank(matrix[0], matrix, ids, k=100)) == 3
    assert len(rank(matrix[0], matrix, ids, k=0)) == 0
    empty = rank(matrix[0], np.zeros((0, 8), np.float32), np.zeros(0, np.int64), k=5)
    assert len(empty) == 0


def test_mismatched_shapes_are_errors() -> None:
    matrix = unit_rows(3, 8)
    with pytest.raises(ValueError, match="dimensions"):
        rank(np.ones(4, np.float32), matrix, np.arange(3, dtype=np.int64), k=1)
    with pytest.raises(ValueError, match="ids"):
        rank(matrix[0], matrix, np.arange(2, dtype=np.int64), k=1)


def test_near_duplicate_threshold_is_the_models_own() -> None:
    threshold = 0.98
    close = Ranking(np.array([5], np.int64), np.array([threshold], np.float32))
    far = Ranking(np.array([5], np.int64), np.array([threshold - 0.01], np.float32))
    assert near_duplicate(close, threshold) == 5
    assert near_duplicate(far, threshold) is None
    assert near_duplicate(Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32)), 0.5) is None
    # a model without a tuned threshold never claims a copy, however close
    identical = Ranking(np.array([5], np.int64), np.array([1.0], np.float32))
    assert near_duplicate(identical, None) is None
