"""Speed and memory of one track's embedding, and of ranking: figures, not assertions.

    .venv/bin/python bench/embedding_speed.py [--runs 7] [--models SPEC,SPEC…] [--no-original]

Generates a 4-minute 44.1 kHz stereo 192 kbps mp3, then prints, for each model (warm, this process
playing the part of one embedding worker, using every core), the median seconds of decoding,
features and the network, and of the whole embedding (`embed_file`); the runs of the models and
of the original design's query path alternate, so all see the same machine load. For a windowed
fusion: the decode of its windows, then per part its features (with resampling) and network.
The original design (the project's first version, reconstructed): the whole track decoded by
librosa, its dB mel spectrogram cut into 128×128 tiles, each tile through the seed CNN one call at
a time; its time over each model's is the speed-up. Then ranking over 1,500 and 1,000,000 random
catalog vectors, and the peak resident memory. The load average is printed before and after:
figures taken on a shared machine are only comparable within one run.
"""

import argparse
import functools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import librosa
import numpy as np
import numpy.typing as npt

from core.audio import check_analysable, decode, load_windows
from core.constants import SEED_SAMPLE_RATE
from core.embedding import embed_audio, embed_file, load_for, model_input, warm_up
from core.models import DEFAULT_MODEL, AudioModel, parse_model_spec
from core.models.base import WindowedModel
from core.models.fusion import FusionModel
from core.models.seed import SeedModel
from core.ranking import rank
from core.windows import level_windows, part_windows

PREVIOUS_DEFAULT = "msd-vgg/pool5"  # the single-network model the fusion replaced
TRACK_SECONDS = 240


