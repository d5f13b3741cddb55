"""Audio in: any supported file to mono float32 at a model's sample rate, with guard rails.

ffmpeg does the decoding, down-mixing and resampling in one process and streams raw float32 to
us, so no Python touches individual samples. The input is locked down: only the `file` protocol
and a whitelist of audio demuxers, so a playlist, concat or HLS file cannot make ffmpeg open
anything else; the path is passed as one argv item (never through a shell) with a `file:` prefix
so no name is read as an option or a protocol.

A small file can still claim absurd parameters (1 Hz, hundreds of channels) that make ffmpeg
allocate gigabytes whatever `-t` says. Two bounds hold whatever the header says: the header is
read first (mutagen, in-process) and absurd rates or channel counts are refused, and every ffmpeg
runs under an address-space ceiling set by util-linux's `prlimit`, which execs ffmpeg: a limit
set in the child without Python's preexec_fn, which is unsafe in a process running threads.

A query for a windowed model (the fusion) is decoded by windows (`load_windows`): the same guard
rails, and the rules for when a track is decoded whole instead.
"""

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import filetype
import mutagen
import numpy as np
import numpy.typing as npt

from core.constants import (
    DECODE_TIMEOUT_SECONDS,
    FFMPEG_MEMORY_CEILING_BYTES,
    MAX_ANALYSIS_SECONDS,
    MAX_SOURCE_CHANNELS,
    MAX_SOURCE_SAMPLE_RATE,
    MIN_SOURCE_SAMPLE_RATE,
    MIN_TRACK_SECONDS,
    PEAK_LIMIT,
    SILENCE_RMS,
    TARGET_RMS,
    WINDOWED_DECODE_MAX_SHARE,
    WINDOWED_FFMPEG_STACK_BYTES,
)
from core.errors import (
    DecodeTimeoutError,
    NoSoundError,
    NotAudioError,
    SilentError,
    TooShortError,
)
from core.windows import WindowPlan, Windows, plan_windows

# ffmpeg demuxer names (a name matches a demuxer listing it, e.g. "mov" covers mp4/m4a):
# mp3, ogg/opus voice notes, m4a/aac, flac, wav, plus the usual containers of music files.
ALLOWED_DEMUXERS = ("mp3", "ogg", "mov", "aac", "flac", "wav", "matroska", "aiff", "asf", "amr")


