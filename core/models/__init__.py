"""The models the project can embed with, each named by a spec string (see `spec.py`).

The default is `DEFAULT_MODEL` (spec.py): "fusion:aisfx+msd-vgg/pool5", two networks from one
decode. Specs: "fusion:A+B[+…]" (fusable models side by side, `fusion.py`), "aisfx",
"msd-vgg" / "msd-vgg/pool5", "msd-musicnn[/penultimate|mean_pool|max_pool|mean_max_pool]",
"seed:PATH/TO/Model.h5" (the original project's CNN), "seed-random[:SEED]" (its architecture
with random weights, an evaluation baseline) and "mfcc" (MFCC and spectral statistics, no neural
network: the evaluation's classic baseline).
"""

from core.models import runtime  # noqa: F401 - sets TensorFlow's environment before any import
from core.models.base import AudioModel, PatchOutputs
from core.models.spec import DEFAULT_MODEL, ModelSpec, UnknownModelError, parse_model_spec

__all__ = [
    "DEFAULT_MODEL",
    "AudioModel",
    "ModelSpec",
    "PatchOutputs",
    "UnknownModelError",
    "parse_model_spec",
]
