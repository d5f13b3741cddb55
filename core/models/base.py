"""What every audio model offers the embedding pipeline, whatever its backend."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.constants import MAX_PATCHES_PER_TRACK
from core.patch_selection import evenly_spaced

if TYPE_CHECKING:
    from core.windows import WindowPlan, Windows


@dataclass(frozen=True)
class PatchOutputs:
    """A model's outputs for a batch of patches.

    embeddings: (n_patches, embedding_dim) float32, the embedding layer of each patch.
    tags: (n_patches, len(tag_names)) float32 probabilities in [0, 1]; (n_patches, 0) for a
        model without tags.
    """

    embeddings: npt.NDArray[np.float32]
    tags: npt.NDArray[np.float32]


class AudioModel(ABC):
    """A pretrained CNN with its own front end: mono audio in, per-patch vectors out.

    `model_id` names the vector space: vectors of different ids are never compared. It is set
    by `ModelSpec.load` (core/models/spec.py), the one place that knows a model's name and
    front-end version; a model built directly, as in tests of a port, has none.
    """

    model_id: str = ""
    sample_rate: int
    embedding_dim: int
    tag_names: tuple[str, ...] = ()
    # at most this many evenly spaced patches of a track are embedded (core.embedding)
    max_patches: int = MAX_PATCHES_PER_TRACK
    # whether the model's input is the decoded audio brought to core.audio's TARGET_RMS; a model
    # with its own level normalisation (aisfx: peak) gets the decoded samples as they are
    loudness_normalised: bool = True

    @abstractmethod
    def patches(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Cut mono float32 audio at `sample_rate` into model inputs, shape (n_patches, ...).

        Returns zero patches when the audio is shorter than one patch.
        """

    @abstractmethod
    def predict(self, patches: npt.NDArray[np.float32]) -> PatchOutputs:
        """Run the network on a batch of patches (one call, however many patches)."""

    def window_patches(
        self, windows: npt.NDArray[np.float32], plan: "WindowPlan", level: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """One patch from each decoded window (n, plan.length) at plan.rate (`core.windows`),
        level-normalised by the analysed spans `level` of the track's level windows: a model
        that a windowed fusion can join overrides this."""
        raise TypeError(f"{type(self).__name__} cannot read windows")

    def chosen_patches(self, audio: npt.NDArray[np.float32], cap: int) -> npt.NDArray[np.float32]:
        """The at most `cap` evenly spaced patches of `audio` a track is embedded from.

        Equal to `patches(audio)` at `core.patch_selection.evenly_spaced` indices; a model may
        override it to compute the features of those patches only.
        """
        patches = self.patches(audio)
        return patches[evenly_spaced(patches.shape[0], cap)]


@dataclass(frozen=True)
class TrackOutputs:
    """What a model that pools by itself makes of one track (see `TrackModel`).

    vector: (embedding_dim,) float32, unit norm; tags: (len(tag_names),); patch_count: the
    patches embedded, over all its parts; sections: (k, embedding_dim) unit rows, the track's
    section vectors in the same space as `vector` (core.embedding.section_vectors).
    """

    vector: npt.NDArray[np.float32]
    tags: npt.NDArray[np.float32]
    patch_count: int
    sections: npt.NDArray[np.float32]


class TrackModel(AudioModel):
    """A model that turns a whole track into its vector itself: a fusion of several networks,
    each with its own front end, patch choice and pooling, from one decode."""

    @abstractmethod
    def embed_track(self, audio: npt.NDArray[np.float32]) -> TrackOutputs:
        """The track's vector from decoded mono audio at `sample_rate` (not level-normalised).

        Raises core.errors.TooShortError when a part has no patch.
        """

    def patches(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        raise TypeError(f"{type(self).__name__} embeds whole tracks (embed_track), not patches")

    def predict(self, patches: npt.NDArray[np.float32]) -> PatchOutputs:
        raise TypeError(f"{type(self).__name__} embeds whole tracks (embed_track), not patches")


class WindowedModel(TrackModel):
    """A track model that reads only evenly spaced windows of a track (`core.windows`):
    `core.embedding.embed_file` decodes just those (or cuts them from a whole decode), the
    features come from `window_inputs` and the vector from `embed_inputs`."""

    @abstractmethod
    def used_windows(self, count: int) -> npt.NDArray[np.intp]:
        """Which of a plan's `count` windows the model reads, ascending."""

    @abstractmethod
    def window_inputs(self, windows: "Windows") -> list[npt.NDArray[np.float32]]:
        """Each part's network input from the decoded windows (features; no network)."""

    @abstractmethod
    def embed_inputs(self, inputs: list[npt.NDArray[np.float32]]) -> TrackOutputs:
        """The track's vector from `window_inputs`' result (the networks)."""
