"""A whole run: find the tracks, embed what the caches lack (one sample rate at a time), score."""

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from core.hashing import sha256_of
from core.models.spec import ModelSpec
from evaluation.cache import Part, SpecCache
from evaluation.corpus import Track, grouped_tracks
from evaluation.errors import EvalUsageError
from evaluation.excerpts import REENCODE_EVERY
from evaluation.metrics import Report
from evaluation.passes import Pass, run_pass
from evaluation.report import build_report
from evaluation.runners import build_runners
from evaluation.specs import cache_file_name, embedded_specs


async def evaluate_folder(
    folder: Path, specs: Sequence[ModelSpec], cache_dir: Path, duplicates: bool
) -> Report:
    """Embed what the caches lack, then compute every figure (see the package docstring).

    Raises EvalUsageError for a folder without two groups of audio files.
    """
    found, loose = grouped_tracks(folder)
    if len({group for _, group in found}) < 2:
        raise EvalUsageError(
            f"{folder} needs at least two sub-folders of audio files (one per album or "
            "soundtrack) to tell same-group neighbours from the rest"
        )
    if loose:
        print(
            f"ignoring {loose} audio file(s) directly in {folder}: not in a group", file=sys.stderr
        )
    tracks: list[Track] = []
    unreadable: list[tuple[str, str]] = []
    for path, group in found:
        try:
            tracks.append(Track(path, group, await asyncio.to_thread(sha256_of, path)))
        except OSError as error:
            unreadable.append((str(path), f"cannot read: {error.strerror}"))
    embedded = embedded_specs(specs)
    caches = {spec.name: SpecCache(cache_dir / cache_file_name(spec), spec) for spec in embedded}
    reencoded = set(range(0, len(tracks), REENCODE_EVERY)) if duplicates else set()
    files: dict[tuple[int, Part], Path] = {}
    with tempfile.TemporaryDirectory(prefix="soundalike-eval-") as workdir:
        for rate in sorted({spec.sample_rate for spec in embedded}):
            rate_specs = [spec for spec in embedded if spec.sample_rate == rate]
            probe = Pass(rate, [], tracks, caches, reencoded, Path(workdir), files)
            names = [spec.name for spec in rate_specs]
            if not any(probe.missing(i, name) for i in range(len(tracks)) for name in names):
                continue  # everything cached: the models are not even loaded
            runners = await asyncio.to_thread(build_runners, rate_specs)
            work = Pass(rate, runners, tracks, caches, reencoded, Path(workdir), files)
            await run_pass(work, f"{rate / 1000:g} kHz: {', '.join(names)}")
            del runners, work
    report = build_report(tracks, specs, caches, reencoded)
    report.left_out.extend(unreadable)
    return report
