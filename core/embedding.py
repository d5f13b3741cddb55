"""A track in, one vector out: the original design's "mean of per-patch vectors", made bounded.

decode → loudness → model front end → evenly spaced patches (at most MAX_PATCHES_PER_TRACK) →
one batched model call → mean over patches → L2 normalisation.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.audio import load_track
from core.constants import MAX_PATCHES_PER_TRACK
from core.errors import TooShortError
from core.models.base import AudioModel
from core.patching import evenly_spaced


@dataclass(frozen=True)
class TrackEmbedding:
    """A track's identity in one model's space.

    vector: (embedding_dim,) float32, unit L2 norm; comparable only with vectors of `model_id`.
    tag_probabilities: (len(tag_names),) float32 in [0, 1], averaged over the patches.
    """

    model_id: str
    vector: npt.NDArray[np.float32]
    tag_names: tuple[str, ...]
    tag_probabilities: npt.NDArray[np.float32]
    seconds_analysed: float
    patch_count: int

    def top_tags(self, count: int = 3) -> list[tuple[str, float]]:
        """The `count` most probable tags, most probable first."""
        order = np.argsort(-self.tag_probabilities, kind="stable")[:count]
        return [(self.tag_names[i], float(self.tag_probabilities[i])) for i in order]


def l2_normalise(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """`vector` scaled to unit length (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def select_patches(
    patches: npt.NDArray[np.float32], cap: int = MAX_PATCHES_PER_TRACK
) -> npt.NDArray[np.float32]:
    """The patches a track spends its compute on: at most `cap`, evenly spaced over the track.

    patches: (n_patches, ...) as `AudioModel.patches` cuts them; returns (min(n, cap), ...).
    """
    return patches[evenly_spaced(patches.shape[0], cap)]


def track_vector(patch_embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One track's vector from its patch embeddings (n_patches, dim): the mean, unit length."""
    return l2_normalise(patch_embeddings.mean(axis=0))


def embed_audio(
    audio: npt.NDArray[np.float32],
    model: AudioModel,
    max_patches: int = MAX_PATCHES_PER_TRACK,
) -> TrackEmbedding:
    """Embed mono float32 audio at `model.sample_rate` (already loudness-normalised)."""
    patches = model.patches(audio)
    if patches.shape[0] == 0:
        raise TooShortError("the track is too short for one analysis window")
    chosen = select_patches(patches, max_patches)
    outputs = model.predict(chosen)
    return TrackEmbedding(
        model_id=model.model_id,
        vector=track_vector(outputs.embeddings),
        tag_names=model.tag_names,
        tag_probabilities=outputs.tags.mean(axis=0).astype(np.float32),
        seconds_analysed=audio.shape[0] / model.sample_rate,
        patch_count=int(chosen.shape[0]),
    )


def warm_up(model: AudioModel) -> None:
    """Run one small embedding so that the first real track does not pay for graph tracing
    and library caches (about a second)."""
    noise = np.random.default_rng(0).standard_normal(5 * model.sample_rate).astype(np.float32)
    embed_audio(0.1 * noise, model)


def embed_file(path: Path, model: AudioModel) -> TrackEmbedding:
    """Decode and embed one file; raises core.errors.AudioError subclasses on bad input."""
    return embed_audio(load_track(path, model.sample_rate), model)
