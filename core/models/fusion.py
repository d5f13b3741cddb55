"""A fusion of networks: one stored vector from a few windows of the track, decoded once.

The stored vector is the concatenation of each part's unit track vector, divided by √parts so
that it is a unit vector too (its plain cosine is the mean of the parts' cosines). Ranking
standardises each part over the catalog first (core/standardise.py). The tags are those of
the first part that has tags (MSD_vgg's 50 in `fusion:aisfx+msd-vgg`).

Front end 3. The catalog side (`embed_track`: import, reindex) decodes the whole track once at
the highest rate of the parts and gives each part the track as it takes it alone: aisfx its
AISFX_MAX_BLOCKS_PER_TRACK evenly spaced blocks, peak-normalised by the whole track; MSD_vgg,
resampled in-process with soxr, its MAX_PATCHES_PER_TRACK patches at the whole track's RMS.
A query (`window_inputs`: the bot answering a whole track) reads only a few ≈3.2-s windows
placed by the track's duration (core/windows.py), decoded in one ffmpeg run: aisfx one
2.345-s block from the middle of each of FUSION_AISFX_BLOCKS windows, MSD_vgg one 3-s patch from
each of FUSION_MSD_PATCHES, the level (peak, RMS) that of those windows. Both estimate the same
mean of the track's patches; the catalog's denser one also gives each section enough patches
for a clip to find the passage it was cut from.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import soxr

from core.embedding import fused_sections, model_input, track_vector
from core.errors import TooShortError
from core.models.base import AudioModel, TrackOutputs, WindowedModel
from core.windows import Windows, level_windows, part_windows, used_windows

RESAMPLE_QUALITY = "HQ"  # soxr's; see docs/models.md for what the resampler changes


def resample(audio: npt.NDArray[np.float32], rate: int, target: int) -> npt.NDArray[np.float32]:
    """Mono float32 audio from `rate` to `target` Hz."""
    if rate == target:
        return audio
    return np.asarray(soxr.resample(audio, rate, target, quality=RESAMPLE_QUALITY), np.float32)


class FusionModel(WindowedModel):
    """Several loaded models whose unit track vectors are stored side by side.

    caps: how many windows each part reads of a query (by default each part's `max_patches`).
    """

    loudness_normalised = False  # each part normalises its own copy

    def __init__(self, parts: Sequence[AudioModel], caps: Sequence[int] | None = None) -> None:
        if len(parts) < 2:
            raise ValueError("a fusion needs at least two models")
        self.parts = tuple(parts)
        self.caps = tuple(caps) if caps is not None else tuple(p.max_patches for p in parts)
        if len(self.caps) != len(self.parts):
            raise ValueError("a fusion needs one window cap per part")
        self.sample_rate = max(part.sample_rate for part in parts)
        self.embedding_dim = sum(part.embedding_dim for part in parts)
        self.tag_names = next((part.tag_names for part in parts if part.tag_names), ())
        self.max_patches = max(self.caps)

    def used_windows(self, count: int) -> npt.NDArray[np.intp]:
        return used_windows(count, self.caps)

    def window_inputs(self, windows: Windows) -> list[npt.NDArray[np.float32]]:
        count = windows.plan.count
        if count == 0:
            raise TooShortError("the track is too short for one analysis window")
        level = windows.spans(level_windows(count))
        return [
            part.window_patches(windows.rows(part_windows(count, cap)), windows.plan, level)
            for part, cap in zip(self.parts, self.caps, strict=True)
        ]

    def track_inputs(self, audio: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """Each part's network input from whole decoded audio at `sample_rate` (the catalog
        side: each part's own patch budget and level)."""
        inputs = []
        for part in self.parts:
            own = model_input(resample(audio, self.sample_rate, part.sample_rate), part)
            inputs.append(part.chosen_patches(own, part.max_patches))
        return inputs

    def embed_inputs(self, inputs: list[npt.NDArray[np.float32]]) -> TrackOutputs:
        vectors: list[npt.NDArray[np.float32]] = []
        embeddings: list[npt.NDArray[np.float32]] = []
        tags: npt.NDArray[np.float32] | None = None
        count = 0
        for part, patches in zip(self.parts, inputs, strict=True):
            if patches.shape[0] == 0:
                raise TooShortError("the track is too short for one analysis window")
            outputs = part.predict(patches)
            vectors.append(track_vector(outputs.embeddings))
            embeddings.append(outputs.embeddings)
            if tags is None and part.tag_names:
                tags = outputs.tags.mean(axis=0).astype(np.float32)
            count += int(patches.shape[0])
        vector = np.concatenate(vectors) / np.float32(np.sqrt(len(vectors)))
        return TrackOutputs(
            vector.astype(np.float32),
            tags if tags is not None else np.zeros(0, np.float32),
            count,
            fused_sections(embeddings),
        )

    def embed_track(self, audio: npt.NDArray[np.float32]) -> TrackOutputs:
        """The catalog vector of whole decoded audio (`track_inputs`)."""
        return self.embed_inputs(self.track_inputs(audio))
