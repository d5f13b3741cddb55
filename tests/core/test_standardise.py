"""Per-part standardisation: the fusion's ranking, on catalogs from one track to many."""

import numpy as np
import pytest

from core.ranking import rank
from core.standardise import (
    PRIOR_WEIGHT_TRACKS,
    Accumulator,
    RankingSpace,
    Standardiser,
    Statistics,
    blend,
    blended,
    load_prior,
    standardise,
    standardised,
    streamed,
)

SIZES = (6, 4)


def music_like(count: int, seed: int) -> np.ndarray:
    """Raw fused vectors sharing a large common direction (as CNN features do), unit parts."""
    rng = np.random.default_rng(seed)
    common = np.concatenate([np.full(6, 3.0), np.full(4, 3.0)])
    x = common + rng.standard_normal((count, 10)) * np.array([1, 1, 1, 1, 1, 1, 5, 5, 5, 5])
    parts = [x[:, :6], x[:, 6:]]
    parts = [p / np.linalg.norm(p, axis=1, keepdims=True) for p in parts]
    return (np.concatenate(parts, axis=1) / np.sqrt(2)).astype(np.float32)


def test_each_part_weighs_the_same_and_rows_are_unit() -> None:
    x = music_like(20, 0)
    z = standardise(x, Statistics.of(x), SIZES)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(z[:, :6], axis=1), np.sqrt(0.5), atol=1e-5)


def test_the_blend_follows_the_catalog_as_it_grows() -> None:
    prior = Statistics.of(music_like(500, 1))
    small = music_like(1, 2)
    assert blended(small[:0], prior) is prior
    one = blended(small, prior)
    np.testing.assert_allclose(one.std, prior.std, rtol=0.1)  # not the zero spread of one track
    big = music_like(100 * PRIOR_WEIGHT_TRACKS, 3)
    np.testing.assert_allclose(blended(big, prior).mean, Statistics.of(big).mean, atol=0.01)


def test_a_tiny_catalog_ranks_a_copy_of_its_track_first() -> None:
    prior = Statistics.of(music_like(500, 4))
    for size in (1, 2, 3):
        catalog = music_like(size, 10 + size)
        space = RankingSpace.of(catalog, SIZES, prior)
        for own in range(size):
            noisy = catalog[own] + np.random.default_rng(own).normal(0, 0.01, 10)
            ranking = rank(space.query(noisy.astype(np.float32)), space.matrix,
                           np.arange(size, dtype=np.int64), 3)  # fmt: skip
            assert ranking.ids[0] == own
            assert ranking.scores[0] > 0.9
            assert np.isfinite(ranking.scores).all()


def test_standardising_beats_plain_cosine_on_the_common_direction() -> None:
    """Ten pairs of near-copies in a crowd: standardised, each finds its partner."""
    rng = np.random.default_rng(5)
    base = music_like(10, 6)
    pairs = np.concatenate([base, base + rng.normal(0, 0.03, base.shape).astype(np.float32)])
    space = RankingSpace.of(pairs, SIZES, Statistics.of(music_like(500, 7)))
    scores = space.matrix[:10] @ space.matrix[10:].T
    assert (scores.argmax(axis=1) == np.arange(10)).all()


def test_the_shipped_prior_of_the_fusion_fits_its_vectors() -> None:
    from core.models import parse_model_spec

    spec = parse_model_spec("fusion:aisfx+msd-vgg")
    prior = load_prior(spec.model_id)
    assert prior is not None, "core/models/priors lacks the fusion's prior statistics"
    assert prior.mean.shape == prior.std.shape == (spec.vector_size,)
    assert (prior.std > 0).all()
    assert load_prior("no-such-model@fe1") is None


def test_a_part_left_raw_keeps_its_direction() -> None:
    x = music_like(20, 8)
    z = standardise(x, Statistics.of(x), SIZES, (True, False))
    raw = x[:, 6:] / np.linalg.norm(x[:, 6:], axis=1, keepdims=True)
    np.testing.assert_allclose(z[:, 6:] * np.sqrt(2), raw, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_streamed_statistics_need_no_float64_copy_and_agree() -> None:
    """Chunk by chunk: one chunk is exactly Statistics.of (small catalogs rank as before), more
    agree to rounding; the chunked standardisation is row for row the same."""
    x = music_like(1000, 9)
    whole = Statistics.of(x)
    one = streamed(x, chunk=1000)
    assert np.array_equal(one.mean, whole.mean) and np.array_equal(one.std, whole.std)
    several = streamed(x, chunk=64)
    np.testing.assert_allclose(several.mean, whole.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(several.std, whole.std, rtol=1e-12)
    accumulator = Accumulator()
    accumulator.add(x[:0])
    with pytest.raises(ValueError):
        accumulator.statistics()
    assert np.array_equal(standardised(x, whole, SIZES, chunk=64), standardise(x, whole, SIZES))


def test_frozen_statistics_put_rows_and_queries_in_one_space() -> None:
    catalog = music_like(200, 10)
    space = RankingSpace.of(catalog, SIZES, Statistics.of(music_like(500, 11)))
    frozen = Standardiser(space.statistics, SIZES, space.which)
    assert np.array_equal(frozen.rows(catalog), space.matrix)
    assert np.array_equal(frozen.query(catalog[3]), space.query(catalog[3]))
    assert blend(None, 0, space.statistics) is space.statistics
    with pytest.raises(ValueError):
        blend(None, 0, None)


def test_rows_added_later_are_standardised_as_the_space_put_its_own() -> None:
    """`RankingSpace.rows`: a row standardised alone, with the space's statistics, is the row
    the space holds (what catalog/ranker.py appends while the grown space is recomputed)."""
    catalog = music_like(300, 12)
    space = RankingSpace.of(catalog, SIZES, Statistics.of(music_like(500, 13)), (True, False))
    np.testing.assert_array_equal(space.rows(catalog[17:18]), space.matrix[17:18])
    np.testing.assert_array_equal(space.rows(catalog[100:]), space.matrix[100:])
