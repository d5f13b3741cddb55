"""From cached patch vectors to figures: the vector families compared, their pooled and
standardised variants, the fusion of the two MSD models, and the text tables."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.constants import MUSICNN_LAYERS
from core.embedding import section_vectors
from core.models.spec import ModelSpec
from evaluation.cache import Part, SpecCache
from evaluation.corpus import Track
from evaluation.excerpts import EXCERPT_BITRATE, EXCERPT_SECONDS, REENCODE_BITRATE, REENCODE_EVERY
from evaluation.metrics import (
    Clips,
    Report,
    Row,
    Standardiser,
    chance_precision,
    evaluate,
    l2_rows,
)
from evaluation.pooling import POOLINGS, Pooling, pool
from evaluation.specs import BASELINE, FUSED, embedded_specs
from evaluation.variants import PartVectors, compare, variant_vectors


@dataclass(frozen=True)
class Family:
    """A kind of vector the figures are computed for: a spec's embeddings, a slice of them, or
    its tag probabilities."""

    name: str
    spec: str
    suffix: str  # "" for the embeddings, ".tags" for the tags
    columns: tuple[int, int | None] = (0, None)  # which dimensions of them


def families(specs: Sequence[ModelSpec], caches: dict[str, SpecCache]) -> list[Family]:
    """The vectors to compare: each spec's embedding, musicnn's pooled halves, the tags."""
    result: list[Family] = []
    tagged: set[str] = set()
    for spec in specs:
        if spec.family == "fusion":
            continue  # its rows are evaluation/variants.py's
        result.append(Family(spec.name, spec.name, ""))
        if spec.layer == "mean_max_pool":
            half = MUSICNN_LAYERS[spec.family]["mean_pool"]  # mean_pool, then max_pool
            result.append(Family(f"{spec.family}/mean_pool", spec.name, "", (0, half)))
            result.append(Family(f"{spec.family}/max_pool", spec.name, "", (half, None)))
        entries = caches[spec.name].entries.values()
        has_tags = any("full.tags" in entry for entry in entries)
        if spec.family.startswith("msd-") and has_tags and spec.family not in tagged:
            tagged.add(spec.family)
            result.append(Family(f"{spec.family}/tags", spec.name, ".tags"))
    return result


def pooled_vectors(
    cache: SpecCache, family: Family, part: Part, pooling: Pooling, shas: Sequence[str]
) -> npt.NDArray[np.float32]:
    """(len(shas), d): one pooled vector per track of `family`'s cached patch vectors."""
    columns = slice(*family.columns)
    return np.stack(
        [pool(cache.entries[sha][part + family.suffix][:, columns], pooling) for sha in shas]
    )


@dataclass(frozen=True)
class Vectors:
    """One variant's vectors: catalog (n, d), excerpts (n, d), re-encodes (r, d) or None, the
    clips that answer the excerpts as the bot does (None: plain ranking), and the tracks as
    queries where they are embedded otherwise than the catalog (None: the catalog's)."""

    catalog: npt.NDArray[np.float32]
    excerpts: npt.NDArray[np.float32]
    reencodes: npt.NDArray[np.float32] | None
    clips: Clips | None = None
    queries: npt.NDArray[np.float32] | None = None

    def standardised(self) -> "Vectors":
        """Every set standardised with the catalog's statistics (then L2-normalised); a clip's
        source is still named in the stored form, as the bot names it."""
        scaler = Standardiser.fit(self.catalog)
        reencodes = None if self.reencodes is None else scaler.apply(self.reencodes)
        return Vectors(
            scaler.apply(self.catalog), scaler.apply(self.excerpts), reencodes, self.clips
        )


def fuse(parts: Sequence[Vectors]) -> Vectors:
    """Concatenated unit vectors, re-normalised: each part weighs the same."""

    def join(arrays: list[npt.NDArray[np.float32] | None]) -> npt.NDArray[np.float32] | None:
        present = [a for a in arrays if a is not None]
        return l2_rows(np.concatenate(present, axis=1)) if len(present) == len(arrays) else None

    catalog = join([p.catalog for p in parts])
    excerpts = join([p.excerpts for p in parts])
    assert catalog is not None and excerpts is not None
    return Vectors(catalog, excerpts, join([p.reencodes for p in parts]))