def make_track(path: Path, variant: int = 0) -> Path:
    """Four minutes of a plucked chord progression over noise, as a 192 kbps stereo mp3.

    Each `variant` has its own key and tempo, so generated files never share a hash.
    """
    root_hz, beat = 220 * 2 ** (variant % 12 / 12), 0.5 - 0.02 * (variant % 10)
    chord = (
        f"0.25*(sin(2*PI*({root_hz:.2f}+55*floor(mod(t,8)/2))*t)"
        f"+0.6*sin(2*PI*{1.5 * root_hz:.2f}*t)*gt(mod(t,1),0.5))*exp(-4*mod(t,{beat:.2f}))"
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"aevalsrc='{chord}|{chord}':s=44100:d={TRACK_SECONDS}",
         "-f", "lavfi", "-i", f"anoisesrc=d={TRACK_SECONDS}:a=0.03:r=44100:seed={variant}",
         "-filter_complex", "[0][1]amix=inputs=2:normalize=0", "-ac", "2",
         "-c:a", "libmp3lame", "-b:a", "192k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def alternating_medians(works: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each work, the works run in turn (A B C A B C …): a load change on a
    shared machine hits them all alike."""
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(runs):
        for name, work in works.items():
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def ranking_seconds(size: int, dim: int, runs: int) -> float:
    """Median time of a top-100 query over `size` random unit vectors."""
    matrix = np.random.default_rng(0).standard_normal((size, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(size, dtype=np.int64)
    query = matrix[size // 2].copy()
    return median_seconds(lambda: rank(query, matrix, ids, k=100), runs)


def plain_figures(model: AudioModel, track: Path, runs: int) -> dict[str, float]:
    """A patch model's stages: decode (ffmpeg, whole track), level + features, network."""
    rate = model.sample_rate

    def decode_checked() -> object:
        audio = decode(track, rate)
        check_analysable(audio, rate)
        return audio

    figures = {
        f"decode (ffmpeg, whole track → mono {rate / 1000:g} kHz)": median_seconds(
            decode_checked, runs
        )
    }
    audio = decode(track, rate)
    chosen = model.chosen_patches(model_input(audio, model), model.max_patches)
    figures[f"level + features ({chosen.shape[0]} patches)"] = median_seconds(
        lambda: model.chosen_patches(model_input(audio, model), model.max_patches), runs
    )
    figures[f"network ({chosen.shape[0]} patches, one batch)"] = median_seconds(
        lambda: model.predict(chosen), runs
    )
    return figures


def windowed_figures(model: WindowedModel, track: Path, runs: int) -> dict[str, float]:
    """A windowed model's stages as a query: its windows' decode, then per part features and
    network."""
    windows = load_windows(track, model.sample_rate, model.used_windows)
    assert windows is not None, "the bench's mp3 has a Xing header: its windows are decoded"
    figures = {
        f"decode ({windows.indices.shape[0]} of {windows.plan.count} windows, one ffmpeg)": (
            median_seconds(lambda: load_windows(track, model.sample_rate, model.used_windows), runs)
        )
    }
    if not isinstance(model, FusionModel):
        return figures
    count = windows.plan.count
    level = windows.spans(level_windows(count))
    for part, cap in zip(model.parts, model.caps, strict=True):
        name = part.model_id.partition("@")[0] or type(part).__name__
        rows = windows.rows(part_windows(count, cap))
        patches = part.window_patches(rows, windows.plan, level)
        resampled = " (with soxr to 16 kHz)" if part.sample_rate != model.sample_rate else ""
        figures[f"{name}: level + features{resampled} ({patches.shape[0]})"] = median_seconds(
            functools.partial(part.window_patches, rows, windows.plan, level), runs
        )
        figures[f"{name}: network ({patches.shape[0]} patches, one batch)"] = median_seconds(
            functools.partial(part.predict, patches), runs
        )
    return figures


class OriginalDesign:
    """The original design's query path, as the project's first version ran it: librosa decodes
    the whole track, its dB mel spectrogram (128 bands) becomes 128×128 tiles, and every tile goes
    through the seed CNN (random weights: the same cost) in a Keras `predict` call of its own.
    The original also drew the tiles as JPEGs through matplotlib and read them back; that is not
    reproduced (the grey levels are computed, core/models/seed.py), so the figure is a lower
    bound of its time and the speed-ups printed are too."""

    def __init__(self) -> None:
        self.model = SeedModel.random(0)
        warm_up(self.model)
        self.stages: dict[str, list[float]] = {}

    def decode(self, track: Path) -> npt.NDArray[np.float32]:
        audio, _ = librosa.load(track, sr=SEED_SAMPLE_RATE, mono=True)
        return np.asarray(audio, np.float32)

    def features(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return self.model.patches(audio)

    def network(self, tiles: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        network = self.model.network
        vectors = [network.predict(tile[np.newaxis], verbose=0)[0] for tile in tiles]
        return np.mean(vectors, axis=0)

    def query(self, track: Path) -> npt.NDArray[np.float32]:
        """The whole query path; each stage's seconds are kept in `stages`."""
        started = time.perf_counter()
        audio = self.decode(track)
        decoded = time.perf_counter()
        tiles = self.features(audio)
        cut = time.perf_counter()
        vector = self.network(tiles)
        for name, seconds in (
            ("decode (librosa, whole track, 44.1 kHz)", decoded - started),
            (f"features (dB mel, {tiles.shape[0]} tiles)", cut - decoded),
            (
                f"network ({tiles.shape[0]} tiles, one Keras predict each)",
                time.perf_counter() - cut,
            ),
        ):
            self.stages.setdefault(name, []).append(seconds)
        return vector


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--models", default=f"{PREVIOUS_DEFAULT},{DEFAULT_MODEL}")
    parser.add_argument("--no-original", action="store_true", help="skip the original design")
    arguments = parser.parse_args()
    runs = arguments.runs

    print(f"cores: {os.cpu_count()}   runs per figure: {runs} (medians)")
    print(f"load average at start: {load_average()}")
    models: list[AudioModel] = []
    for text in arguments.models.split(","):
        started = time.perf_counter()
        model = parse_model_spec(text).load()
        warm_up(model)
        models.append(model)
        print(f"model {model.model_id}: loaded and warmed in {time.perf_counter() - started:.1f} s")
    original = None if arguments.no_original else OriginalDesign()

    with tempfile.TemporaryDirectory() as folder:
        track = make_track(Path(folder) / "four-minutes.mp3")
        for model in models:
            print(f"{model.model_id}:")
            if isinstance(model, WindowedModel):
                figures = windowed_figures(model, track, runs)
            else:
                figures = plain_figures(model, track, runs)
            for name, seconds in figures.items():
                print(f"  {name:<58} {seconds:7.3f} s")
        # as the bot answers a user (query=True); a windowed model's catalog side too
        works: dict[str, Callable[[], object]] = {
            model.model_id: functools.partial(embed_file, track, model, query=True)
            for model in models
        }
        for model in models:
            if isinstance(model, WindowedModel):
                works[f"{model.model_id} catalog side (import)"] = functools.partial(
                    embed_file, track, model
                )
        if original is not None:
            works["original design"] = lambda: original.query(track)
        totals = alternating_medians(works, runs)
        worker_rss = peak_rss_mb()  # before the uncapped run below, whose activations are larger
        if original is not None:
            print("original design (librosa decode, dB mel tiles, seed CNN one tile a call):")
            for name, values in original.stages.items():
                print(f"  {name:<58} {statistics.median(values):7.3f} s")
        print(f"total per track (embed_file as a query; runs alternating), load {load_average()}:")
        for name, seconds in totals.items():
            ratio = ""
            if original is not None and name != "original design" and "catalog" not in name:
                ratio = f"   {totals['original design'] / seconds:5.1f}× faster than the original"
            print(f"  {name:<58} {seconds:7.3f} s{ratio}")
        plain = next((m for m in models if not isinstance(m, WindowedModel)), None)
        if plain is not None:
            uncapped = median_seconds(
                lambda: embed_audio(load_for(track, plain), plain, 10_000), runs
            )
            print(f"  {plain.model_id + ' with every patch (no cap)':<58} {uncapped:7.3f} s")
    print(f"  {'peak RSS of this worker (capped patches)':<58} {worker_rss:7.0f} MB")
    print(f"  {'peak RSS after the uncapped run':<58} {peak_rss_mb():7.0f} MB")

    dim = models[0].embedding_dim  # the first model's (msd-vgg/pool5): 1M × 768-d would need 3 GB
    for size in (1_500, 1_000_000):
        seconds = ranking_seconds(size, dim, max(runs, 11))
        print(f"  {f'rank top 100 of {size:,} vectors ({dim}-d)':<58} {seconds * 1000:7.2f} ms")
    print(f"  {'peak RSS with the 1M-vector matrix':<58} {peak_rss_mb():7.0f} MB")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
