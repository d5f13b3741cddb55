"""One sample rate's pass over the tracks: decode, cut, run the networks, cache the results.

Each model embeds exactly as the bot does: core.audio.decode and check_analysable,
core.embedding.model_input (the model's level normalisation), model.chosen_patches, model.predict
(at evaluation.specs.eval_patches; smaller budgets are scored from subsets of the cache). A track is
decoded once per rate and that audio serves every model of the rate, while a second thread
decodes the next track and cuts its patches (ffmpeg and numpy) as TensorFlow runs the current
one: two cores busy.
"""

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from core.audio import check_analysable, decode, load_windows
from core.embedding import model_input
from core.errors import AudioError, TooShortError
from evaluation.cache import Part, SpecCache
from evaluation.corpus import Track
from evaluation.excerpts import make_excerpt, make_reencode
from evaluation.runners import FusionRunner, Runner
from evaluation.specs import part_field

SAVE_EVERY_SECONDS = 60.0  # an interrupted run keeps all but the last minute of work
PREFETCH_TRACKS = 2  # tracks decoded ahead of the network
QUERY_PARTS: tuple[Part, ...] = ("query", "reencode")  # embedded as the bot embeds an upload


@dataclass
class Prepared:
    """A track decoded and cut, ready for the networks (made in the prefetch thread).

    patches[part][runner index]: (≤ MAX_PATCHES_PER_TRACK, ...) model inputs.
    """

    index: int
    patches: dict[Part, dict[int, npt.NDArray[np.float32]]] = field(default_factory=dict)
    decode_seconds: float = 0.0
    patch_seconds: dict[int, float] = field(default_factory=dict)
    # a fusion runner's: each part's network inputs, (decode, features) seconds, duration
    inputs: dict[Part, dict[int, list[npt.NDArray[np.float32]]]] = field(default_factory=dict)
    window_seconds: dict[int, tuple[float, float]] = field(default_factory=dict)
    window_durations: dict[int, float] = field(default_factory=dict)
    duration: float | None = None
    error: str | None = None


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

    def parts(self, index: int, spec: str) -> list[Part]:
        parts: list[Part] = ["full", "excerpt"]
        if self.caches[spec].separate_queries:
            parts.append("query")
        return [*parts, "reencode"] if index in self.reencoded else parts

    def missing(self, index: int, spec: str) -> list[Part]:
        sha = self.tracks[index].sha256
        cache = self.caches[spec]
        return [part for part in self.parts(index, spec) if not cache.has(sha, part)]

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
        if part in ("full", "query"):
            return track.path
        if (index, part) not in self.files:
            target = self.workdir / f"{index}.{part}.mp3"
            if part == "excerpt":
                make_excerpt(track.path, target, duration)
            else:
                make_reencode(track.path, target)
            self.files[(index, part)] = target
        return self.files[(index, part)]

    def prepare(self, index: int) -> Prepared:
        """Decode each needed part once and cut it for every runner (prefetch thread).

        A fusion's runner decodes for itself, as the bot: its catalog side ("full", "excerpt")
        whole, its query side ("query", "reencode": a user's upload) by windows where
        core.audio.load_windows reads them.
        """
        prepared = Prepared(index)
        wanted = {r: self.runner_parts(index, r) for r in range(len(self.runners))}
        windowed = {r for r, runner in enumerate(self.runners) if isinstance(runner, FusionRunner)}
        needed = {part for parts in wanted.values() for part in parts}
        duration = self.duration_known(index)
        parts: tuple[Part, ...] = ("full", "query", "excerpt", "reencode")
        try:
            for part in parts:
                plain = [r for r in wanted if part in wanted[r] and r not in windowed]
                if part not in needed and not (part == "full" and duration is None):
                    continue
                if part == "full" and duration is None and not plain:
                    plain_decode = not any(part in wanted[r] for r in windowed)
                else:
                    plain_decode = bool(plain)
                source = self.source(index, part, duration or 0.0) if part != "full" else None
                for r in sorted(windowed):
                    if part not in wanted[r]:
                        continue
                    runner = self.runners[r]
                    assert isinstance(runner, FusionRunner)
                    fusion, path = runner.fusion, source or self.tracks[index].path
                    started = time.perf_counter()
                    windows = (
                        load_windows(path, fusion.sample_rate, fusion.used_windows)
                        if part in QUERY_PARTS
                        else None
                    )
                    if windows is None:
                        whole = decode(path, fusion.sample_rate)
                        check_analysable(whole, fusion.sample_rate)
                        decoded = time.perf_counter()
                        inputs = fusion.track_inputs(whole)
                        length = whole.shape[0] / fusion.sample_rate
                    else:
                        decoded = time.perf_counter()
                        inputs = fusion.window_inputs(windows)
                        length = windows.duration
                    prepared.inputs.setdefault(part, {})[r] = inputs
                    if part == "query":
                        prepared.window_seconds[r] = (
                            decoded - started,
                            time.perf_counter() - decoded,
                        )
                    if part == "full":
                        prepared.window_durations[r] = length
                        if duration is None:
                            duration = prepared.duration = length
                if not plain_decode:
                    continue
                started = time.perf_counter()
                audio = decode(source or self.tracks[index].path, self.sample_rate)
                check_analysable(audio, self.sample_rate)
                if part == "full":
                    prepared.decode_seconds = time.perf_counter() - started
                    duration = prepared.duration = audio.shape[0] / self.sample_rate
                for r in plain:
                    runner = self.runners[r]
                    started = time.perf_counter()
                    model_audio = model_input(audio, runner.model)
                    chosen = runner.model.chosen_patches(model_audio, runner.patches)
                    if chosen.shape[0] == 0:
                        raise TooShortError(f"{part}: too short for one analysis window")
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
            if isinstance(runner, FusionRunner):
                self.finish_fusion(prepared, r, runner, specs[0])
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

    def finish_fusion(self, prepared: Prepared, r: int, runner: "FusionRunner", spec: str) -> None:
        """A fusion's per-part outputs into its cache (fields: evaluation.specs.part_field)."""
        sha = self.tracks[prepared.index].sha256
        cache = self.caches[spec]
        for part, by_runner in prepared.inputs.items():
            if r not in by_runner or part not in self.missing(prepared.index, spec):
                continue
            started = time.perf_counter()
            outputs = runner.part_outputs(by_runner[r])
            seconds = time.perf_counter() - started
            tagged = False
            for i, out in enumerate(outputs):
                cache.put(sha, part_field(part, i), out.embeddings)
                if out.tags.shape[1] and not tagged:
                    cache.put(sha, f"{part}.tags", out.tags)
                    tagged = True
            if part == "query":  # what the bot's answer costs
                decode_seconds, feature_seconds = prepared.window_seconds[r]
                cache.put(sha, "seconds", np.array([decode_seconds, feature_seconds + seconds]))
            if part == "full":
                cache.put(sha, "duration", float(prepared.window_durations[r]))

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