# What a music folder's audio files are called; other files count as audio by their content.
AUDIO_SUFFIXES = frozenset(
    {".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".flac", ".wav", ".wma"}
    | {".aif", ".aiff", ".mka", ".webm", ".amr"}
)
_CONTAINERS_WITH_AUDIO = frozenset({"mp4", "m4v", "webm", "mkv"})


def looks_like_audio(path: Path) -> bool:
    """Whether `path` is named like an audio file or its first bytes are an audio container's.

    Lets an importer find `track.bin` and skip `cover.jpg` without running ffmpeg on every
    file; ffmpeg still has the final word on whether the file decodes.
    """
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return True
    kind = filetype.guess(path)
    return kind is not None and (
        kind.mime.startswith("audio/") or kind.extension in _CONTAINERS_WITH_AUDIO
    )


# ffmpeg arguments mixing any input down to mono: the usual sum first, then the channels'
# difference, which is what survives in a phase-inverted stereo track.
SUM_TO_MONO = ("-ac", "1")
DIFFERENCE_TO_MONO = ("-af", "pan=mono|c0=0.5*c0-0.5*c1")


def ffmpeg_binary() -> str:
    """The ffmpeg executable, or a clear error when it is not installed."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
    return path


def prlimit_binary() -> str:
    """util-linux's prlimit, which puts ffmpeg under its memory ceiling, or a clear error."""
    path = shutil.which("prlimit")
    if path is None:
        raise RuntimeError("prlimit is not installed (apt-get install util-linux)")
    return path


NOT_DECODABLE = "this file is not audio that can be decoded"


def check_header(path: Path) -> float | None:
    """Refuse a file whose header claims a sample rate or channel count no music has.

    ffmpeg sizes its buffers by these numbers before `-t` can stop it, so they are checked
    before it runs. A header mutagen cannot read, or one without the numbers (0 means unknown
    there), is left to ffmpeg, which still runs under its memory ceiling. Raises NotAudioError.

    Returns the duration in seconds where the header gives one that can place windows
    (`trusted_duration`), else None.
    """
    try:
        info = getattr(mutagen.File(path), "info", None)
    except Exception:  # mutagen has many ways to fail on damaged files; ffmpeg decides then
        return None
    rate = getattr(info, "sample_rate", 0)
    channels = getattr(info, "channels", 0)
    rate_known = isinstance(rate, int) and rate > 0
    if rate_known and not MIN_SOURCE_SAMPLE_RATE <= rate <= MAX_SOURCE_SAMPLE_RATE:
        raise NotAudioError(
            f"{NOT_DECODABLE}: its header claims a sample rate of {rate} Hz "
            f"(accepted: {MIN_SOURCE_SAMPLE_RATE}–{MAX_SOURCE_SAMPLE_RATE} Hz)"
        )
    if isinstance(channels, int) and channels > MAX_SOURCE_CHANNELS:
        raise NotAudioError(
            f"{NOT_DECODABLE}: its header claims {channels} channels "
            f"(accepted: 1–{MAX_SOURCE_CHANNELS})"
        )
    return trusted_duration(info)


def trusted_duration(info: object) -> float | None:
    """The length a mutagen stream info gives, where it is worth placing windows by.

    An mp3 without a Xing/Info/VBRI header has only an estimate from the first frame's bitrate
    and the file size, wrong for VBR (mutagen then reports the bitrate mode as unknown, or the
    file as sketchy): None, so the track is decoded whole. Other containers store the length.
    """
    length = getattr(info, "length", 0)
    if not isinstance(length, (int, float)) or not 0 < length < float("inf"):
        return None
    if type(info).__name__ == "MPEGInfo":
        mode = getattr(info, "bitrate_mode", None)
        if getattr(info, "sketchy", True) or mode is None or int(mode) == 0:  # 0: UNKNOWN
            return None
    return float(length)


def decode(
    path: Path,
    sample_rate: int,
    *,
    max_seconds: float = MAX_ANALYSIS_SECONDS,
    timeout: float = DECODE_TIMEOUT_SECONDS,
) -> npt.NDArray[np.float32]:
    """Decode the first `max_seconds` of `path` to mono float32 at `sample_rate`.

    Returns shape (n_samples,). Decoding stops at `max_seconds` inside ffmpeg, so a small file
    claiming hours of audio costs at most that much memory. A stereo track whose channels are
    inverted copies (seen in real game soundtracks) sums to silence; for a silent mix the
    channels' difference is tried before giving up. Raises NotAudioError, DecodeTimeoutError.
    """
    if not path.is_file():
        raise NotAudioError(f"{path.name}: no such file")
    check_header(path)
    audio = _run_ffmpeg(path, sample_rate, max_seconds, timeout, SUM_TO_MONO)
    if rms(audio) < SILENCE_RMS:
        try:
            side = _run_ffmpeg(path, sample_rate, max_seconds, timeout, DIFFERENCE_TO_MONO)
        except NotAudioError:  # a mono source has no second channel: it really is silent
            return audio
        if rms(side) > rms(audio):
            return side
    return audio


def _guarded_ffmpeg(*limits: str) -> list[str]:
    """The start of every ffmpeg command: under prlimit's address-space ceiling (and any
    further `limits`), never reading stdin, printing errors only."""
    return [
        prlimit_binary(),
        f"--as={FFMPEG_MEMORY_CEILING_BYTES}",
        *limits,
        "--",
        ffmpeg_binary(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
    ]


def _run_ffmpeg(
    path: Path, sample_rate: int, max_seconds: float, timeout: float, mix: tuple[str, ...]
) -> npt.NDArray[np.float32]:
    """One ffmpeg run under the memory ceiling; its raw float32 output as an array.

    One decoding thread and one filter thread: each extra thread reserves address space (64 MB
    malloc arenas), which would make the ceiling depend on the machine's core count, and the
    embedding workers already keep every core busy.
    """
    command = [
        *_guarded_ffmpeg(),
        "-threads",
        "1",
        "-filter_threads",
        "1",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(ALLOWED_DEMUXERS),
        "-i",
        f"file:{path.resolve()}",
        "-map",
        "0:a:0",
        "-t",
        f"{max_seconds:.3f}",
        *mix,
        "-ar",
        str(sample_rate),
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]
    return _as_samples(_run_guarded(command, timeout))


def _run_guarded(command: list[str], timeout: float, env: dict[str, str] | None = None) -> bytes:
    """Run a prlimit + ffmpeg command line; its stdout, or NotAudioError/DecodeTimeoutError."""
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as error:
        raise DecodeTimeoutError(
            f"decoding took longer than {timeout:g} s and was stopped"
        ) from error
    if result.returncode != 0 or not result.stdout:
        if b"Cannot allocate memory" in result.stderr:
            raise NotAudioError(f"{NOT_DECODABLE}: it needs more memory than decoding may use")
        if b"matches no streams" in result.stderr:  # `-map 0:a:0`, `[0:a:0]`: no audio stream
            raise NoSoundError("the file has no sound (no audio stream)")
        raise NotAudioError(NOT_DECODABLE)
    return result.stdout


def _as_samples(raw: bytes) -> npt.NDArray[np.float32]:
    samples = len(raw) // 4
    return np.frombuffer(raw, dtype="<f4", count=samples).astype(np.float32, copy=False)


# Each window's input is decoded this much longer than the window: after a seek some demuxers
# (ogg) time the first packets a few hundred samples off, so `-t` alone would stop short.
WINDOW_INPUT_SLACK_SECONDS = 0.1

# The filter of each window in `decode_windows`: the same mono mix as `decode`'s -ac 1 / pan.
_WINDOW_MIX = {
    SUM_TO_MONO: "",
    DIFFERENCE_TO_MONO: "pan=mono|c0=0.5*c0-0.5*c1,",
}


def decode_windows(
    path: Path,
    plan: WindowPlan,
    which: Sequence[int],
    *,
    mix: tuple[str, ...] = SUM_TO_MONO,
    timeout: float = DECODE_TIMEOUT_SECONDS,
) -> npt.NDArray[np.float32]:
    """Decode windows `which` of `plan` from `path`: (len(which), plan.length) mono float32.

    One ffmpeg process opens the file once per window, seeks there (input-side `-ss`: the
    demuxer jumps, the decoder starts a little before and ffmpeg drops samples up to the exact
    position) and decodes `plan.length` samples; a window past the file's end is zero-padded.
    The guard rails are `decode`'s: the header check is the caller's (`check_header`), each
    input has the `file` protocol and the demuxer whitelist only, the path is one argv item
    with a `file:` prefix, the whole run has the memory ceiling and the wall-clock limit.
    Raises NotAudioError, DecodeTimeoutError.
    """
    if not path.is_file():
        raise NotAudioError(f"{path.name}: no such file")
    if not which:
        raise ValueError("no window to decode")
    if mix not in _WINDOW_MIX:
        raise ValueError(f"unknown mix {mix!r}")
    length = plan.length
    source = f"file:{path.resolve()}"
    command = [
        *_guarded_ffmpeg(f"--stack={WINDOWED_FFMPEG_STACK_BYTES}"),
        "-filter_threads",
        "1",
    ]
    chains = []
    for row, index in enumerate(which):
        command += [
            "-threads",
            "1",
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            ",".join(ALLOWED_DEMUXERS),
            "-ss",
            f"{plan.seconds(index):.6f}",
            "-t",
            f"{length / plan.rate + WINDOW_INPUT_SLACK_SECONDS:.6f}",  # atrim cuts exactly
            "-i",
            source,
        ]
        chains.append(
            f"[{row}:a:0]{_WINDOW_MIX[mix]}"
            f"aformat=sample_fmts=flt:sample_rates={plan.rate}:channel_layouts=mono,"
            f"apad=whole_len={length},atrim=end_sample={length}[w{row}]"
        )
    inputs = "".join(f"[w{row}]" for row in range(len(which)))
    graph = ";".join(chains) + f";{inputs}concat=n={len(which)}:v=0:a=1[windows]"
    command += [
        "-filter_complex",
        graph,
        "-map",
        "[windows]",
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
    samples = _as_samples(_run_guarded(command, timeout, env))
    if samples.shape[0] != len(which) * length:
        raise NotAudioError(NOT_DECODABLE)
    return samples.reshape(len(which), length)


def load_windows(
    path: Path, rate: int, used: Callable[[int], npt.NDArray[np.intp]]
) -> Windows | None:
    """The windows of `path` a windowed model reads, decoded at `rate` and checked
    (core/windows.py), or None where they should not be decoded one by one: the header gives
    no trustworthy duration, the windows would be more than WINDOWED_DECODE_MAX_SHARE of the
    track, or the windowed ffmpeg run fails (the whole decode then decides, with its own error).

    A silent sum of the channels is retried as their difference, as `decode` does. Raises
    NotAudioError, DecodeTimeoutError, TooShortError, SilentError.

    used: the model's `used_windows`: of a plan's window count, the windows it reads.
    """
    if not path.is_file():
        raise NotAudioError(f"{path.name}: no such file")
    duration = check_header(path)
    if duration is None:
        return None
    seconds = min(duration, MAX_ANALYSIS_SECONDS)
    plan = plan_windows(int(seconds * rate), rate)
    which = used(plan.count)
    decoded = len(which) * plan.length
    if not decoded or decoded > WINDOWED_DECODE_MAX_SHARE * seconds * rate:
        return None
    try:
        audio = decode_windows(path, plan, list(which))
    except NotAudioError:
        return None
    if seconds < MIN_TRACK_SECONDS:
        raise TooShortError(
            f"the track is {seconds:.1f} s long; at least {MIN_TRACK_SECONDS:g} s are needed"
        )
    return _audible(Windows(plan, which, audio, seconds), path)


def _audible(windows: Windows, path: Path) -> Windows:
    """`windows`, or their channels' difference where the sum is silent (phase-inverted
    stereo); SilentError where both are."""
    lead, span = windows.plan.lead, windows.plan.span
    if rms(windows.audio[:, lead : lead + span]) >= SILENCE_RMS:
        return windows
    try:
        side = decode_windows(path, windows.plan, list(windows.indices), mix=DIFFERENCE_TO_MONO)
    except NotAudioError:  # a mono source has no second channel: it really is silent
        side = windows.audio
    if rms(side[:, lead : lead + span]) < SILENCE_RMS:
        raise SilentError("the track is silent")
    return Windows(windows.plan, windows.indices, side, windows.duration)


def check_analysable(audio: npt.NDArray[np.float32], sample_rate: int) -> None:
    """Raise TooShortError or SilentError for audio there is nothing to compare in."""
    seconds = audio.shape[0] / sample_rate
    if seconds < MIN_TRACK_SECONDS:
        raise TooShortError(
            f"the track is {seconds:.1f} s long; at least {MIN_TRACK_SECONDS:g} s are needed"
        )
    if rms(audio) < SILENCE_RMS:
        raise SilentError("the track is silent")


def rms(audio: npt.NDArray[np.float32]) -> float:
    """Root mean square of the samples (float64 accumulation, no overflow)."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def normalise_loudness(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scale to TARGET_RMS so that a level difference alone does not move a track's neighbours.

    Peaks the gain pushes past ±PEAK_LIMIT are clipped. Silent input is returned unchanged.
    """
    level = rms(audio)
    if level < SILENCE_RMS:
        return audio
    scaled = audio * np.float32(TARGET_RMS / level)
    return np.clip(scaled, -PEAK_LIMIT, PEAK_LIMIT, out=scaled)
