"""`python -m bot eval DIR`: which model and vector finds music that sounds alike, in figures.

DIR holds one sub-folder per group (an album, a soundtrack). Every track queries all the others
(same group = a right answer: precision@5/@10, mean average precision), and a 15-s excerpt from
its middle (the nearest audible stretch), re-encoded as a 64 kbps mono mp3, queries the
full-track catalog (recall@1/@5 and median rank of its own track). Each model embeds exactly
as the bot does: core.audio.load_track, model.patches, MAX_PATCHES_PER_TRACK evenly spaced
patches, model.predict. From the patch vectors kept per track we derive pooled variants (mean,
mean+std), each raw and standardised over the catalog, the tag probabilities and a fusion of the
two MSD models.

Models run here, in this process, one sample rate at a time: a track is decoded once per rate
and that audio serves every model of the rate, while a second thread decodes the next track and
cuts its patches (ffmpeg and numpy) as TensorFlow runs the current one — two cores busy. Worker
processes (core.service) would decode once per model and return only the pooled vector. Patch
vectors are cached per model under `--cache` (sha256 of the file + model spec), so a rerun, or a
run adding one model, costs only what is new.
"""

import argparse
import asyncio
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from bot.config import Settings
from core.audio import (
    DIFFERENCE_TO_MONO,
    SUM_TO_MONO,
    decode,
    ffmpeg_binary,
    load_track,
    looks_like_audio,
    rms,
)
from core.constants import (
    DECODE_TIMEOUT_SECONDS,
    MAX_ANALYSIS_SECONDS,
    MAX_PATCHES_PER_TRACK,
    MUSICNN_MEL_BANDS,
    MUSICNN_PATCH_FRAMES,
    MUSICNN_SAMPLE_RATE,
    SEED_SAMPLE_RATE,
    SILENCE_RMS,
)
from core.errors import AudioError, ModelFileError, SilentError, TooShortError
from core.evaluation import (
    POOLINGS,
    Pooling,
    Report,
    Row,
    Standardiser,
    chance_precision,
    evaluate,
    l2_rows,
    pool,
)
from core.hashing import sha256_of
from core.models.base import AudioModel, PatchOutputs
from core.patching import evenly_spaced

EXIT_FAILURES = 1  # as bot.cli: some tracks were left out
EXIT_USAGE = 2

# The full comparison. mean_max_pool also yields mean_pool and max_pool (its two halves).
DEFAULT_SPECS = (
    "msd-vgg/pool5",
    "msd-musicnn/penultimate",
    "msd-musicnn/mean_max_pool",
    "seed-random",
    "mfcc",
)
# Fused when both are evaluated: their unit vectors (raw, or each standardised) side by side.
FUSED = ("msd-vgg/pool5", "msd-musicnn/penultimate")

EXCERPT_SECONDS = 15.0
EXCERPT_BITRATE = "64k"  # mono mp3: what a phone recording or a messenger voice clip resembles
EXCERPT_STEP_SECONDS = 5.0  # how far the excerpt moves from the middle if that is silent
REENCODE_BITRATE = "128k"  # --duplicates: another encoding of the same recording
REENCODE_EVERY = 4  # --duplicates re-encodes every 4th track (≈ 25 %)

CACHE_VERSION = 1
SAVE_EVERY_SECONDS = 60.0  # an interrupted run keeps all but the last minute of work
PREFETCH_TRACKS = 2  # tracks decoded ahead of the network

Part = Literal["full", "excerpt", "reencode"]


class EvalUsageError(Exception):
    """Bad arguments or a folder the evaluation cannot start with (exit status 2)."""


@dataclass(frozen=True)
class Track:
    path: Path
    group: str
    sha256: str


# --- specs --------------------------------------------------------------------------------------


