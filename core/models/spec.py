"""Model specs: the one grammar that names a model, and everything known about it before loading.

A spec string ("msd-vgg/pool5", "msd-musicnn/penultimate", "seed:PATH", "seed-random:3", "mfcc")
becomes a `ModelSpec`: its canonical name, the sample rate it decodes at, its vector size, the
model id its vectors are stored under, its near-duplicate threshold, and `load()`. The bot, the
command line and the evaluation all go through `parse_model_spec`, so an unknown spec is refused
in one place, with one message, before any worker or TensorFlow starts.

The model id is `<vector space>@fe<front-end version>`: the front-end version (core.constants)
covers everything between the file and the network's input plus the pooling, so a change there
gives new vectors a new id and old and new vectors never meet in one ranking.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from core.constants import (
    AISFX_FRONT_END,
    AISFX_MAX_BLOCKS_PER_TRACK,
    AISFX_SAMPLE_RATE,
    FUSION_AISFX_BLOCKS,
    FUSION_FRONT_END,
    FUSION_MSD_PATCHES,
    MAX_PATCHES_PER_TRACK,
    MFCC_FRONT_END,
    MUSICNN_FRONT_END,
    MUSICNN_LAYERS,
    MUSICNN_SAMPLE_RATE,
    SEED_FRONT_END,
    SEED_SAMPLE_RATE,
)
from core.errors import ModelFileError

if TYPE_CHECKING:
    from core.models.base import AudioModel

DEFAULT_MODEL: Final = "fusion:aisfx+msd-vgg/pool5"

# Near-duplicate thresholds (cosine of a query's best match at or above which the query *is* that
# catalog track), tuned per vector space; a model without one never claims a duplicate.
# msd-vgg/pool5, tuned on 419 real soundtrack tracks: full 128 kbps re-encodes score ≥ 0.986
# (median 0.999) against their original, the closest two different tracks 0.970 and a 15-s
# excerpt's best *other* match 0.967. (On msd-musicnn/penultimate two different tracks reach
# 0.9845, so this value must not be reused there.) See docs/catalog.md "Already in the catalog".
# fusion:aisfx+msd-vgg/pool5, on the stored vectors' plain cosine (not the standardised one,
# where re-encodes scatter down to 0.75), same corpus, catalog side (whole track) against catalog
# side: 128 kbps re-encodes ≥ 0.9812, the closest two different tracks 0.9714 (front end 3),
# a 15-s excerpt's best other match 0.9631; 0.977 splits both gaps. A user's long track is
# embedded by windows (core/models/fusion.py), which scatter further: re-encodes ≥ 0.9406
# (median 0.977) against their catalog vectors, a track's best other match ≤ 0.9653. So a
# windowed query whose best match reaches DUPLICATE_SUSPECT_SIMILARITY is embedded again as the
# catalog embeds it, and that vector decides (catalog/recommender.py): all 106 re-encodes found,
# 8.5 % of the other queries pay the second embedding.
NEAR_DUPLICATE_SIMILARITY: Final[dict[str, float]] = {
    "msd-vgg/pool5": 0.98,
    "fusion:aisfx+msd-vgg/pool5": 0.977,
}
DUPLICATE_SUSPECT_SIMILARITY: Final[dict[str, float]] = {
    "fusion:aisfx+msd-vgg/pool5": 0.94,
}

AISFX_VECTOR_SIZE: Final = 512
FUSION_PREFIX: Final = "fusion:"
# models a fusion may join (each once): those with a pretrained network of their own
FUSABLE_FAMILIES: Final = ("aisfx", "msd-vgg", "msd-musicnn")

SEED_VECTOR_SIZE: Final = 32
MFCC_VECTOR_SIZE: Final = 104  # mean and standard deviation of 52 frame features

Family = Literal["msd-vgg", "msd-musicnn", "seed", "seed-random", "mfcc", "aisfx", "fusion"]


class UnknownModelError(ValueError):
    """A spec that names no model this project has; the message lists the known ones."""


@dataclass(frozen=True)
class ModelSpec:
    """A model, as named by a spec string, known without loading it.

    name: the canonical spelling ("msd-vgg" → "msd-vgg/pool5").
    vector_space: what the vectors are, without the front end ("seed-<sha256[:12]>" for a seed
        file, so that two weight files never share an id).
    previous_ids: ids that vectors of this exact space and front end were stored under before
        ids carried the front-end version; a catalog's vectors under them are adopted.
    """

    name: str
    family: Family
    vector_space: str
    sample_rate: int
    vector_size: int
    front_end: int
    near_duplicate_similarity: float | None = None
    # a model whose queries are embedded otherwise than its catalog (the fusion): a best match
    # at least this close is checked again with the catalog's own embedding of the query
    duplicate_suspect_similarity: float | None = None
    previous_ids: tuple[str, ...] = ()
    weights_path: Path | None = None  # seed models: the Keras 2 Model.h5
    random_seed: int = 0  # seed-random models
    parts: tuple["ModelSpec", ...] = ()  # a fusion's models, in the order of its vector

    @property
    def max_patches(self) -> int:
        """How many evenly spaced patches (aisfx: blocks) of a track the model embeds."""
        return AISFX_MAX_BLOCKS_PER_TRACK if self.family == "aisfx" else MAX_PATCHES_PER_TRACK

    @property
    def part_caps(self) -> tuple[int, ...]:
        """A fusion's windows per part (core/models/fusion.py): aisfx FUSION_AISFX_BLOCKS, an
        MSD model FUSION_MSD_PATCHES."""
        return tuple(
            FUSION_AISFX_BLOCKS if p.family == "aisfx" else FUSION_MSD_PATCHES for p in self.parts
        )

    @property
    def standardised(self) -> bool:
        """Whether rankings standardise the catalog per part first (core/standardise.py): a
        fusion's parts each need their own statistics to weigh the same."""
        return self.family == "fusion"

    @property
    def standardised_parts(self) -> tuple[bool, ...]:
        """Per part, whether ranking standardises it: aisfx's yes (+.01 P@10, +.02 mAP on the
        development corpus), MSD_vgg's no (it costs excerpt recall; docs/quality.md)."""
        return tuple(p.family == "aisfx" for p in self.parts) or (self.standardised,)

    @property
    def part_sizes(self) -> tuple[int, ...]:
        """The widths of the vector's parts: each fused model's, or the whole vector's."""
        return tuple(p.vector_size for p in self.parts) or (self.vector_size,)

    @property
    def model_id(self) -> str:
        """The id stored with every vector of this model."""
        return f"{self.vector_space}@fe{self.front_end}"

    @property
    def layer(self) -> str:
        """The embedding layer of a musicnn model ("" for the others)."""
        return self.name.partition("/")[2] if self.family.startswith("msd-") else ""

    def load(self) -> "AudioModel":
        """Build the model and load its weights (seconds: TensorFlow starts, weights load)."""
        model: AudioModel
        if self.family == "fusion":
            from core.models.fusion import FusionModel

            model = FusionModel([part.load() for part in self.parts], self.part_caps)
        elif self.family == "aisfx":
            from core.models.aisfx import AisfxModel

            model = AisfxModel()
        elif self.family == "mfcc":
            from core.models.mfcc import MfccModel

            model = MfccModel()
        elif self.family == "seed-random":
            from core.models.seed import SeedModel

            model = SeedModel.random(self.random_seed)
        elif self.family == "seed":
            from core.models.seed import SeedModel

            assert self.weights_path is not None
            model = SeedModel(self.weights_path)
        else:
            from core.models.musicnn import MusicnnModel

            model = MusicnnModel(self.family, self.layer)
        model.model_id = self.model_id
        return model


