"""Write a fusion's prior standardisation statistics (core/models/priors/<id>.npz) from the
evaluation's cached patch vectors of its parts.

    .venv/bin/python -m bot eval DIR --models fusion:aisfx+msd-vgg --cache CACHE
    .venv/bin/python bench/fusion_prior.py CACHE [--model fusion:aisfx+msd-vgg]

Each track's stored vector is rebuilt as the bot stores it (each part's unit mean vector of
its catalog-side patches, side by side, divided by √parts), and the per-dimension mean and
standard deviation over the tracks are saved: what a catalog of one to a few tracks is
standardised with.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from core.models import parse_model_spec
from core.standardise import Statistics, save_prior
from evaluation.cache import SpecCache
from evaluation.specs import cache_file_name
from evaluation.variants import fusion_vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--model", default="fusion:aisfx+msd-vgg")
    arguments = parser.parse_args()
    spec = parse_model_spec(arguments.model)
    cache = SpecCache(arguments.cache / cache_file_name(spec), spec)
    shas = sorted(
        s for s, e in cache.entries.items() if "full" in e and "query" in e and "error" not in e
    )
    members = fusion_vectors(cache, len(spec.parts), shas, [])
    vectors = np.concatenate([m.catalog for m in members], axis=1) / np.sqrt(len(members))
    statistics = Statistics.of(vectors.astype(np.float32))
    path = save_prior(spec.model_id, statistics)
    print(f"wrote {path}: {len(shas)} tracks, {statistics.mean.shape[0]} dimensions")


if __name__ == "__main__":
    main()