def canonical_spec(spec: str) -> str:
    """The one spelling of a model spec ("msd-vgg" → "msd-vgg/pool5"), checked without loading.

    Raises EvalUsageError for an unknown spec.
    """
    from core.models.musicnn import VARIANTS

    spec = spec.strip()
    if spec == "mfcc":
        return spec
    if spec == "seed-random" or spec.startswith("seed-random:"):
        seed = spec.partition(":")[2]
        if seed and not seed.isdigit():
            raise EvalUsageError(f"seed-random takes a whole number seed, not {seed!r}")
        return f"seed-random:{int(seed)}" if seed and int(seed) else "seed-random"
    if spec.startswith("seed:"):
        if not Path(spec.removeprefix("seed:")).is_file():
            raise EvalUsageError(f"{spec}: no such model file")
        return spec
    architecture, _, layer = spec.partition("/")
    if architecture in VARIANTS:
        layers = VARIANTS[architecture].layers
        layer = layer or next(iter(layers))
        if layer not in layers:
            raise EvalUsageError(
                f"{architecture} has no layer {layer!r}; known: {', '.join(layers)}"
            )
        return f"{architecture}/{layer}"
    known = ", ".join([*VARIANTS, "seed:PATH", "seed-random[:SEED]", "mfcc"])
    raise EvalUsageError(f"unknown model {spec!r}; known: {known}")


def parse_specs(text: str) -> list[str]:
    """A comma-separated list of specs, canonical, duplicates dropped, order kept."""
    specs = [canonical_spec(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise EvalUsageError("--models names no model")
    return list(dict.fromkeys(specs))


def sample_rate_of(spec: str) -> int:
    """The rate a spec's model decodes at, known before loading it."""
    from core.models.mfcc import MFCC_SAMPLE_RATE

    if spec == "mfcc":
        return MFCC_SAMPLE_RATE
    return SEED_SAMPLE_RATE if spec.startswith("seed") else MUSICNN_SAMPLE_RATE


def cache_name(spec: str) -> str:
    """The cache file of a spec; a seed:PATH file is named by its content, like its model id."""
    if spec.startswith("seed:"):
        return "seed-" + sha256_of(Path(spec.removeprefix("seed:")))[:12] + ".npz"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec) + ".npz"


# --- the folder -----------------------------------------------------------------------------


def discover(folder: Path) -> tuple[list[tuple[Path, str]], int]:
    """(file, group) of the audio files under DIR's sub-folders, sorted; and how many audio
    files lie directly in DIR (they belong to no group and are ignored)."""
    if not folder.is_dir():
        raise EvalUsageError(f"{folder}: no such folder")
    found = []
    loose = 0
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            for path in sorted(child.rglob("*")):
                hidden = any(part.startswith(".") for part in path.relative_to(child).parts)
                if path.is_file() and not hidden and looks_like_audio(path):
                    found.append((path, child.name))
        elif child.is_file() and looks_like_audio(child):
            loose += 1
    return found, loose


# --- the cache ------------------------------------------------------------------------------


class SpecCache:
    """One model spec's per-track results in one .npz, keyed `<sha256>/<field>`.

    Fields: "full", "excerpt", "reencode": (patches, dim) float32 patch vectors; "<part>.tags":
    (patches, tags); "seconds": [decode, front end + network] of the full track; "duration":
    analysed seconds; "error": why the track could not be used.
    """

    def __init__(self, path: Path, spec: str) -> None:
        self.path = path
        self.meta = {
            "version": CACHE_VERSION,
            "spec": spec,
            "max_patches": MAX_PATCHES_PER_TRACK,
            "excerpt": [EXCERPT_SECONDS, EXCERPT_BITRATE],
            "reencode": REENCODE_BITRATE,
        }
        self.entries: dict[str, dict[str, npt.NDArray[Any]]] = {}
        self.dirty = False
        if path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
                if {k: meta.get(k) for k in self.meta} != self.meta:
                    return  # another version or setting: start again
                self.meta["model_id"] = meta.get("model_id")
                for key in data.files:
                    sha, _, name = key.partition("/")
                    if name:
                        self.entries.setdefault(sha, {})[name] = data[key]
        except (OSError, ValueError, KeyError) as error:  # a damaged file: recompute
            print(f"ignoring unreadable cache {self.path}: {error}", file=sys.stderr)
            self.entries = {}

    def check_model_id(self, model_id: str) -> None:
        """Forget everything computed by a model of another id (e.g. new weights)."""
        if self.meta.get("model_id") not in (None, model_id):
            self.entries = {}
        self.meta["model_id"] = model_id
        self.dirty = True

    def has(self, sha: str, part: Part) -> bool:
        entry = self.entries.get(sha, {})
        return "error" in entry or part in entry

    def error(self, sha: str) -> str | None:
        entry = self.entries.get(sha, {})
        return str(entry["error"]) if "error" in entry else None

    def put(self, sha: str, name: str, value: npt.NDArray[Any] | str | float) -> None:
        self.entries.setdefault(sha, {})[name] = np.asarray(value)
        self.dirty = True

    def save(self) -> None:
        """Write atomically (a temp file renamed over the old one), if anything changed."""
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"__meta__": np.asarray(json.dumps(self.meta))}
        for sha, entry in self.entries.items():
            arrays.update({f"{sha}/{name}": value for name, value in entry.items()})
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as file:
            np.savez(file, **arrays)
        temporary.replace(self.path)
        self.dirty = False


