"""Patch selection (core/patch_selection.py): cutting frames into patches, choosing evenly."""

import numpy as np

from core.patch_selection import evenly_spaced, frame_patches


def test_evenly_spaced_indices() -> None:
    assert evenly_spaced(5, 10).tolist() == [0, 1, 2, 3, 4]
    picked = evenly_spaced(80, 24)
    assert len(picked) == 24 and picked[0] == 0 and picked[-1] == 79
    assert (np.diff(picked) >= 3).all()
    assert evenly_spaced(0, 24).tolist() == []


def test_frame_patches_drops_the_incomplete_tail() -> None:
    frames = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
    patches = frame_patches(frames, 4)
    assert patches.shape == (2, 4, 2)
    np.testing.assert_array_equal(patches[1, 0], frames[4])
    assert frame_patches(frames[:3], 4).shape == (0, 4, 2)