def build_report(
    tracks: list[Track],
    specs: Sequence[ModelSpec],
    caches: dict[str, SpecCache],
    reencoded: set[int],
) -> Report:
    """Pool, standardise and score every variant over the tracks every model could analyse."""
    requested = list(specs)
    specs = embedded_specs(requested)
    names_of_specs = [spec.name for spec in specs]
    left_out: list[tuple[str, str]] = []
    kept: list[int] = []
    for i, track in enumerate(tracks):
        errors = (caches[s].error(track.sha256) for s in names_of_specs)
        reason = next((e for e in errors if e), None)
        complete = all(
            caches[s].has(track.sha256, p) for s in names_of_specs for p in ("full", "excerpt")
        )
        if reason or not complete:
            left_out.append((str(track.path), reason or "not analysed"))
        else:
            kept.append(i)
    names = sorted({tracks[i].group for i in kept})
    groups = np.array([names.index(tracks[i].group) for i in kept], dtype=np.int64)
    chance = chance_precision(groups) if len(kept) > 1 else math.nan
    rows: list[Row] = []
    if len(kept) < 2:
        return Report(rows, len(kept), len(names), chance, left_out)
    shas = [tracks[i].sha256 for i in kept]
    with_reencode = [k for k, i in enumerate(kept) if i in reencoded]
    reencodes = [shas[k] for k in with_reencode]

    def seconds(spec: str) -> npt.NDArray[np.float64]:
        """(n, 2): decode and front end + network seconds of each track."""
        return np.array([caches[spec].entries[sha]["seconds"] for sha in shas])

    def score(name: str, vectors: Vectors, timing: float) -> Row:
        return evaluate(
            name, vectors.catalog, groups, vectors.excerpts, timing, vectors.reencodes,
            with_reencode, vectors.clips, vectors.queries,
        )  # fmt: skip

    variants: dict[tuple[str, Pooling, bool], Vectors] = {}  # (family, pooling, standardised)
    for family in families(specs, caches):
        cache = caches[family.spec]
        timing = float(seconds(family.spec).sum(axis=1).mean())
        # the bot's own vectors (a model's whole embedding, mean-pooled) answer clips as it does
        whole = family.suffix == "" and family.columns == (0, None)
        for pooling in POOLINGS:
            excerpts = pooled_vectors(cache, family, "excerpt", pooling, shas)
            clips = None
            if whole and pooling == "mean":
                sections = [section_vectors(cache.entries[sha]["full"]) for sha in shas]
                clips = Clips(excerpts, sections)
            raw = Vectors(
                pooled_vectors(cache, family, "full", pooling, shas),
                excerpts,
                pooled_vectors(cache, family, "reencode", pooling, reencodes)
                if reencodes
                else None,
                clips,
            )
            standardised = raw.standardised()
            variants[(family.name, pooling, False)] = raw
            variants[(family.name, pooling, True)] = standardised
            rows += [
                score(f"{family.name} {pooling}", raw, timing),
                score(f"{family.name} {pooling} z", standardised, timing),
            ]
    if all(spec in names_of_specs for spec in FUSED):
        first, *others = (seconds(spec) for spec in FUSED)  # one decode, every network
        timing = float((first.sum(axis=1) + sum(other[:, 1] for other in others)).mean())
        for pooling in POOLINGS:
            for z in (False, True):
                fused = fuse([variants[(spec, pooling, z)] for spec in FUSED])
                name = f"fusion pool5+penultimate {pooling}" + (" z" if z else "")
                rows.append(score(name, fused, timing))
    extra = variant_vectors(requested, caches, shas, reencodes)
    for name, part_vectors in extra.items():
        fusion_timing = math.nan
        if name.startswith("fusion ") and name.endswith(" raw"):
            fusion = next(s for s in requested if s.parts and all(p.name in name for p in s.parts))
            fusion_timing = float(seconds(fusion.name).sum(axis=1).mean())  # at eval caps
        rows.append(
            score(
                name,
                Vectors(
                    part_vectors.catalog,
                    part_vectors.excerpts,
                    part_vectors.reencodes,
                    part_vectors.clips,
                    part_vectors.queries,
                ),
                fusion_timing,
            )
        )
    comparisons = []
    if BASELINE in names_of_specs:
        base = variants[(BASELINE, "mean", False)]
        baseline = PartVectors(base.catalog, base.excerpts, base.reencodes, base.clips)
        contenders = {
            f"{family} {pooling}" + (" z" if z else ""): PartVectors(
                v.catalog, v.excerpts, None, v.clips
            )
            for (family, pooling, z), v in variants.items()
            if pooling == "mean" and family.split("/")[0] in ("aisfx", "msd-vgg")
            and (family, z) != (BASELINE, False)
        }  # fmt: skip
        contenders.update(extra)
        for name, part_vectors in contenders.items():
            comparisons += [
                (c.name, c.baseline, c.figure, c.difference, c.low, c.high)
                for c in compare(name, part_vectors, f"{BASELINE} mean", baseline, groups)
            ]
    return Report(rows, len(kept), len(names), chance, left_out, comparisons)