# --- models -----------------------------------------------------------------------------------


class Runner:
    """One loaded model serving one or more specs from a single forward pass."""

    def __init__(self, spec: str) -> None:
        from core.models import parse_model_spec

        self.specs: tuple[str, ...] = (spec,)
        self.model: AudioModel = parse_model_spec(spec).load()

    def model_id(self, spec: str) -> str:
        return self.model.model_id

    def outputs(self, patches: npt.NDArray[np.float32]) -> dict[str, PatchOutputs]:
        return {self.specs[0]: self.model.predict(patches)}

    def warm_up(self) -> None:
        from core.embedding import warm_up

        warm_up(self.model)


class MusicnnLayers(Runner):
    """Several layers of one musicnn checkpoint from one network call instead of one each.

    The network's named outputs are read directly; at warm-up the loaded model's own
    `predict` (for the first layer, mean_max_pool when asked for, which covers the
    concatenation) must agree with them, so the figures are still those of the bot's path.
    """

    def __init__(self, architecture: str, layers: Sequence[str]) -> None:
        import keras

        from core.models.musicnn import MusicnnModel
        from core.models.runtime import tensorflow

        ordered = sorted(layers, key=lambda layer: layer != "mean_max_pool")
        self.specs = tuple(f"{architecture}/{layer}" for layer in ordered)
        self.model = MusicnnModel(architecture, ordered[0])
        network = self.model.network

        def forward(patches: Any) -> tuple[Any, ...]:
            out = network(patches, training=False)
            values = [
                keras.ops.concatenate([out["mean_pool"], out["max_pool"]], axis=1)
                if layer == "mean_max_pool"
                else out[layer]
                for layer in ordered
            ]
            return (*values, keras.ops.sigmoid(out["logits"]))

        tf = tensorflow()
        signature = [tf.TensorSpec([None, MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS], tf.float32)]
        self._forward = tf.function(forward, input_signature=signature)

    def model_id(self, spec: str) -> str:
        return spec

    def outputs(self, patches: npt.NDArray[np.float32]) -> dict[str, PatchOutputs]:
        *values, tags = self._forward(np.ascontiguousarray(patches, dtype=np.float32))
        tags = np.asarray(tags, dtype=np.float32)
        return {
            spec: PatchOutputs(np.asarray(value, dtype=np.float32), tags)
            for spec, value in zip(self.specs, values, strict=True)
        }

    def warm_up(self) -> None:
        super().warm_up()
        noise = np.random.default_rng(1).standard_normal(4 * MUSICNN_PATCH_FRAMES * 256)
        patches = self.model.patches(0.1 * noise.astype(np.float32))
        expected = self.model.predict(patches)
        got = self.outputs(patches)[self.specs[0]]
        for ours, theirs in ((got.embeddings, expected.embeddings), (got.tags, expected.tags)):
            if not np.allclose(ours, theirs, rtol=1e-4, atol=1e-4):
                raise RuntimeError(f"{self.specs[0]}: one-pass outputs differ from predict()")


