"""The rows that choose the default: patch budgets of one model, fusions scored from their parts'
caches with core's own standardisation, and a paired bootstrap over groups against the baseline
(evaluation.specs.BASELINE).

A smaller budget of k patches is the evenly spaced subset of the cached ones (close to, not
exactly, k evenly spaced patches of the whole track). A fusion's "z" row standardises every part
over the catalog (core.standardise, no prior: the catalog is the corpus), its "zA" row only the
parts its spec standardises (aisfx; MSD_vgg stays raw), then concatenates the unit parts: "zA"
is exactly the bot's ranking of such a catalog.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.embedding import fused_sections, section_vectors, track_vector
from core.models.spec import ModelSpec
from core.patch_selection import evenly_spaced
from core.standardise import blended, standardise
from evaluation.cache import Part, SpecCache
from evaluation.metrics import Clips, clip_ranks, leave_one_out, own_ranks
from evaluation.specs import part_field

BLOCK_BUDGETS = (8, 12)  # aisfx blocks scored besides the cached 16
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class PartVectors:
    """One model's pooled vectors at one budget: catalog (n, d), excerpts (n, d), re-encodes;
    `clips` to answer the excerpts as the bot answers clips; `chosen`: per track, the patch
    vectors of each part the track vector was pooled from (for a fusion's sections);
    `queries` (n, d): each track embedded as a user's upload where that differs (the fusion),
    else the catalog vectors query."""

    catalog: npt.NDArray[np.float32]
    excerpts: npt.NDArray[np.float32]
    reencodes: npt.NDArray[np.float32] | None
    clips: Clips | None = None
    chosen: Sequence[Sequence[npt.NDArray[np.float32]]] = ()
    queries: npt.NDArray[np.float32] | None = None


def budget_vectors(
    cache: SpecCache,
    budget: int | None,
    shas: Sequence[str],
    reencodes: Sequence[str],
    index: int = 0,
) -> PartVectors:
    """Mean-pooled unit vectors of the evenly spaced `budget` of each track's cached patches
    (of a fusion's part `index`: evaluation.specs.part_field)."""

    def chosen(part: Part, keys: Sequence[str]) -> list[npt.NDArray[np.float32]]:
        rows = []
        for sha in keys:
            patches = cache.entries[sha][part_field(part, index)]
            rows.append(patches if budget is None else patches[evenly_spaced(len(patches), budget)])
        return rows

    def pooled(part: Part, keys: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([track_vector(patches) for patches in chosen(part, keys)])

    tracks = chosen("full", shas)
    excerpts = pooled("excerpt", shas)
    return PartVectors(
        np.stack([track_vector(patches) for patches in tracks]),
        excerpts,
        pooled("reencode", reencodes) if reencodes else None,
        Clips(excerpts, [section_vectors(patches) for patches in tracks]),
        [(patches,) for patches in tracks],
    )


def fusion_vectors(
    cache: SpecCache, parts: int, shas: Sequence[str], reencodes: Sequence[str]
) -> list[PartVectors]:
    """Each of a fusion's `parts`' pooled vectors from its cache: the catalog side ("full",
    "excerpt") and the query side ("query", "reencode"), as the bot embeds them."""

    def chosen(part: Part, keys: Sequence[str], index: int) -> list[npt.NDArray[np.float32]]:
        return [cache.entries[sha][part_field(part, index)] for sha in keys]

    def pooled(part: Part, keys: Sequence[str], index: int) -> npt.NDArray[np.float32]:
        return np.stack([track_vector(patches) for patches in chosen(part, keys, index)])

    result = []
    for i in range(parts):
        tracks = chosen("full", shas, i)
        excerpts = pooled("excerpt", shas, i)
        result.append(
            PartVectors(
                np.stack([track_vector(patches) for patches in tracks]),
                excerpts,
                pooled("reencode", reencodes, i) if reencodes else None,
                Clips(excerpts, [section_vectors(patches) for patches in tracks]),
                [(patches,) for patches in tracks],
                pooled("query", shas, i),
            )
        )
    return result


def fused(
    parts: Sequence[PartVectors], z: bool, which: tuple[bool, ...] | None = None
) -> PartVectors:
    """The stored form (unit parts side by side, /√parts), standardised per part if `z` (only
    the parts `which` says, all by default)."""
    sizes = tuple(p.catalog.shape[1] for p in parts)

    def join(arrays: list[npt.NDArray[np.float32] | None]) -> npt.NDArray[np.float32] | None:
        if any(a is None for a in arrays):
            return None
        present = [a for a in arrays if a is not None]
        return (np.concatenate(present, axis=1) / np.sqrt(len(present))).astype(np.float32)

    catalog = join([p.catalog for p in parts])
    excerpts = join([p.excerpts for p in parts])
    reencodes = join([p.reencodes for p in parts])
    queries = join([p.queries for p in parts])
    assert catalog is not None and excerpts is not None
    chosen: list[tuple[npt.NDArray[np.float32], ...]] = []
    clips = None
    if all(part.chosen for part in parts):  # each part's patches known: clips as the bot's
        chosen = [
            tuple(patches for part in parts for patches in part.chosen[i])
            for i in range(catalog.shape[0])
        ]
        clips = Clips(excerpts, [fused_sections(tracks) for tracks in chosen])
    if not z:
        return PartVectors(catalog, excerpts, reencodes, clips, chosen, queries)
    statistics = blended(catalog, None)
    return PartVectors(
        standardise(catalog, statistics, sizes, which),
        standardise(excerpts, statistics, sizes, which),
        None if reencodes is None else standardise(reencodes, statistics, sizes, which),
        clips,
        chosen,
        None if queries is None else standardise(queries, statistics, sizes, which),
    )


def variant_vectors(
    specs: Sequence[ModelSpec],
    caches: dict[str, SpecCache],
    shas: Sequence[str],
    reencodes: Sequence[str],
) -> dict[str, PartVectors]:
    """Named variants: each aisfx budget (raw and z) and each fusion at each budget."""
    result: dict[str, PartVectors] = {}
    memo: dict[tuple[str, int | None], PartVectors] = {}

    def part(spec: ModelSpec, budget: int | None) -> PartVectors:
        key = (spec.name, budget)
        if key not in memo:
            memo[key] = budget_vectors(caches[spec.name], budget, shas, reencodes)
        return memo[key]

    for spec in specs:
        if spec.family == "aisfx":
            for budget in BLOCK_BUDGETS:
                vectors = part(spec, budget)
                result[f"{spec.name} mean {budget}p"] = vectors
                result[f"{spec.name} mean {budget}p z"] = fused([vectors], True)
        if spec.family != "fusion":
            continue
        members = fusion_vectors(caches[spec.name], len(spec.parts), shas, reencodes)
        catalog = "+".join(f"{m.name} {m.max_patches}p" for m in spec.parts)
        queries = "+".join(f"{cap}w" for cap in spec.part_caps)
        label = f"fusion {catalog}, queries {queries} (bot)"
        result[f"{label} z"] = fused(members, True)
        # the bot's ranking: only the parts the spec standardises (aisfx), MSD_vgg raw
        result[f"{label} zA"] = fused(members, True, spec.standardised_parts)
        result[f"{label} raw"] = fused(members, False)
    return result


@dataclass(frozen=True)
class Comparison:
    """A variant against the baseline: mean difference and its 95 % bootstrap interval."""

    name: str
    baseline: str
    figure: str
    difference: float
    low: float
    high: float


def per_query(
    catalog: npt.NDArray[np.float32],
    excerpts: npt.NDArray[np.float32],
    groups: npt.NDArray[np.int64],
    clips: Clips | None = None,
    queries: npt.NDArray[np.float32] | None = None,
) -> dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]]:
    """Each figure's per-query values with each query's group: P@10, mAP (of `queries` where
    given), excerpt R@1 (answered as the bot answers clips when `clips` is given)."""
    loo = leave_one_out(catalog, groups, (10,), queries)
    ranks = (
        own_ranks(excerpts, catalog, np.arange(catalog.shape[0]))
        if clips is None
        else clip_ranks(excerpts, catalog, clips)
    )
    return {
        "P@10": (loo.precision[10], groups[loo.queries]),
        "mAP": (loo.average_precision, groups[loo.queries]),
        "excerpt R@1": ((ranks == 1).astype(np.float64), groups),
    }


def paired_bootstrap(
    candidate: npt.NDArray[np.float64],
    baseline: npt.NDArray[np.float64],
    query_groups: npt.NDArray[np.int64],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean difference (candidate − baseline) over queries and its 95 % interval, resampling
    whole groups with replacement (queries of one group are not independent)."""
    labels, inverse = np.unique(query_groups, return_inverse=True)
    sums = np.bincount(inverse, weights=candidate - baseline, minlength=labels.size)
    counts = np.bincount(inverse, minlength=labels.size).astype(np.float64)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, labels.size, (samples, labels.size))
    weights = np.stack([np.bincount(row, minlength=labels.size) for row in drawn]).astype(float)
    means = (weights @ sums) / np.maximum(weights @ counts, 1.0)
    difference = float(sums.sum() / counts.sum())
    low, high = np.percentile(means, [2.5, 97.5])
    return difference, float(low), float(high)


def compare(
    name: str,
    vectors: PartVectors,
    baseline_name: str,
    baseline: PartVectors,
    groups: npt.NDArray[np.int64],
) -> list[Comparison]:
    """Every figure of `vectors` against `baseline`, with its bootstrap interval."""
    ours = per_query(vectors.catalog, vectors.excerpts, groups, vectors.clips, vectors.queries)
    theirs = per_query(
        baseline.catalog, baseline.excerpts, groups, baseline.clips, baseline.queries
    )
    result = []
    for figure, (values, query_groups) in ours.items():
        difference, low, high = paired_bootstrap(values, theirs[figure][0], query_groups)
        result.append(Comparison(name, baseline_name, figure, difference, low, high))
    return result