# --- text -------------------------------------------------------------------------------------

TABLE_COLUMNS = ("model", "dim", "P@5", "P@10", "mAP", "excerpt R@1", "R@5", "median rank",
                 "s/track")  # fmt: skip
DUPLICATE_COLUMNS = ("model", "re-encode min", "median", "max other pair", "excerpt wrong p99",
                     "max", "excerpt own median")  # fmt: skip


def cell(value: float, digits: int = 3) -> str:
    """A figure as printed: `digits` decimals, or "–" where it was not measured."""
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(line[c]) for line in lines)) for c, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (text.rjust(width) for text, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return [fmt(header), *(fmt(line) for line in lines)]


def format_report(report: Report, folder: Path, duplicates: bool) -> str:
    """The figures as text tables, with the chance level and the sizes they were measured on."""
    out = [
        f"{folder}: {report.tracks} tracks in {report.groups} groups"
        + (f", {len(report.left_out)} left out" if report.left_out else "")
        + f"; chance P@10 {cell(report.chance_p_at_10)}",
        "",
    ]
    lines = [
        [
            row.name,
            str(row.dim),
            cell(row.p_at_5),
            cell(row.p_at_10),
            cell(row.mean_ap),
            cell(row.excerpt_r1),
            cell(row.excerpt_r5),
            cell(row.excerpt_median_rank, 1),
            cell(row.seconds_per_track, 2),
        ]
        for row in report.rows
    ]
    out += _table(TABLE_COLUMNS, lines)
    out += [
        "",
        "mean: the mean of the patch vectors, as the bot stores it; mean+std: with each "
        "dimension's spread;",
        "z: each dimension standardised over the catalog before cosine; fusion: the unit vectors "
        "of both models side by side.",
        f"Excerpts: {EXCERPT_SECONDS:g} s from the middle (nearest audible stretch), "
        f"{EXCERPT_BITRATE}bps mono mp3, queried against the full tracks.",
    ]
    if duplicates:
        lines = [
            [
                row.name,
                cell(row.reencode_own_min, 4),
                cell(row.reencode_own_median, 4),
                cell(row.pair_max, 4),
                cell(row.excerpt_wrong_p99, 4),
                cell(row.excerpt_wrong_max, 4),
                cell(row.excerpt_own_median, 4),
            ]
            for row in report.rows
        ]
        out += ["", f"near-duplicate figures (cosine; every {REENCODE_EVERY}th track "
                f"re-encoded at {REENCODE_BITRATE}bps):", ""]  # fmt: skip
        out += _table(DUPLICATE_COLUMNS, lines)
    if report.comparisons:
        out += ["", "paired bootstrap over groups (2000 resamples of whole groups): difference "
                "from the baseline, 95 % interval, * where it excludes 0:", ""]  # fmt: skip
        lines = []
        for name, baseline, figure, difference, low, high in report.comparisons:
            star = "*" if low > 0 or high < 0 else ""
            lines.append([name, baseline, figure, f"{difference:+.3f}",
                          f"[{low:+.3f}, {high:+.3f}]{star}"])  # fmt: skip
        out += _table(("variant", "baseline", "figure", "diff", "95 % CI"), lines)
    for path, reason in report.left_out:
        out.append(f"  left out: {path}: {reason}")
    return "\n".join(out)
