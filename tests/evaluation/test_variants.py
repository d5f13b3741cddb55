"""The rows that choose the default: the paired bootstrap over groups and fused variants."""

import numpy as np

from core.embedding import section_vectors, track_vector
from evaluation.metrics import Clips, clip_ranks, own_ranks
from evaluation.variants import PartVectors, compare, fused, paired_bootstrap, per_query


def test_the_bootstrap_resamples_whole_groups() -> None:
    groups = np.repeat(np.arange(8), 5)
    base = np.random.default_rng(0).uniform(0, 1, 40)
    assert paired_bootstrap(base, base, groups) == (0.0, 0.0, 0.0)
    difference, low, high = paired_bootstrap(base + 0.1, base, groups)
    assert abs(difference - 0.1) < 1e-12 and abs(low - 0.1) < 1e-9 and abs(high - 0.1) < 1e-9
    # a gain in one group only: positive on average, but the interval reaches 0
    one_group = base + np.where(groups == 0, 0.8, 0.0)
    difference, low, high = paired_bootstrap(one_group, base, groups)
    assert difference > 0 and low == 0.0 and high > difference


def test_a_fused_variant_is_unit_and_compares_with_a_baseline() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(4), 4)
    centres = rng.standard_normal((4, 6))

    def part(dim: int, noise: float) -> PartVectors:
        x = np.abs(
            3 + np.repeat(centres[:, :dim], 4, axis=0) + noise * rng.standard_normal((16, dim))
        )
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return PartVectors(x.astype(np.float32), x.astype(np.float32), None)

    a, m = part(6, 0.3), part(4, 0.3)
    for z, which in ((False, None), (True, None), (True, (True, False))):
        joined = fused([a, m], z, which)
        assert joined.catalog.shape == (16, 10)
        np.testing.assert_allclose(np.linalg.norm(joined.catalog, axis=1), 1.0, atol=1e-5)
    rows = compare("fusion", fused([a, m], True), "a", a, groups)
    assert [c.figure for c in rows] == ["P@10", "mAP", "excerpt R@1"]
    assert all(c.low <= c.difference <= c.high for c in rows)


def test_excerpts_are_answered_as_the_bot_answers_clips() -> None:
    """Track 0's mean is nearer track 1's excerpt than track 1's own mean; track 1's second
    section holds the excerpt, so with clips its excerpt finds it first."""
    rng = np.random.default_rng(2)
    patches = [np.abs(3 + rng.standard_normal((6, 8))).astype(np.float32) for _ in range(4)]
    excerpt_of_1 = patches[1][5] + 0.01
    patches[0] = np.stack([excerpt_of_1 + 0.4 * patches[0][i] for i in range(6)])
    catalog = np.stack([track_vector(p) for p in patches])
    excerpts = np.stack([track_vector(p[:2]) for p in patches])
    excerpts[1] = track_vector(excerpt_of_1[None])
    plain = own_ranks(excerpts, catalog, np.arange(4))
    assert plain[1] > 1  # the mean of another track wins without clips
    clips = Clips(excerpts, [section_vectors(p) for p in patches])
    ranks = clip_ranks(excerpts, catalog, clips)
    assert ranks[1] == 1
    assert per_query(catalog, excerpts, np.arange(4), clips)["excerpt R@1"][0][1] == 1.0