def build_runners(specs: Sequence[str]) -> list[Runner]:
    """One runner per spec, except that layers of one musicnn checkpoint share a runner."""
    from core.models.musicnn import VARIANTS

    layers: dict[str, list[str]] = {}
    for spec in specs:
        architecture, _, layer = spec.partition("/")
        if architecture in VARIANTS:
            layers.setdefault(architecture, []).append(layer)
    runners: list[Runner] = []
    for spec in specs:
        architecture, _, layer = spec.partition("/")
        if architecture not in layers or len(layers[architecture]) == 1:
            runners.append(Runner(spec))
        elif layer == layers[architecture][0]:
            runners.append(MusicnnLayers(architecture, layers[architecture]))
    return runners


# --- one sample rate's pass over the tracks ---------------------------------------------------


@dataclass
class Prepared:
    """A track decoded and cut, ready for the networks (made in the prefetch thread).

    patches[part][runner index]: (≤ MAX_PATCHES_PER_TRACK, ...) model inputs.
    """

    index: int
    patches: dict[Part, dict[int, npt.NDArray[np.float32]]] = field(default_factory=dict)
    decode_seconds: float = 0.0
    patch_seconds: dict[int, float] = field(default_factory=dict)
    duration: float | None = None
    error: str | None = None


def _ffmpeg_mp3(
    source: Path, target: Path, bitrate: str, before: list[str], after: list[str]
) -> None:
    command = [
        ffmpeg_binary(), "-nostdin", "-v", "error", "-y", *before, "-i", f"file:{source.resolve()}",
        "-map", "0:a:0", *after, "-c:a", "libmp3lame", "-b:a", bitrate, str(target),
    ]  # fmt: skip
    try:
        subprocess.run(command, capture_output=True, timeout=DECODE_TIMEOUT_SECONDS, check=True)
    except subprocess.TimeoutExpired as error:
        raise AudioError("re-encoding with ffmpeg timed out") from error
    except subprocess.CalledProcessError as error:
        raise AudioError("ffmpeg could not re-encode it") from error


def excerpt_start(duration: float) -> float:
    """Where the excerpt begins: centred in the analysed audio, on a 0.1-s grid so that every
    sample rate's decode (lengths differ by a sample) cuts the same excerpt."""
    return max(0.0, round(duration / 2 - EXCERPT_SECONDS / 2, 1))


