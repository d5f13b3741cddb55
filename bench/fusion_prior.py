"""Write a fusion's prior standardisation statistics (core/models/priors/<id>.npz) from the
evaluation's cached patch vectors of its parts.

    .venv/bin/python -m bot eval DIR --models fusion:aisfx+msd-vgg --cache CACHE
    .venv/bin/python bench/fusion_prior.py CACHE [--model fusion:aisfx+msd-vgg]

Each track's stored vector is rebuilt as the bot stores it (each part's mean vector of its
own windows, the evenly spaced subset of the cached ones at the bot's caps, at unit length, side
by side, divided by √parts), and the per-dimension mean and standard deviation over the tracks
are saved: what a catalog of one to a few tracks is standardised with.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from core.embedding import track_vector
from core.models import parse_model_spec
from core.patching import evenly_spaced
from core.standardise import Statistics, save_prior
from evaluation.cache import SpecCache
from evaluation.specs import cache_file_name, part_field


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--model", default="fusion:aisfx+msd-vgg")
    arguments = parser.parse_args()
    spec = parse_model_spec(arguments.model)
    cache = SpecCache(arguments.cache / cache_file_name(spec), spec)
    fields = [part_field("full", i) for i in range(len(spec.parts))]
    shas = sorted(s for s, e in cache.entries.items() if all(f in e for f in fields))

    def vector(sha: str) -> np.ndarray:
        parts = []
        for field, cap in zip(fields, spec.part_caps, strict=True):
            patches = cache.entries[sha][field]  # the bot's caps: a subset of the cached ones
            parts.append(track_vector(patches[evenly_spaced(len(patches), cap)]))
        return np.concatenate(parts) / np.sqrt(len(parts))

    statistics = Statistics.of(np.stack([vector(sha) for sha in shas]).astype(np.float32))
    path = save_prior(spec.model_id, statistics)
    print(f"wrote {path}: {len(shas)} tracks, {statistics.mean.shape[0]} dimensions")


if __name__ == "__main__":
    main()
