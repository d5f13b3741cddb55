"""A fusion of networks: one decode, each part's own front end and patches, one stored vector.

The stored vector is the concatenation of each part's unit track vector, divided by √parts so
that it is a unit vector too (its plain cosine is the mean of the parts' cosines). Ranking
standardises each part over the catalog first (core/standardise.py). The tags are those of
the first part that has tags (MSD_vgg's 50 in `fusion:aisfx+msd-vgg`).

The track is decoded once at the highest rate of the parts; a part at a lower rate gets the
audio resampled in-process with soxr, then its own level normalisation.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import soxr

from core.embedding import fused_sections, model_input, track_vector
from core.errors import TooShortError
from core.models.base import AudioModel, TrackModel, TrackOutputs

RESAMPLE_QUALITY = "HQ"  # soxr's; see README "Models" for what the resampler changes


def resample(audio: npt.NDArray[np.float32], rate: int, target: int) -> npt.NDArray[np.float32]:
    """Mono float32 audio from `rate` to `target` Hz."""
    if rate == target:
        return audio
    return np.asarray(soxr.resample(audio, rate, target, quality=RESAMPLE_QUALITY), np.float32)


class FusionModel(TrackModel):
    """Several loaded models whose unit track vectors are stored side by side."""

    loudness_normalised = False  # each part normalises its own copy

    def __init__(self, parts: Sequence[AudioModel]) -> None:
        if len(parts) < 2:
            raise ValueError("a fusion needs at least two models")
        self.parts = tuple(parts)
        self.sample_rate = max(part.sample_rate for part in parts)
        self.embedding_dim = sum(part.embedding_dim for part in parts)
        self.tag_names = next((part.tag_names for part in parts if part.tag_names), ())
        self.max_patches = max(part.max_patches for part in parts)

    def embed_track(self, audio: npt.NDArray[np.float32]) -> TrackOutputs:
        vectors: list[npt.NDArray[np.float32]] = []
        embeddings: list[npt.NDArray[np.float32]] = []
        tags: npt.NDArray[np.float32] | None = None
        count = 0
        for part in self.parts:
            part_audio = model_input(resample(audio, self.sample_rate, part.sample_rate), part)
            chosen = part.chosen_patches(part_audio, part.max_patches)
            if chosen.shape[0] == 0:
                raise TooShortError("the track is too short for one analysis window")
            outputs = part.predict(chosen)
            vectors.append(track_vector(outputs.embeddings))
            embeddings.append(outputs.embeddings)
            if tags is None and part.tag_names:
                tags = outputs.tags.mean(axis=0).astype(np.float32)
            count += int(chosen.shape[0])
        vector = np.concatenate(vectors) / np.float32(np.sqrt(len(vectors)))
        return TrackOutputs(
            vector.astype(np.float32),
            tags if tags is not None else np.zeros(0, np.float32),
            count,
            fused_sections(embeddings),
        )