def parse_model_spec(text: str) -> ModelSpec:
    """The `ModelSpec` a spec string names; UnknownModelError (a ValueError) otherwise.

    A seed spec reads its weight file once, to give its vectors an id of the file's content.
    """
    spec = text.strip()
    if spec.startswith(FUSION_PREFIX):
        return _fusion_spec(spec.removeprefix(FUSION_PREFIX))
    if spec == "aisfx":
        return ModelSpec(
            name="aisfx",
            family="aisfx",
            vector_space="aisfx",
            sample_rate=AISFX_SAMPLE_RATE,
            vector_size=AISFX_VECTOR_SIZE,
            front_end=AISFX_FRONT_END,
            near_duplicate_similarity=NEAR_DUPLICATE_SIMILARITY.get("aisfx"),
        )
    if spec == "mfcc":
        return ModelSpec(
            name="mfcc",
            family="mfcc",
            vector_space="mfcc-stats",
            sample_rate=MUSICNN_SAMPLE_RATE,
            vector_size=MFCC_VECTOR_SIZE,
            front_end=MFCC_FRONT_END,
            previous_ids=("mfcc-stats/v1",),
        )
    if spec == "seed-random" or spec.startswith("seed-random:"):
        seed_text = spec.partition(":")[2]
        if seed_text and not (seed_text.isascii() and seed_text.isdigit()):
            raise UnknownModelError(f"seed-random takes a whole number seed, not {seed_text!r}")
        seed = int(seed_text or 0)
        return ModelSpec(
            name=f"seed-random:{seed}" if seed else "seed-random",
            family="seed-random",
            vector_space=f"seed-random-{seed}",
            sample_rate=SEED_SAMPLE_RATE,
            vector_size=SEED_VECTOR_SIZE,
            front_end=SEED_FRONT_END,
            previous_ids=(f"seed-random-{seed}",),
            random_seed=seed,
        )
    if spec.startswith("seed:"):
        path = Path(spec.removeprefix("seed:"))
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        except OSError as error:
            raise ModelFileError(f"cannot read seed model file {path}: {error.strerror}") from error
        return ModelSpec(
            name=f"seed:{path}",
            family="seed",
            vector_space=f"seed-{digest}",
            sample_rate=SEED_SAMPLE_RATE,
            vector_size=SEED_VECTOR_SIZE,
            front_end=SEED_FRONT_END,
            previous_ids=(f"seed-{digest}",),
            weights_path=path,
        )
    architecture, _, layer = spec.partition("/")
    if architecture in MUSICNN_LAYERS:
        layers = MUSICNN_LAYERS[architecture]
        layer = layer or next(iter(layers))
        if layer not in layers:
            raise UnknownModelError(
                f"{architecture} has no layer {layer!r}; known: {', '.join(layers)}"
            )
        name = f"{architecture}/{layer}"
        return ModelSpec(
            name=name,
            family="msd-vgg" if architecture == "msd-vgg" else "msd-musicnn",
            vector_space=name,
            sample_rate=MUSICNN_SAMPLE_RATE,
            vector_size=layers[layer],
            front_end=MUSICNN_FRONT_END,
            near_duplicate_similarity=NEAR_DUPLICATE_SIMILARITY.get(name),
            previous_ids=(name,),
        )
    known = ", ".join(
        [*MUSICNN_LAYERS, "aisfx", "fusion:A+B", "seed:PATH", "seed-random[:SEED]", "mfcc"]
    )
    raise UnknownModelError(f"unknown model {spec!r}; known: {known}")


def _fusion_spec(text: str) -> ModelSpec:
    """`fusion:aisfx+msd-vgg`: two or more fusable models, their vectors side by side."""
    parts = tuple(parse_model_spec(part) for part in text.split("+") if part.strip())
    if len(parts) < 2:
        raise UnknownModelError("a fusion joins two or more models: fusion:aisfx+msd-vgg")
    for part in parts:
        if part.family not in FUSABLE_FAMILIES:
            raise UnknownModelError(
                f"{part.name} cannot be fused; fusable: {', '.join(FUSABLE_FAMILIES)}"
            )
    if len({part.name for part in parts}) < len(parts):
        raise UnknownModelError("a fusion names each model once")
    name = FUSION_PREFIX + "+".join(part.name for part in parts)
    return ModelSpec(
        name=name,
        family="fusion",
        vector_space=name,
        sample_rate=max(part.sample_rate for part in parts),
        vector_size=sum(part.vector_size for part in parts),
        front_end=FUSION_FRONT_END,
        near_duplicate_similarity=NEAR_DUPLICATE_SIMILARITY.get(name),
        duplicate_suspect_similarity=DUPLICATE_SUSPECT_SIMILARITY.get(name),
        parts=parts,
    )
