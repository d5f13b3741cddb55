"""What the decoder's guard rails cost and what they bound: figures, not assertions.

    .venv/bin/python bench/decode_guard.py

Prints the latency the header check (core.audio.check_header) adds to a 4-minute 44.1 kHz
stereo mp3, the peak address space and resident memory of ffmpeg decoding a 10-minute one the
way core.audio does (what FFMPEG_MEMORY_CEILING_BYTES must leave room for), and ffmpeg's peak
resident memory on the 1 Hz flac and wav of issue 10, without and with the ceiling.
"""

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.audio import SUM_TO_MONO, check_header
from core.constants import FFMPEG_MEMORY_CEILING_BYTES
from core.errors import NotAudioError

MB = 2**20


def sine_mp3(path: Path, seconds: int) -> Path:
    """A 44.1 kHz stereo 192 kbps mp3 of two tones."""
    source = f"sine=f=220:d={seconds}:r=44100"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source,
         "-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def one_hertz(path: Path) -> Path:
    """400 KB of noise declared as 1 Hz mono audio, as in issue 10."""
    codec = ["-c:a", "flac", "-frame_size", "16384"] if path.suffix == ".flac" else []
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "s16le", "-ar", "1", "-ac", "1",
         "-i", "pipe:0", *codec, str(path)],
        input=random.Random(7).randbytes(400_000), check=True,
    )  # fmt: skip
    return path


def header_check_ms(path: Path, runs: int = 200) -> tuple[float, float]:
    """(first call, median of later calls) in milliseconds; the first one imports parsers."""
    start = time.perf_counter()
    check_header(path)
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        check_header(path)
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


def ffmpeg_peaks(path: Path) -> tuple[float, float]:
    """(VmPeak, VmHWM) in MB of core.audio's ffmpeg decoding `path` to 16 kHz, by /proc polling."""
    command = [
        "prlimit", f"--as={FFMPEG_MEMORY_CEILING_BYTES}", "--", "ffmpeg", "-nostdin",
        "-v", "error", "-threads", "1", "-filter_threads", "1", "-i", str(path),
        "-map", "0:a:0", "-t", "600", *SUM_TO_MONO, "-ar", "16000", "-f", "f32le", "-",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peaks = {"VmPeak": 0, "VmHWM": 0}
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in peaks:
                peaks[key] = max(peaks[key], int(value.split()[0]))
        time.sleep(0.002)
    process.wait()
    return peaks["VmPeak"] / 1024, peaks["VmHWM"] / 1024


def bomb_peak_mb(path: Path, ceiling: bool) -> tuple[str, float]:
    """Outcome and ffmpeg's peak resident MB, measured in a fresh interpreter."""
    probe = (
        "import resource, sys; from pathlib import Path; from core import audio\n"
        "from core.errors import NotAudioError\n"
        "if sys.argv[2] == 'off': audio.FFMPEG_MEMORY_CEILING_BYTES = 'unlimited'\n"
        "try:\n audio._run_ffmpeg(Path(sys.argv[1]), 16000, 600.0, 300.0, audio.SUM_TO_MONO)\n"
        " print('decoded')\nexcept NotAudioError as e:\n print('refused:', e.reason)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(path), "on" if ceiling else "off"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome, peak = result.stdout.strip().splitlines()[-2:]
    return outcome, int(peak) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        four = sine_mp3(Path(folder) / "four.mp3", 240)
        first, median = header_check_ms(four)
        print(f"header check, 4-minute mp3: first call {first:.1f} ms, then {median:.2f} ms")
        ten = sine_mp3(Path(folder) / "ten.mp3", 600)
        vm_peak, vm_hwm = ffmpeg_peaks(ten)
        print(
            f"ffmpeg on a 10-minute mp3: address space {vm_peak:.0f} MB, resident {vm_hwm:.0f} MB"
            f" (ceiling {FFMPEG_MEMORY_CEILING_BYTES / MB:.0f} MB)"
        )
        for suffix in (".flac", ".wav"):
            bomb = one_hertz(Path(folder) / f"bomb{suffix}")
            try:
                check_header(bomb)
                checked = "passes"
            except NotAudioError as error:
                checked = f"refused ({error.reason})"
            print(f"1 Hz {suffix}: header check {checked}")
            for ceiling in (False, True):
                outcome, peak = bomb_peak_mb(bomb, ceiling)
                label = "with" if ceiling else "without"
                print(f"  ffmpeg alone {label} the ceiling: {outcome}; peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