def excerpt_starts(duration: float) -> list[float]:
    """The middle first, then EXCERPT_STEP_SECONDS steps outwards, both ways, within the track."""
    middle = excerpt_start(duration)
    last = max(0.0, duration - EXCERPT_SECONDS)
    starts = [middle]
    for step in range(1, int(duration // EXCERPT_STEP_SECONDS) + 1):
        for sign in (-1, 1):
            start = round(middle + sign * step * EXCERPT_STEP_SECONDS, 1)
            if 0.0 <= start <= last:
                starts.append(start)
    return starts


def make_excerpt(source: Path, target: Path, duration: float) -> Path:
    """The EXCERPT_SECONDS nearest the middle of `source` that are not silent, as a mono mp3.

    Some tracks are silent in the middle, and some have phase-inverted stereo channels that a
    mono downmix cancels (core.audio.decode falls back to their difference, and so do we), so
    each candidate is decoded and checked. Raises SilentError when no stretch is audible.
    """
    for start in excerpt_starts(duration):
        cut = ["-ss", f"{start:.1f}", "-t", f"{EXCERPT_SECONDS:g}"]
        for mix in (SUM_TO_MONO, DIFFERENCE_TO_MONO):
            _ffmpeg_mp3(source, target, EXCERPT_BITRATE, cut, list(mix))
            if rms(decode(target, MUSICNN_SAMPLE_RATE)) >= SILENCE_RMS:
                return target
    raise SilentError(f"no {EXCERPT_SECONDS:g}-s stretch of the track is audible")


class Pass:
    """Runs the runners of one sample rate over the tracks that lack results in their caches."""

    def __init__(
        self,
        sample_rate: int,
        runners: list[Runner],
        tracks: list[Track],
        caches: dict[str, SpecCache],
        reencoded: set[int],
        workdir: Path,
        files: dict[tuple[int, Part], Path],
    ) -> None:
        self.sample_rate = sample_rate
        self.runners = runners
        self.tracks = tracks
        self.caches = caches
        self.reencoded = reencoded
        self.workdir = workdir
        self.files = files  # excerpts and re-encodes made so far, shared by the passes

    def parts(self, index: int) -> list[Part]:
        return ["full", "excerpt", *(["reencode"] if index in self.reencoded else [])]

    def missing(self, index: int, spec: str) -> list[Part]:
        sha = self.tracks[index].sha256
        return [part for part in self.parts(index) if not self.caches[spec].has(sha, part)]

    def runner_parts(self, index: int, runner_index: int) -> set[Part]:
        return {p for spec in self.runners[runner_index].specs for p in self.missing(index, spec)}

    def duration_known(self, index: int) -> float | None:
        sha = self.tracks[index].sha256
        for cache in self.caches.values():
            if "duration" in cache.entries.get(sha, {}):
                return float(cache.entries[sha]["duration"])
        return None

    def source(self, index: int, part: Part, duration: float) -> Path:
        """The file to decode for `part`, made with ffmpeg on first use."""
        track = self.tracks[index]
        if part == "full":
            return track.path
        if (index, part) not in self.files:
            target = self.workdir / f"{index}.{part}.mp3"
            if part == "excerpt":
                make_excerpt(track.path, target, duration)
            else:
                limit = ["-t", f"{MAX_ANALYSIS_SECONDS:g}"]
                _ffmpeg_mp3(track.path, target, REENCODE_BITRATE, [], limit)
            self.files[(index, part)] = target
        return self.files[(index, part)]

    def prepare(self, index: int) -> Prepared:
        """Decode each needed part once and cut it for every runner (prefetch thread)."""
        prepared = Prepared(index)
        wanted = {r: self.runner_parts(index, r) for r in range(len(self.runners))}
        needed = {part for parts in wanted.values() for part in parts}
        duration = self.duration_known(index)
        try:
            for part in ("full", "excerpt", "reencode"):
                if part not in needed and not (part == "full" and duration is None):
                    continue
                started = time.perf_counter()
                audio = load_track(self.source(index, part, duration or 0.0), self.sample_rate)
                if part == "full":
                    prepared.decode_seconds = time.perf_counter() - started
                    duration = prepared.duration = audio.shape[0] / self.sample_rate
                for r, runner in enumerate(self.runners):
                    if part not in wanted[r]:
                        continue
                    started = time.perf_counter()
                    patches = runner.model.patches(audio)
                    if patches.shape[0] == 0:
                        raise TooShortError(f"{part}: too short for one analysis window")
                    chosen = patches[evenly_spaced(patches.shape[0], MAX_PATCHES_PER_TRACK)]
                    prepared.patches.setdefault(part, {})[r] = np.ascontiguousarray(chosen)
                    if part == "full":
                        prepared.patch_seconds[r] = time.perf_counter() - started
        except AudioError as error:
            prepared.error = error.reason if part == "full" else f"{part}: {error.reason}"
        return prepared

    def finish(self, prepared: Prepared) -> None:
        """Run the networks on a prepared track and store the results (main thread)."""
        index = prepared.index
        sha = self.tracks[index].sha256
        for r, runner in enumerate(self.runners):
            specs = [spec for spec in runner.specs if self.missing(index, spec)]
            if not specs:
                continue
            if prepared.error is not None:
                for spec in specs:
                    self.caches[spec].put(sha, "error", prepared.error)
                continue
            for part, by_runner in prepared.patches.items():
                if r not in by_runner:
                    continue
                started = time.perf_counter()
                outputs = runner.outputs(by_runner[r])
                seconds = time.perf_counter() - started
                for spec in specs:
                    if part not in self.missing(index, spec):
                        continue
                    cache = self.caches[spec]
                    cache.put(sha, part, outputs[spec].embeddings)
                    if outputs[spec].tags.shape[1]:
                        cache.put(sha, f"{part}.tags", outputs[spec].tags)
                    if part == "full":
                        network = prepared.patch_seconds[r] + seconds
                        cache.put(sha, "seconds", np.array([prepared.decode_seconds, network]))
                        cache.put(sha, "duration", float(prepared.duration or 0.0))

    def pending(self) -> list[int]:
        return [
            i
            for i in range(len(self.tracks))
            if any(self.missing(i, spec) for runner in self.runners for spec in runner.specs)
        ]


def _save_all(caches: dict[str, SpecCache]) -> None:
    for cache in caches.values():
        cache.save()


async def run_pass(work: Pass, label: str) -> None:
    """Prepare tracks in a thread, PREFETCH_TRACKS ahead, and finish them here in order.

    Between tracks the event loop gets control, so Ctrl-C or SIGTERM stops the run there; the
    caches are saved every SAVE_EVERY_SECONDS and on the way out, whatever the reason.
    """
    pending = work.pending()
    if not pending:
        return
    for runner in work.runners:
        for spec in runner.specs:
            work.caches[spec].check_model_id(runner.model_id(spec))
        runner.warm_up()
    saved = time.monotonic()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-decode")
    queue: deque[Future[Prepared]] = deque()
    indices: Iterator[int] = iter(pending)
    try:
        with tqdm(total=len(pending), unit="track", desc=label, disable=None) as bar:
            for index in indices:
                queue.append(executor.submit(work.prepare, index))
                if len(queue) > PREFETCH_TRACKS:
                    work.finish(queue.popleft().result())
                    bar.update(1)
                    await asyncio.sleep(0)
                    if time.monotonic() - saved > SAVE_EVERY_SECONDS:
                        await asyncio.to_thread(_save_all, work.caches)
                        saved = time.monotonic()
            while queue:
                work.finish(queue.popleft().result())
                bar.update(1)
                await asyncio.sleep(0)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        _save_all(work.caches)


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A kind of vector the figures are computed for: a spec's embeddings, a slice of them, or
    its tag probabilities."""

    name: str
    spec: str
    suffix: str  # "" for the embeddings, ".tags" for the tags
    columns: tuple[int, int | None] = (0, None)  # which dimensions of them


def families(specs: Sequence[str], caches: dict[str, SpecCache]) -> list[Family]:
    """The vectors to compare: each spec's embedding, musicnn's pooled halves, the tags."""
    result: list[Family] = []
    tagged: set[str] = set()
    for spec in specs:
        result.append(Family(spec, spec, ""))
        if spec.endswith("/mean_max_pool"):
            architecture = spec.partition("/")[0]
            half = 753  # mean_pool then max_pool, as MusicnnModel concatenates them
            result.append(Family(f"{architecture}/mean_pool", spec, "", (0, half)))
            result.append(Family(f"{architecture}/max_pool", spec, "", (half, None)))
        architecture = spec.partition("/")[0]
        has_tags = any("full.tags" in entry for entry in caches[spec].entries.values())
        if spec.startswith("msd-") and has_tags and architecture not in tagged:
            tagged.add(architecture)
            result.append(Family(f"{architecture}/tags", spec, ".tags"))
    return result


@dataclass(frozen=True)
class Vectors:
    """One variant's vectors: catalog (n, d), excerpts (n, d), re-encodes (r, d) or None."""

    catalog: npt.NDArray[np.float32]
    excerpts: npt.NDArray[np.float32]
    reencodes: npt.NDArray[np.float32] | None

    def standardised(self) -> "Vectors":
        """Every set standardised with the catalog's statistics (then L2-normalised)."""
        scaler = Standardiser.fit(self.catalog)
        reencodes = None if self.reencodes is None else scaler.apply(self.reencodes)
        return Vectors(scaler.apply(self.catalog), scaler.apply(self.excerpts), reencodes)


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
    tracks: list[Track], specs: Sequence[str], caches: dict[str, SpecCache], reencoded: set[int]
) -> Report:
    """Pool, standardise and score every variant over the tracks every model could analyse."""
    left_out: list[tuple[str, str]] = []
    kept: list[int] = []
    for i, track in enumerate(tracks):
        reason = next((e for e in (caches[s].error(track.sha256) for s in specs) if e), None)
        complete = all(caches[s].has(track.sha256, p) for s in specs for p in ("full", "excerpt"))
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

    def seconds(spec: str) -> npt.NDArray[np.float64]:
        """(n, 2): decode and front end + network seconds of each track."""
        return np.array([caches[spec].entries[sha]["seconds"] for sha in shas])

    def pooled(family: Family, part: Part, pooling: Pooling, which: Sequence[str]) -> Any:
        entries = caches[family.spec].entries
        columns = slice(*family.columns)
        return np.stack(
            [pool(entries[sha][part + family.suffix][:, columns], pooling) for sha in which]
        )

    def score(name: str, vectors: Vectors, timing: float) -> Row:
        return evaluate(
            name, vectors.catalog, groups, vectors.excerpts, timing, vectors.reencodes,
            with_reencode,
        )  # fmt: skip

    variants: dict[tuple[str, Pooling, bool], Vectors] = {}  # (family, pooling, standardised)
    for family in families(specs, caches):
        timing = float(seconds(family.spec).sum(axis=1).mean())
        for pooling in POOLINGS:
            reencodes = [shas[k] for k in with_reencode]
            raw = Vectors(
                pooled(family, "full", pooling, shas),
                pooled(family, "excerpt", pooling, shas),
                pooled(family, "reencode", pooling, reencodes) if reencodes else None,
            )
            z = raw.standardised()
            variants[(family.name, pooling, False)], variants[(family.name, pooling, True)] = raw, z
            rows += [
                score(f"{family.name} {pooling}", raw, timing),
                score(f"{family.name} {pooling} z", z, timing),
            ]
    if all(spec in specs for spec in FUSED):
        first, *others = (seconds(spec) for spec in FUSED)  # one decode, every network
        timing = float((first.sum(axis=1) + sum(other[:, 1] for other in others)).mean())
        for pooling in POOLINGS:
            for z in (False, True):
                fused = fuse([variants[(spec, pooling, z)] for spec in FUSED])
                name = f"fusion pool5+penultimate {pooling}" + (" z" if z else "")
                rows.append(score(name, fused, timing))
    return Report(rows, len(kept), len(names), chance, left_out)


# --- output -----------------------------------------------------------------------------------

TABLE_COLUMNS = ("model", "dim", "P@5", "P@10", "mAP", "excerpt R@1", "R@5", "median rank",
                 "s/track")  # fmt: skip
DUPLICATE_COLUMNS = ("model", "re-encode min", "median", "max other pair", "excerpt wrong p99",
                     "max", "excerpt own median")  # fmt: skip


def _cell(value: float, digits: int = 3) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(line[c]) for line in lines)) for c, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return [fmt(header), *(fmt(line) for line in lines)]


