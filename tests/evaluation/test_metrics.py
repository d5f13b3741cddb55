"""Retrieval metrics on tiny matrices whose answers can be worked out by hand."""

import math

import numpy as np
import numpy.typing as npt
import pytest

from evaluation.metrics import (
    Row,
    Standardiser,
    best_other_similarity,
    chance_precision,
    evaluate,
    l2_rows,
    leave_one_out,
    own_ranks,
    own_similarity,
    recall_at,
)


def on_circle(*degrees: float) -> npt.NDArray[np.float32]:
    """Unit vectors at these angles: cosine falls with the angle between them, so every
    ranking is the order of angular distance."""
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_leave_one_out_scores_each_query_by_hand() -> None:
    vectors = on_circle(0, 10, 25, 45, 70)
    groups = [0, 1, 0, 1, 0]
    result = leave_one_out(vectors, groups, ks=(1, 2))
    # query 0°: 10 (wrong), 25 (right), 45 (wrong), 70 (right) → AP (1/2 + 2/4) / 2
    # query 10°: 0 (wrong), 25 (wrong), 45 (right), 70 (wrong) → AP 1/3
    # query 25°: 10 (wrong), 45 (wrong), 0 (right), 70 (right) → AP (1/3 + 2/4) / 2
    # query 45°: 25 (wrong), 70 (wrong), 10 (right), 0 (wrong) → AP 1/3
    # query 70°: 45 (wrong), 25 (right), 10 (wrong), 0 (right) → AP (1/2 + 2/4) / 2
    assert result.queries.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(result.average_precision, [0.5, 1 / 3, 5 / 12, 1 / 3, 0.5])
    np.testing.assert_allclose(result.precision[1], [0, 0, 0, 0, 0])
    np.testing.assert_allclose(result.precision[2], [0.5, 0, 0, 0, 0.5])


def test_a_track_never_finds_itself() -> None:
    # Two identical vectors in different groups: without self-exclusion each would rank
    # itself (similarity 1) first and score a perfect hit.
    vectors = on_circle(0, 0, 90, 90)
    result = leave_one_out(vectors, [0, 1, 0, 1], ks=(1,))
    np.testing.assert_allclose(result.precision[1], [0, 0, 0, 0])
    result = leave_one_out(vectors, [0, 0, 1, 1], ks=(1,))
    np.testing.assert_allclose(result.precision[1], [1, 1, 1, 1])
    np.testing.assert_allclose(result.average_precision, [1, 1, 1, 1])


def test_precision_at_k_divides_by_the_candidates_there_are() -> None:
    # 3 tracks: each query has 2 candidates, so @10 means @2.
    result = leave_one_out(on_circle(0, 5, 90), [0, 0, 1], ks=(10,))
    # the lone track of group 1 has nothing to find and is not a query
    assert result.queries.tolist() == [0, 1]
    np.testing.assert_allclose(result.precision[10], [0.5, 0.5])


def test_leave_one_out_rejects_mismatched_labels() -> None:
    with pytest.raises(ValueError, match="3 vectors but 2"):
        leave_one_out(on_circle(0, 1, 2), [0, 1])


def test_chance_precision_averages_over_the_queries() -> None:
    # n = 6: three tracks of group 0 see 2 of 5, two of group 1 see 1 of 5, the singleton is
    # not a query: (3 · 0.4 + 2 · 0.2) / 5
    assert chance_precision([0, 0, 0, 1, 1, 2]) == pytest.approx(0.32)
    assert math.isnan(chance_precision([0, 1, 2]))


def test_own_rank_counts_the_tracks_that_score_higher() -> None:
    catalog = on_circle(0, 30, 60, 90)
    queries = on_circle(28, 50, 89)
    # 28° is nearest 30 (rank 1); 50° is nearest 60, then 30: its own 30 ranks 2;
    # 89° is nearest 90, then 60, 30, 0: its own 0 ranks 4
    ranks = own_ranks(queries, catalog, [1, 1, 0])
    assert ranks.tolist() == [1, 2, 4]
    assert recall_at(ranks, 1) == pytest.approx(1 / 3)
    assert recall_at(ranks, 2) == pytest.approx(2 / 3)
    assert math.isnan(recall_at(np.array([], dtype=np.int64), 1))


