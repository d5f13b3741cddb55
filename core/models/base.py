"""What every audio model offers the embedding pipeline, whatever its backend."""

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


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

    @abstractmethod
    def patches(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Cut mono float32 audio at `sample_rate` into model inputs, shape (n_patches, ...).

        Returns zero patches when the audio is shorter than one patch.
        """

    @abstractmethod
    def predict(self, patches: npt.NDArray[np.float32]) -> PatchOutputs:
        """Run the network on a batch of patches (one call, however many patches)."""