def format_report(report: Report, folder: Path, duplicates: bool) -> str:
    """The figures as text tables, with the chance level and the sizes they were measured on."""
    out = [
        f"{folder}: {report.tracks} tracks in {report.groups} groups"
        + (f", {len(report.left_out)} left out" if report.left_out else "")
        + f"; chance P@10 {_cell(report.chance_p_at_10)}",
        "",
    ]
    lines = [
        [
            row.name,
            str(row.dim),
            _cell(row.p_at_5),
            _cell(row.p_at_10),
            _cell(row.mean_ap),
            _cell(row.excerpt_r1),
            _cell(row.excerpt_r5),
            _cell(row.excerpt_median_rank, 1),
            _cell(row.seconds_per_track, 2),
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
                _cell(row.reencode_own_min, 4),
                _cell(row.reencode_own_median, 4),
                _cell(row.pair_max, 4),
                _cell(row.excerpt_wrong_p99, 4),
                _cell(row.excerpt_wrong_max, 4),
                _cell(row.excerpt_own_median, 4),
            ]
            for row in report.rows
        ]
        out += ["", f"near-duplicate figures (cosine; every {REENCODE_EVERY}th track "
                f"re-encoded at {REENCODE_BITRATE}bps):", ""]  # fmt: skip
        out += _table(DUPLICATE_COLUMNS, lines)
    for path, reason in report.left_out:
        out.append(f"  left out: {path}: {reason}")
    return "\n".join(out)


