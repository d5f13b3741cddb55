"""Cutting feature frames into model patches and choosing which patches a track spends its
compute budget on."""

import numpy as np
import numpy.typing as npt


def frame_patches(frames: npt.NDArray[np.float32], patch_frames: int) -> npt.NDArray[np.float32]:
    """Consecutive non-overlapping patches of `frames` (n_frames, n_bands).

    Returns (n_patches, patch_frames, n_bands); the incomplete tail is dropped, so fewer frames
    than one patch give zero patches. A view, not a copy.
    """
    n_patches = frames.shape[0] // patch_frames
    usable = frames[: n_patches * patch_frames]
    return usable.reshape(n_patches, patch_frames, *frames.shape[1:])


def evenly_spaced(count: int, cap: int) -> npt.NDArray[np.intp]:
    """Indices of at most `cap` items spread evenly over `count`, first and last included.

    With count ≤ cap every index is returned. Evenly spaced patches keep the whole track's
    character (intro, body, ending) at a bounded cost.
    """
    if count <= cap:
        return np.arange(count, dtype=np.intp)
    return np.unique(np.round(np.linspace(0, count - 1, cap)).astype(np.intp))
