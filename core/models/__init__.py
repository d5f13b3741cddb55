"""The models the project can embed with, chosen by a short spec string.

Specs: "msd-vgg" / "msd-vgg/pool5" (the default), "msd-musicnn[/penultimate|mean_pool|
max_pool|mean_max_pool]", "seed:PATH/TO/Model.h5" (the original project's CNN),
"seed-random[:SEED]" (its architecture with random weights, an evaluation baseline) and "mfcc"
(MFCC and spectral statistics, no neural network: the evaluation's classic baseline).
"""

from pathlib import Path

from core.models import runtime  # noqa: F401 - sets TensorFlow's environment before any import
from core.models.base import AudioModel, PatchOutputs

DEFAULT_MODEL = "msd-vgg/pool5"

__all__ = ["DEFAULT_MODEL", "AudioModel", "PatchOutputs", "load_model"]


def load_model(spec: str = DEFAULT_MODEL) -> AudioModel:
    """Build and load the model `spec` names (seconds: TensorFlow starts, weights load)."""
    if spec == "mfcc":
        from core.models.mfcc import MfccModel

        return MfccModel()
    if spec.startswith("seed-random"):
        from core.models.seed import SeedModel

        _, _, seed = spec.partition(":")
        return SeedModel.random(int(seed or 0))
    if spec.startswith("seed:"):
        from core.models.seed import SeedModel

        return SeedModel(Path(spec.removeprefix("seed:")))
    from core.models.musicnn import VARIANTS, MusicnnModel

    architecture, _, layer = spec.partition("/")
    if architecture not in VARIANTS:
        known = ", ".join([*VARIANTS, "seed:PATH", "seed-random", "mfcc"])
        raise ValueError(f"unknown model {spec!r}; known: {known}")
    return MusicnnModel(architecture, layer or None)