# --- the command ------------------------------------------------------------------------------


async def evaluate_folder(
    folder: Path, specs: Sequence[str], cache_dir: Path, duplicates: bool
) -> Report:
    """Embed what the caches lack, then compute every figure (see the module docstring)."""
    found, loose = discover(folder)
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
    caches = {spec: SpecCache(cache_dir / cache_name(spec), spec) for spec in specs}
    reencoded = set(range(0, len(tracks), REENCODE_EVERY)) if duplicates else set()
    files: dict[tuple[int, Part], Path] = {}
    with tempfile.TemporaryDirectory(prefix="soundalike-eval-") as workdir:
        for rate in sorted({sample_rate_of(spec) for spec in specs}):
            rate_specs = [spec for spec in specs if sample_rate_of(spec) == rate]
            probe = Pass(rate, [], tracks, caches, reencoded, Path(workdir), files)
            if not any(probe.missing(i, s) for i in range(len(tracks)) for s in rate_specs):
                continue  # everything cached: the models are not even loaded
            runners = await asyncio.to_thread(build_runners, rate_specs)
            work = Pass(rate, runners, tracks, caches, reencoded, Path(workdir), files)
            await run_pass(work, f"{rate / 1000:g} kHz: {', '.join(rate_specs)}")
            del runners, work
    report = build_report(tracks, specs, caches, reencoded)
    report.left_out.extend(unreadable)
    return report


