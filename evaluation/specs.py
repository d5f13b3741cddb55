"""Which models a run compares, named by core.models' one spec grammar.

The evaluation adds no spelling of its own: a spec is parsed by `parse_model_spec`, its cache
file is named by the spec's model id (which carries the front-end version, so a front-end change
starts a new cache instead of mixing old and new vectors), and an unknown spec or unreadable
seed file becomes the command's usage error.
"""

import re
from collections.abc import Sequence

from core.errors import ModelFileError
from core.models.spec import ModelSpec, UnknownModelError, parse_model_spec
from evaluation.errors import EvalUsageError

# The full comparison. mean_max_pool also yields mean_pool and max_pool (its two halves).
DEFAULT_SPECS = (
    "msd-vgg/pool5",
    "msd-musicnn/penultimate",
    "msd-musicnn/mean_max_pool",
    "seed-random",
    "mfcc",
)
# Patches cached per track: the largest budget scored (smaller ones are evenly spaced subsets
# of these, evaluation/variants.py); the spec's own budget where it is not listed.
EVAL_PATCHES: dict[str, int] = {"aisfx": 16}


def eval_patches(spec: ModelSpec) -> int:
    """How many evenly spaced patches of a track the evaluation embeds and caches for `spec`."""
    return max(EVAL_PATCHES.get(spec.family, 0), spec.max_patches)


def part_field(part: str, index: int) -> str:
    """The cache field of a fusion part's patch vectors: "full" for the first part, "full.1"
    for the second, and so on."""
    return part if index == 0 else f"{part}.{index}"


# The baseline the others are compared with in the paired bootstrap: MSD_vgg alone, the
# single-network model the fusion replaced as the default (core.models.DEFAULT_MODEL).
BASELINE = "msd-vgg/pool5"

# Fused when both are evaluated: their unit vectors (raw, or each standardised) side by side.
FUSED = ("msd-vgg/pool5", "msd-musicnn/penultimate")


def parse_specs(text: str) -> list[ModelSpec]:
    """A comma-separated list of specs, parsed, duplicates dropped, order kept.

    Raises EvalUsageError, with core.models' one-line message, for an unknown spec.
    """
    try:
        specs = [parse_model_spec(part) for part in text.split(",") if part.strip()]
    except (UnknownModelError, ModelFileError) as error:
        raise EvalUsageError(str(error)) from error
    if not specs:
        raise EvalUsageError("--models names no model")
    unique: dict[str, ModelSpec] = {}
    for spec in specs:
        unique.setdefault(spec.name, spec)
    return list(unique.values())


def cache_file_name(spec: ModelSpec) -> str:
    """The file a spec's results are cached in: its model id, made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", spec.model_id) + ".npz"


def embedded_specs(specs: Sequence[ModelSpec]) -> list[ModelSpec]:
    """The specs whose networks run, deduplicated.

    A fusion runs as itself: it decodes once and resamples in-process, and its queries read
    windows (core/windows.py), so its parts' own caches cannot stand in for it. Its cache holds
    each part's patch vectors (`part_field`), of the catalog side ("full", "excerpt") and of
    the query side ("query", "reencode").
    """
    unique: dict[str, ModelSpec] = {}
    for spec in specs:
        unique.setdefault(spec.name, spec)
    return list(unique.values())
