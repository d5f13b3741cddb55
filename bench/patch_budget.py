"""What the patch cap costs in quality: the default model with 6 … all patches per track.

    .venv/bin/python -m bot eval DIR --models msd-vgg/pool5 --cache CACHE   # excerpts, once
    .venv/bin/python bench/patch_budget.py DIR CACHE

Embeds every patch of every track once, then pools the evenly spaced subsets a cap would keep
and prints leave-one-out P@10 / mAP and excerpt recall for each cap (the excerpts' vectors come
from the eval cache, so both use the same 15-s excerpts).
"""

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bot.evaluate import discover
from core.audio import load_track
from core.evaluation import l2_rows, leave_one_out, own_ranks, recall_at
from core.models import parse_model_spec
from core.patching import evenly_spaced

CAPS = (6, 8, 12, 16, 24, 32, 48, 10_000)
BATCH = 48  # patches per model call: bounds activation memory on long tracks


def main() -> None:
    folder, cache_folder = Path(sys.argv[1]), Path(sys.argv[2])
    cache = np.load(cache_folder / "msd-vgg_pool5.npz")
    model = parse_model_spec("msd-vgg/pool5").load()
    per_patch, groups, excerpts = [], [], []
    for path, group in discover(folder)[0]:
        key = f"{hashlib.sha256(path.read_bytes()).hexdigest()}/excerpt"
        if key not in cache:
            continue
        patches = model.patches(load_track(path, model.sample_rate))
        batches = [patches[i : i + BATCH] for i in range(0, len(patches), BATCH)]
        per_patch.append(np.concatenate([model.predict(b).embeddings for b in batches]))
        groups.append(group)
        excerpts.append(cache[key].mean(axis=0))
    labels = np.unique(np.array(groups), return_inverse=True)[1]
    queries = l2_rows(np.stack(excerpts))
    print(f"{len(per_patch)} tracks, median {int(np.median([len(p) for p in per_patch]))} patches")
    for cap in CAPS:
        pooled = np.stack([p[evenly_spaced(len(p), cap)].mean(axis=0) for p in per_patch])
        vectors = l2_rows(pooled.astype(np.float32))
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