async def eval_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """`eval DIR [--models A,B] [--json] [--duplicates] [--cache DIR]`."""
    started = time.perf_counter()
    try:
        ffmpeg_binary()
        specs = parse_specs(arguments.models)
        cache_dir = arguments.cache or settings.database_path.parent / "eval-cache"
        report = await evaluate_folder(arguments.folder, specs, cache_dir, arguments.duplicates)
    except (EvalUsageError, ModelFileError, RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not report.rows:
        print(
            f"error: fewer than two tracks of {arguments.folder} could be analysed", file=sys.stderr
        )
        for path, reason in report.left_out:
            print(f"  left out: {path}: {reason}", file=sys.stderr)
        return EXIT_FAILURES
    seconds = time.perf_counter() - started
    if arguments.json:
        print(json.dumps([row.as_json() for row in report.rows], ensure_ascii=False, indent=2))
        print(
            f"{report.tracks} tracks in {report.groups} groups, chance P@10 "
            f"{_cell(report.chance_p_at_10)}, {seconds:.1f} s",
            file=sys.stderr,
        )
        for path, reason in report.left_out:
            print(f"left out: {path}: {reason}", file=sys.stderr)
    else:
        print(format_report(report, arguments.folder, arguments.duplicates))
        print(f"\n{seconds:.1f} s")
    return EXIT_FAILURES if report.left_out else 0


def add_eval_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `eval` on the CLI's sub-commands (bot/cli.py calls this)."""
    parser = commands.add_parser(
        "eval", help="compare models on a folder with one sub-folder per album or soundtrack"
    )
    parser.add_argument("folder", type=Path, metavar="DIR")
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_SPECS),
        help=f"comma-separated model specs (default: {','.join(DEFAULT_SPECS)})",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--duplicates",
        action="store_true",
        help=f"also re-encode every {REENCODE_EVERY}th track at {REENCODE_BITRATE}bps for the "
        "near-duplicate threshold figures",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="where per-model results are kept (default: eval-cache beside DATABASE_PATH)",
    )
    parser.set_defaults(handler=eval_command)
