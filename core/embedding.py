"""A track in, one vector out: the original design's "mean of per-patch vectors", made bounded.

decode → loudness → model front end → evenly spaced patches (at most MAX_PATCHES_PER_TRACK) →
one batched model call → mean over patches → L2 normalisation. The same patch vectors also give
the track's section vectors, which name the track a short clip comes from (core.ranking).

A windowed model (the fusion) decodes only the windows it reads (`core.audio.load_windows`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.audio import check_analysable, decode, load_windows, normalise_loudness
from core.constants import MAX_PATCHES_PER_TRACK, SECTIONS_PER_TRACK
from core.errors import TooShortError
from core.models.base import AudioModel, TrackModel, TrackOutputs, WindowedModel
from core.patch_selection import evenly_spaced
from core.windows import Windows


@dataclass(frozen=True)
class TrackEmbedding:
    """A track's identity in one model's space.

    vector: (embedding_dim,) float32, unit L2 norm; comparable only with vectors of `model_id`.
    tag_probabilities: (len(tag_names),) float32 in [0, 1], averaged over the patches.
    sections: (k ≤ SECTIONS_PER_TRACK, embedding_dim) float32, unit rows: the vectors of the
        track's consecutive sections, in the same space as `vector` (see `section_vectors`).
    """

    model_id: str
    vector: npt.NDArray[np.float32]
    tag_names: tuple[str, ...]
    tag_probabilities: npt.NDArray[np.float32]
    seconds_analysed: float
    patch_count: int
    sections: npt.NDArray[np.float32]

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


def section_vectors(
    patch_embeddings: npt.NDArray[np.float32], count: int = SECTIONS_PER_TRACK
) -> npt.NDArray[np.float32]:
    """The track cut into `count` consecutive sections, each the unit mean of its patches.

    patch_embeddings: (n_patches, dim) in track order (the evenly spaced patches, so each
    section covers about 1/count of the track). Returns (min(count, n_patches), dim).
    """
    groups = np.array_split(np.arange(patch_embeddings.shape[0]), min(count, len(patch_embeddings)))
    means = np.stack([patch_embeddings[group].mean(axis=0) for group in groups])
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return (means / np.where(norms > 0, norms, 1)).astype(np.float32)


def fused_sections(part_embeddings: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    """A fusion's section vectors: each part's sections side by side, divided by √parts (the
    form of the fusion's stored vector), with as many sections as the part with fewest patches.

    part_embeddings: per part, (n_patches_i, dim_i) in track order. Returns (k, Σ dim_i).
    """
    count = min(SECTIONS_PER_TRACK, *(len(embeddings) for embeddings in part_embeddings))
    joined = np.concatenate([section_vectors(e, count) for e in part_embeddings], axis=1)
    return (joined / np.float32(np.sqrt(len(part_embeddings)))).astype(np.float32)


def embed_audio(
    audio: npt.NDArray[np.float32],
    model: AudioModel,
    max_patches: int | None = None,
) -> TrackEmbedding:
    """Embed mono float32 audio at `model.sample_rate`, prepared by `model_input`.

    max_patches: the patch cap, the model's own (`model.max_patches`) by default; a
    `TrackModel` (a fusion) always uses its parts' own caps.
    """
    seconds = audio.shape[0] / model.sample_rate
    if isinstance(model, TrackModel):
        return _track_embedding(model, model.embed_track(audio), seconds)
    chosen = model.chosen_patches(audio, model.max_patches if max_patches is None else max_patches)
    if chosen.shape[0] == 0:
        raise TooShortError("the track is too short for one analysis window")
    outputs = model.predict(chosen)
    return TrackEmbedding(
        model_id=model.model_id,
        vector=track_vector(outputs.embeddings),
        tag_names=model.tag_names,
        tag_probabilities=outputs.tags.mean(axis=0).astype(np.float32),
        seconds_analysed=seconds,
        patch_count=int(chosen.shape[0]),
        sections=section_vectors(outputs.embeddings),
    )


def warm_up(model: AudioModel) -> None:
    """Run one small embedding so that the first real track does not pay for graph tracing
    and library caches (about a second)."""
    noise = np.random.default_rng(0).standard_normal(5 * model.sample_rate).astype(np.float32)
    embed_audio(model_input(0.1 * noise, model), model)


def model_input(audio: npt.NDArray[np.float32], model: AudioModel) -> npt.NDArray[np.float32]:
    """Decoded audio as `model` takes it: loudness-normalised unless it normalises by itself."""
    return normalise_loudness(audio) if model.loudness_normalised else audio


def load_for(path: Path, model: AudioModel) -> npt.NDArray[np.float32]:
    """Decode and check a file at the model's rate, prepared as the model takes it."""
    audio = decode(path, model.sample_rate)
    check_analysable(audio, model.sample_rate)
    return model_input(audio, model)


def embed_file(path: Path, model: AudioModel, *, query: bool = False) -> TrackEmbedding:
    """Decode and embed one file; raises core.errors.AudioError subclasses on bad input.

    `query`: the file is a user's question, not a catalog track. A windowed model (the fusion)
    then reads only a few windows of a long track (`core.audio.load_windows`), which is what
    makes an answer fast; the catalog side, and any track too short for that, is decoded whole.
    """
    if query and isinstance(model, WindowedModel):
        windows = load_windows(path, model.sample_rate, model.used_windows)
        if windows is not None:
            return embed_window_inputs(model.window_inputs(windows), windows, model)
    return embed_audio(load_for(path, model), model)


def embed_window_inputs(
    inputs: list[npt.NDArray[np.float32]], windows: Windows, model: WindowedModel
) -> TrackEmbedding:
    """A windowed model's embedding from its `window_inputs` (what `embed_file` does after
    decoding; the evaluation calls it too)."""
    return _track_embedding(model, model.embed_inputs(inputs), windows.duration)


def _track_embedding(model: TrackModel, track: TrackOutputs, seconds: float) -> TrackEmbedding:
    """What a model that pools by itself made of a track, `seconds` of it analysed."""
    return TrackEmbedding(
        model_id=model.model_id,
        vector=track.vector,
        tag_names=model.tag_names,
        tag_probabilities=track.tags,
        seconds_analysed=seconds,
        patch_count=track.patch_count,
        sections=track.sections,
    )
