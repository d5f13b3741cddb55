"""Write a fusion's prior standardisation statistics (core/models/priors/<id>.npz) from the
evaluation's cached patch vectors of its parts.

    .venv/bin/python -m bot eval DIR --models fusion:aisfx+msd-vgg --cache CACHE
    .venv/bin/python bench/fusion_prior.py CACHE [--model fusion:aisfx+msd-vgg]

Each track's stored vector is rebuilt as the bot stores it (each part's mean vector of its
own patch budget, an evenly spaced subset of the cached patches, at unit length, side by side,
divided by √parts), and the per-dimension mean and standard deviation over the tracks are saved:
what a catalog of one to a few tracks is standardised with.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from core.embedding import track_vector
from core.models import ModelSpec, parse_model_spec
from core.patching import evenly_spaced
from core.standardise import Statistics, save_prior
from evaluation.cache import SpecCache
from evaluation.specs import cache_file_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--model", default="fusion:aisfx+msd-vgg")
    arguments = parser.parse_args()
    spec = parse_model_spec(arguments.model)
    caches = [SpecCache(arguments.cache / cache_file_name(p), p) for p in spec.parts]
    shas = sorted(set.intersection(*({s for s, e in c.entries.items() if "full" in e}
                                     for c in caches)))  # fmt: skip

    def vector(cache: SpecCache, part: ModelSpec, sha: str) -> np.ndarray:
        patches = cache.entries[sha]["full"]  # the bot's budget: a subset of the cached ones
        return track_vector(patches[evenly_spaced(len(patches), part.max_patches)])

    rows = [
        np.concatenate([vector(c, p, sha) for c, p in zip(caches, spec.parts, strict=True)])
        / np.sqrt(len(caches))
        for sha in shas
    ]
    statistics = Statistics.of(np.stack(rows).astype(np.float32))
    path = save_prior(spec.model_id, statistics)
    print(f"wrote {path}: {len(rows)} tracks, {statistics.mean.shape[0]} dimensions")


if __name__ == "__main__":
    main()
