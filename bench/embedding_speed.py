"""Speed and memory of one track's embedding, and of ranking: figures, not assertions.

    .venv/bin/python bench/embedding_speed.py [--runs 7] [--model msd-vgg/pool5]

Generates a 4-minute 44.1 kHz stereo 192 kbps mp3, then prints the median seconds of decoding,
features, the model call and the whole embedding with a warm model (this process plays the part
of one embedding worker, using every core), ranking over 1,500 and 1,000,000 random catalog
vectors, and the peak resident memory.
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

from core.audio import load_track
from core.constants import MAX_PATCHES_PER_TRACK
from core.embedding import embed_audio, embed_file, warm_up
from core.models import DEFAULT_MODEL, parse_model_spec
from core.patching import evenly_spaced
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
        audio = load_track(track, model.sample_rate)
        all_patches = model.patches(audio)
        chosen = all_patches[evenly_spaced(all_patches.shape[0], MAX_PATCHES_PER_TRACK)]
        runs = arguments.runs
        figures = {
            "decode (ffmpeg → mono, resampled, normalised)": median_seconds(
                lambda: load_track(track, model.sample_rate), runs
            ),
            "features (log-mel, all patches)": median_seconds(lambda: model.patches(audio), runs),
            f"model ({chosen.shape[0]} of {all_patches.shape[0]} patches)": median_seconds(
                lambda: model.predict(chosen), runs
            ),
            "total per track (embed_file)": median_seconds(lambda: embed_file(track, model), runs),
        }
        worker_rss = peak_rss_mb()  # before the uncapped run below, whose activations are larger
        figures[f"total with every patch ({all_patches.shape[0]}, no cap)"] = median_seconds(
            lambda: embed_audio(load_track(track, model.sample_rate), model, 10_000), runs
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
