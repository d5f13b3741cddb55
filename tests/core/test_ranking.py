"""Cosine top-k against a brute-force sort."""

import numpy as np
import pytest

from core.ranking import Ranking, clip_source, led_by, near_duplicate, rank


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


def test_a_clip_source_is_the_candidate_with_the_closest_section() -> None:
    clip = np.array([1.0, 0.0], np.float32)
    sections = [
        np.array([[0.6, 0.8]], np.float32),  # one section, fairly close
        np.array([[0.0, 1.0], [0.99, 0.141]], np.float32),  # far on average, one section near
    ]
    assert clip_source(clip, np.array([7, 9]), sections) == (9, pytest.approx(0.99))
    assert clip_source(clip, np.zeros(0, np.int64), []) is None
    with pytest.raises(ValueError):
        clip_source(clip, np.array([7, 9]), sections[:1])


def test_led_by_moves_one_track_to_the_front_and_keeps_the_order_of_the_rest() -> None:
    ranking = Ranking(np.array([4, 5, 6, 7]), np.array([0.9, 0.8, 0.7, 0.6], np.float32))
    led = led_by(ranking, 6, 0.95)
    assert led.ids.tolist() == [6, 4, 5, 7]
    np.testing.assert_allclose(led.scores, [0.95, 0.9, 0.8, 0.6])
    kept = led_by(ranking, 6, 0.5)  # its ranking score was the better one
    np.testing.assert_allclose(kept.scores[0], 0.7)
    assert led_by(ranking, 4, 0.1).ids.tolist() == [4, 5, 6, 7]
    outside = led_by(ranking, 99, 0.5)
    assert outside.ids.tolist() == [99, 4, 5, 6, 7] and outside.ids.dtype == np.int64
