"""Speed and memory of one track's embedding, and of ranking: figures, not assertions.

    .venv/bin/python bench/embedding_speed.py [--runs 7] [--model msd-vgg/pool5]

Generates a 4-minute 44.1 kHz stereo 192 kbps mp3, then prints the median seconds of decoding,
features, the model call and the whole embedding with a warm model (this process plays the part
of one embedding worker, using every core), ranking over 1,500 and 1,000,000 random catalog
vectors, and the peak resident memory. For a fusion: one decode, then per part its resampling,
features (of the chosen patches) and network.
"""

import argparse
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

import numpy as np
import numpy.typing as npt

from core.audio import check_analysable, decode
from core.embedding import embed_audio, embed_file, load_for, model_input, warm_up
from core.models import DEFAULT_MODEL, AudioModel, parse_model_spec
from core.models.fusion import FusionModel, resample
from core.ranking import rank

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


def ranking_seconds(size: int, dim: int, runs: int) -> float:
    """Median time of a top-100 query over `size` random unit vectors."""
    matrix = np.random.default_rng(0).standard_normal((size, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(size, dtype=np.int64)
    query = matrix[size // 2].copy()
    return median_seconds(lambda: rank(query, matrix, ids, k=100), runs)


def part_figures(
    part: AudioModel, decoded: npt.NDArray[np.float32], rate: int, runs: int
) -> dict[str, float]:
    """One model's stages after the decode: resampling, level and features, network."""
    name = part.model_id or type(part).__name__
    figures: dict[str, float] = {}
    if part.sample_rate != rate:
        figures[f"{name}: resample to {part.sample_rate / 1000:g} kHz (soxr)"] = median_seconds(
            lambda: resample(decoded, rate, part.sample_rate), runs
        )
    audio = resample(decoded, rate, part.sample_rate)
    chosen = part.chosen_patches(model_input(audio, part), part.max_patches)
    figures[f"{name}: level + features ({chosen.shape[0]} patches)"] = median_seconds(
        lambda: part.chosen_patches(model_input(audio, part), part.max_patches), runs
    )
    figures[f"{name}: network ({chosen.shape[0]} patches)"] = median_seconds(
        lambda: part.predict(chosen), runs
    )
    return figures


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    arguments = parser.parse_args()

    print(f"cores: {os.cpu_count()}   runs per figure: {arguments.runs} (medians)")
    started = time.perf_counter()
    model = parse_model_spec(arguments.model).load()
    warm_up(model)
    print(f"model {model.model_id}: loaded and warmed in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory() as folder:
        track = make_track(Path(folder) / "four-minutes.mp3")
        runs = arguments.runs
        rate = model.sample_rate

        def decode_checked() -> object:
            audio = decode(track, rate)
            check_analysable(audio, rate)
            return audio

        figures = {
            f"decode (ffmpeg → mono {rate / 1000:g} kHz, checked)": median_seconds(
                decode_checked, runs
            )
        }
        decoded = decode(track, rate)
        parts: list[AudioModel] = list(model.parts) if isinstance(model, FusionModel) else [model]
        for part in parts:
            figures.update(part_figures(part, decoded, rate, runs))
        figures["total per track (embed_file)"] = median_seconds(
            lambda: embed_file(track, model), runs
        )
        worker_rss = peak_rss_mb()  # before the uncapped run below, whose activations are larger
        if not isinstance(model, FusionModel):
            figures["total with every patch (no cap)"] = median_seconds(
                lambda: embed_audio(load_for(track, model), model, 10_000), runs
            )
    for name, seconds in figures.items():
        print(f"  {name:<48} {seconds:7.3f} s")
    print(f"  {'peak RSS of this worker (capped patches)':<48} {worker_rss:7.0f} MB")
    print(f"  {'peak RSS after the uncapped run':<48} {peak_rss_mb():7.0f} MB")

    for size in (1_500, 1_000_000):
        seconds = ranking_seconds(size, model.embedding_dim, max(runs, 11))
        print(f"  {f'rank top 100 of {size:,} vectors':<48} {seconds * 1000:7.2f} ms")
    print(f"  {'peak RSS with the 1M-vector matrix':<48} {peak_rss_mb():7.0f} MB")


if __name__ == "__main__":
    main()