def test_similarity_figures() -> None:
    catalog = on_circle(0, 60, 90)
    queries = on_circle(0, 80)
    np.testing.assert_allclose(
        own_similarity(queries, catalog, [0, 2]), [1.0, np.cos(np.deg2rad(10))], rtol=1e-6
    )
    # the best match other than its own: 0° → 60°; 80° (own 90°) → 60°
    np.testing.assert_allclose(
        best_other_similarity(queries, catalog, [0, 2]),
        [np.cos(np.deg2rad(60)), np.cos(np.deg2rad(20))],
        rtol=1e-6,
    )


def test_standardiser_centres_and_scales_by_the_catalog() -> None:
    catalog = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]], dtype=np.float32)
    scaler = Standardiser.fit(catalog)
    np.testing.assert_allclose(scaler.mean, [3.0, 10.0])
    # the constant column gets scale 1 rather than a division by zero
    np.testing.assert_allclose(scaler.scale, [np.sqrt(8 / 3), 1.0], rtol=1e-6)
    # a query: ((7 − 3) / √(8/3), (10 − 10) / 1) → direction (1, 0)
    np.testing.assert_allclose(scaler.apply(np.array([[7.0, 10.0]])), [[1.0, 0.0]], atol=1e-6)
    # the catalog's middle track centres to zero and stays a zero vector, not NaN
    applied = scaler.apply(catalog)
    assert np.isfinite(applied).all()
    np.testing.assert_allclose(applied, [[-1, 0], [0, 0], [1, 0]], atol=1e-6)


def test_standardising_removes_a_shared_direction_that_hides_the_groups() -> None:
    # Every vector is mostly the same "music" direction (first dimension); what tells the two
    # groups apart is small. Raw cosine ranks by the large second dimension that varies within
    # groups; standardised, the small third one (the groups) counts as much.
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1], 5)
    loudness = rng.uniform(-3, 3, size=10)
    signal = np.where(groups == 0, -0.1, 0.1) + rng.normal(0, 0.005, size=10)
    vectors = np.stack([np.full(10, 10.0), loudness, signal], axis=1).astype(np.float32)
    raw = leave_one_out(l2_rows(vectors), groups).average_precision.mean()
    scaler = Standardiser.fit(vectors)
    standardised = leave_one_out(scaler.apply(vectors), groups).average_precision.mean()
    assert standardised > raw + 0.1


def test_evaluate_gathers_every_figure_into_a_row() -> None:
    catalog = on_circle(0, 10, 80, 90)
    # each excerpt lies nearest its own track (30° is 20° from 10°, 30° from 0°)
    excerpts = on_circle(2, 30, 82, 88)
    row = evaluate("toy", catalog, [0, 0, 1, 1], excerpts, 0.5, on_circle(11), [1])
    assert row.name == "toy" and row.dim == 2
    assert row.p_at_5 == pytest.approx(1 / 3)  # 1 right among the 3 candidates
    assert row.mean_ap == pytest.approx(1.0)
    assert (row.excerpt_r1, row.excerpt_r5, row.excerpt_median_rank) == (1.0, 1.0, 1.0)
    assert row.seconds_per_track == 0.5
    assert row.pair_max == pytest.approx(np.cos(np.deg2rad(10)), rel=1e-6)
    assert row.reencode_own_min == pytest.approx(np.cos(np.deg2rad(1)), rel=1e-6)
    assert row.excerpt_wrong_max == pytest.approx(np.cos(np.deg2rad(8)), rel=1e-6)
    json_row = Row(**{**row.__dict__, "reencode_own_min": math.nan}).as_json()
    assert json_row["reencode_own_min"] is None and json_row["name"] == "toy"
