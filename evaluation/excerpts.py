"""The degraded copies a track is queried with, made by ffmpeg: a short excerpt from its middle
(what a phone recording or a messenger voice clip resembles) and a full re-encode (the same
recording encoded again, for the near-duplicate figures)."""

import subprocess
from pathlib import Path

from core.audio import DIFFERENCE_TO_MONO, SUM_TO_MONO, decode, ffmpeg_binary, rms
from core.constants import (
    DECODE_TIMEOUT_SECONDS,
    MAX_ANALYSIS_SECONDS,
    MUSICNN_SAMPLE_RATE,
    SILENCE_RMS,
)
from core.errors import AudioError, SilentError

EXCERPT_SECONDS = 15.0
EXCERPT_BITRATE = "64k"  # mono mp3: what a phone recording or a messenger voice clip resembles
EXCERPT_STEP_SECONDS = 5.0  # how far the excerpt moves from the middle if that is silent
REENCODE_BITRATE = "128k"  # --duplicates: another encoding of the same recording
REENCODE_EVERY = 4  # --duplicates re-encodes every 4th track (≈ 25 %)


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


def make_reencode(source: Path, target: Path) -> Path:
    """The analysed part of `source` (MAX_ANALYSIS_SECONDS) encoded again at REENCODE_BITRATE."""
    _ffmpeg_mp3(source, target, REENCODE_BITRATE, [], ["-t", f"{MAX_ANALYSIS_SECONDS:g}"])
    return target
