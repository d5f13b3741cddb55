"""What the patch cap costs in quality: msd-vgg/pool5 alone with 6 … all patches per track.

    .venv/bin/python -m bot eval DIR --models msd-vgg/pool5 --cache CACHE   # excerpts, once
    .venv/bin/python bench/patch_budget.py DIR CACHE

Embeds every patch of every track once, then pools the evenly spaced subsets a cap would keep
and prints leave-one-out P@10 / mAP and excerpt recall for each cap (the excerpts' vectors come
from the eval cache, so both use the same 15-s excerpts).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from core.embedding import load_for, select_patches, track_vector
from core.hashing import sha256_of
from core.models import parse_model_spec
from evaluation.corpus import grouped_tracks
from evaluation.metrics import leave_one_out, own_ranks, recall_at
from evaluation.specs import cache_file_name

CAPS = (6, 8, 12, 16, 24, 32, 48, 10_000)
BATCH = 48  # patches per model call: bounds activation memory on long tracks


def main() -> None:
    folder, cache_folder = Path(sys.argv[1]), Path(sys.argv[2])
    spec = parse_model_spec("msd-vgg/pool5")
    cache = np.load(cache_folder / cache_file_name(spec))
    model = spec.load()
    per_patch, groups, excerpts = [], [], []
    for path, group in grouped_tracks(folder)[0]:
        key = f"{sha256_of(path)}/excerpt"
        if key not in cache:
            continue
        patches = model.patches(load_for(path, model))
        batches = [patches[i : i + BATCH] for i in range(0, len(patches), BATCH)]
        per_patch.append(np.concatenate([model.predict(b).embeddings for b in batches]))
        groups.append(group)
        excerpts.append(track_vector(cache[key]))
    labels = np.unique(np.array(groups), return_inverse=True)[1]
    queries = np.stack(excerpts)
    print(f"{len(per_patch)} tracks, median {int(np.median([len(p) for p in per_patch]))} patches")
    for cap in CAPS:
        vectors = np.stack([track_vector(select_patches(p, cap)) for p in per_patch])
        loo = leave_one_out(vectors, labels, (10,))
        ranks = own_ranks(queries, vectors, np.arange(len(vectors)))
        name = "all" if cap == CAPS[-1] else str(cap)
        print(
            f"cap {name:>4}: P@10 {loo.precision[10].mean():.3f}  "
            f"mAP {loo.average_precision.mean():.3f}  excerpt R@1 {recall_at(ranks, 1):.3f}  "
            f"R@5 {recall_at(ranks, 5):.3f}"
        )


if __name__ == "__main__":
    main()
