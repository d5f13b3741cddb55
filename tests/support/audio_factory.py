"""Test audio made on the fly: numpy synthesises, ffmpeg encodes. No audio is committed."""

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

# container/codec arguments for ffmpeg, by file suffix
ENCODERS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    ".ogg": ["-c:a", "libopus", "-b:a", "48k"],  # a Telegram voice note
    ".m4a": ["-c:a", "aac", "-b:a", "128k"],
    ".flac": ["-c:a", "flac"],
    ".wav": ["-c:a", "pcm_s16le"],
}


def synth_music(
    seconds: float,
    sample_rate: int = 44_100,
    seed: int = 0,
    base_hz: float = 220.0,
    note_seconds: float = 0.5,
    harmonics: int = 1,
    noise: float = 0.05,
) -> npt.NDArray[np.float32]:
    """Something music-like: a chord that changes every `note_seconds`, with decaying notes of
    `harmonics` partials, over a little noise. Seeds, pitches, tempi and timbres make
    different "tracks"."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    note_len = max(1, int(note_seconds * sample_rate))
    audio = np.zeros(n, dtype=np.float64)
    for start in range(0, n, note_len):
        stop = min(start + note_len, n)
        local = t[start:stop] - t[start]
        envelope = np.exp(-2.0 / note_seconds * local)
        for ratio in rng.choice([1.0, 1.25, 1.5, 2.0, 2.5, 3.0], size=3, replace=False):
            freq = base_hz * ratio * rng.choice([0.5, 1.0, 2.0])
            for k in range(1, harmonics + 1):
                audio[start:stop] += envelope * np.sin(2 * np.pi * k * freq * local) / k
    audio += noise * np.std(audio) * rng.standard_normal(n) * 4
    return (0.3 * audio / np.max(np.abs(audio))).astype(np.float32)


# Parameters of distinct "styles" for tests that need tracks a model can tell apart.
STYLES = (
    {"base_hz": 110.0, "note_seconds": 0.5, "harmonics": 1, "noise": 0.02},
    {"base_hz": 330.0, "note_seconds": 0.15, "harmonics": 6, "noise": 0.05},
    {"base_hz": 60.0, "note_seconds": 1.5, "harmonics": 3, "noise": 0.3},
    {"base_hz": 660.0, "note_seconds": 0.25, "harmonics": 2, "noise": 0.0},
    {"base_hz": 200.0, "note_seconds": 0.8, "harmonics": 10, "noise": 0.1},
    {"base_hz": 440.0, "note_seconds": 0.08, "harmonics": 1, "noise": 0.6},
)


def style_for(index: int) -> dict[str, float]:
    """The `index`-th distinct style: STYLES in turn, each round a fifth higher and slower."""
    style = dict(STYLES[index % len(STYLES)])
    round_ = index // len(STYLES)
    style["base_hz"] *= 2 ** (round_ * 7 / 12)
    style["note_seconds"] *= 1 + 0.35 * round_
    return style


def encode(
    audio: npt.NDArray[np.float32],
    path: Path,
    sample_rate: int = 44_100,
    channels: int = 1,
    extra: list[str] | None = None,
) -> Path:
    """Encode mono float32 `audio` to `path`, the codec chosen by its suffix."""
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
        "-ac", str(channels), *ENCODERS[path.suffix], *(extra or []), str(path),
    ]  # fmt: skip
    subprocess.run(command, input=audio.astype("<f4").tobytes(), check=True)
    return path


def encode_stereo(
    left: npt.NDArray[np.float32], right: npt.NDArray[np.float32], path: Path
) -> Path:
    """Encode two float32 channels at 44.1 kHz to `path` (codec by suffix)."""
    frames = np.stack([left, right], axis=1).astype("<f4")
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "f32le", "-ar", "44100", "-ac", "2", "-i", "pipe:0",
        *ENCODERS[path.suffix], str(path),
    ]  # fmt: skip
    subprocess.run(command, input=frames.tobytes(), check=True)
    return path


def reencode_excerpt(
    source: Path, target: Path, start: float, seconds: float, bitrate: str = "64k"
) -> Path:
    """A low-bitrate mono mp3 excerpt of `source`: what a user's phone recording resembles."""
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(start), "-t", str(seconds),
        "-i", str(source), "-ac", "1", "-c:a", "libmp3lame", "-b:a", bitrate, str(target),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return target


def make_library(folder: Path, count: int, seconds: float = 12.0) -> list[Path]:
    """`count` distinct stereo mp3s named "Artist i - Song i.mp3" in `folder` (made if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        encode(
            synth_music(seconds, seed=i, **style_for(i)),
            folder / f"Artist {i} - Song {i}.mp3",
            channels=2,
        )
        for i in range(count)
    ]
