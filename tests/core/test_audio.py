"""Decoding through real ffmpeg, on files encoded by real ffmpeg, with every guard rail."""

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, encode_stereo, synth_music

from core.audio import check_analysable, decode, normalise_loudness, rms
from core.constants import MAX_ANALYSIS_SECONDS, TARGET_RMS
from core.errors import DecodeTimeoutError, NotAudioError, SilentError, TooShortError

RATE = 16_000


def dominant_hz(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spectrum) * sample_rate / audio.shape[0])


def tone(seconds: float, hz: float = 440.0, rate: int = 44_100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".m4a", ".flac", ".wav"])
def test_each_format_decodes_to_mono_float32_at_the_requested_rate(
    tmp_path: Path, suffix: str
) -> None:
    path = encode(tone(4.0), tmp_path / f"a{suffix}", channels=2)
    audio = decode(path, RATE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.shape[0] / RATE - 4.0) < 0.1  # encoder padding is a few ms
    assert abs(dominant_hz(audio, RATE) - 440.0) < 2.0
    assert 0.3 < np.max(np.abs(audio)) < 0.7


def test_stereo_is_mixed_down(tmp_path: Path) -> None:
    path = encode_stereo(tone(4.0, 300.0), tone(4.0, 700.0), tmp_path / "stereo.flac")
    spectrum = np.abs(np.fft.rfft(decode(path, RATE)))
    hz = np.fft.rfftfreq(RATE * 4, 1 / RATE)
    assert spectrum[np.argmin(np.abs(hz - 300))] > 0.2 * spectrum.max()
    assert spectrum[np.argmin(np.abs(hz - 700))] > 0.2 * spectrum.max()


def test_phase_inverted_stereo_is_not_mistaken_for_silence(tmp_path: Path) -> None:
    music = synth_music(5.0)
    path = encode_stereo(music, -music, tmp_path / "inverted.flac")
    audio = decode(path, RATE)
    check_analysable(audio, RATE)  # would raise SilentError with a plain (L + R) / 2
    assert rms(normalise_loudness(audio)) == pytest.approx(TARGET_RMS, rel=0.05)


@pytest.mark.parametrize(
    "content", [b"", b"just some text, not audio\n" * 100, bytes(range(256)) * 400]
)
def test_non_audio_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mp3"
    path.write_bytes(content)
    with pytest.raises(NotAudioError) as caught:
        decode(path, RATE)
    assert "not audio" in caught.value.reason


def test_truncated_mp3_keeps_what_decodes_and_garbage_after_a_header_is_refused(
    tmp_path: Path,
) -> None:
    whole = encode(synth_music(10.0), tmp_path / "whole.mp3").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole[: len(whole) // 2])
    assert 4.0 < decode(cut, RATE).shape[0] / RATE < 6.0
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(whole[:200] + np.random.default_rng(1).bytes(2_000))
    with pytest.raises(AudioErrorTypes):
        check_analysable(decode(garbage, RATE), RATE)


AudioErrorTypes = (NotAudioError, TooShortError, SilentError)


@pytest.mark.parametrize(
    "playlist",
    [
        "ffconcat version 1.0\nfile '{target}'\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n",
    ],
)
def test_playlists_cannot_make_ffmpeg_read_other_files(tmp_path: Path, playlist: str) -> None:
    target = encode(tone(5.0), tmp_path / "secret.wav")
    for suffix in (".mp3", ".m3u8", ".ffconcat"):
        path = tmp_path / f"playlist{suffix}"
        path.write_text(playlist.format(target=target))
        with pytest.raises(NotAudioError):
            decode(path, RATE)


def test_file_names_are_never_options_or_protocols(tmp_path: Path) -> None:
    for name in ("-i evil.mp3", "concat:a.mp3|b.mp3", "pipe:1.mp3", "track $(rm -rf x).mp3"):
        path = encode(tone(3.5), tmp_path / name.replace("/", "_"))
        assert decode(path, RATE).shape[0] > 3 * RATE


def test_decoding_stops_at_the_analysis_cap(tmp_path: Path) -> None:
    # 15 minutes of digital silence compress to a tiny flac: the cap bounds the decoded size
    path = encode(np.zeros(15 * 60 * 8_000, np.float32), tmp_path / "long.flac", sample_rate=8_000)
    assert path.stat().st_size < 250_000  # vs 29 MB once decoded at 16 kHz
    assert decode(path, RATE).shape[0] == pytest.approx(MAX_ANALYSIS_SECONDS * RATE, abs=RATE)
    assert decode(path, RATE, max_seconds=12.5).shape[0] == pytest.approx(12.5 * RATE, abs=2)


def test_decoder_has_a_wall_clock_limit(tmp_path: Path) -> None:
    path = encode(synth_music(30.0), tmp_path / "slow.flac")
    with pytest.raises(DecodeTimeoutError) as caught:
        decode(path, RATE, timeout=0.001)
    assert "longer than" in caught.value.reason


def test_too_short_and_silent_tracks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TooShortError) as short:
        check_analysable(decode(encode(tone(2.0), tmp_path / "short.mp3"), RATE), RATE)
    assert "2.0 s" in short.value.reason and "3 s" in short.value.reason
    silent = encode(np.zeros(44_100 * 5, np.float32), tmp_path / "silent.mp3")
    with pytest.raises(SilentError):
        check_analysable(decode(silent, RATE), RATE)
    with pytest.raises(SilentError):
        check_analysable(np.full(RATE * 5, 1e-5, np.float32), RATE)


def test_missing_file_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(NotAudioError) as caught:
        decode(tmp_path / "nowhere.mp3", RATE)
    assert "nowhere.mp3" in caught.value.reason


@pytest.mark.parametrize("level", [0.01, 0.05, 0.3, 0.9])
def test_loudness_is_normalised_to_the_target(level: float) -> None:
    audio = synth_music(5.0, sample_rate=RATE) / 0.3 * level
    normalised = normalise_loudness(audio)
    assert rms(normalised) == pytest.approx(TARGET_RMS, rel=0.05)
    assert np.max(np.abs(normalised)) <= 1.0
    assert normalised.dtype == np.float32


# --- decompression bombs: tiny files whose headers make ffmpeg allocate gigabytes -------------

ROOT = Path(__file__).resolve().parents[2]

# Decodes one file in a fresh interpreter and prints the outcome, then the peak resident memory
# (KiB) of the processes it waited for, ffmpeg being the only one: a clean measure of ffmpeg.
# `unchecked` skips the header check, to show the memory ceiling on its own.
PEAK_PROBE = """
import resource, sys
from pathlib import Path
from core import audio
from core.errors import NotAudioError
path, unchecked = Path(sys.argv[1]), sys.argv[2] == "unchecked"
try:
    if unchecked:
        audio._run_ffmpeg(path, 16000, 600.0, 120.0, audio.SUM_TO_MONO)
    else:
        audio.decode(path, 16000)
    print("decoded")
except NotAudioError as error:
    print("refused:", error.reason)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def one_hertz_bomb(path: Path) -> Path:
    """The issue's file: 400 KB of noise declared as 1 Hz audio (frames of 16384 s in flac)."""
    frame = ["-frame_size", "16384"] if path.suffix in (".flac", ".mka") else []
    codec = "pcm_s16le" if path.suffix == ".wav" else "flac"
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "s16le", "-ar", "1", "-ac", "1",
        "-i", "pipe:0", "-c:a", codec, *frame, str(path),
    ]  # fmt: skip
    noise = np.random.default_rng(7).bytes(400_000)
    subprocess.run(command, input=noise, check=True)
    return path


def decode_in_fresh_process(path: Path, unchecked: bool = False) -> tuple[str, float]:
    """(outcome line, ffmpeg's peak resident MB) of decoding `path` in a new interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(path), "unchecked" if unchecked else "checked"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome, peak_kib = result.stdout.strip().splitlines()[-2:]
    return outcome, int(peak_kib) / 1024


@pytest.mark.parametrize("suffix", [".flac", ".wav"])
def test_an_absurd_header_is_refused_before_ffmpeg_runs(tmp_path: Path, suffix: str) -> None:
    path = one_hertz_bomb(tmp_path / f"bomb{suffix}")
    outcome, peak_mb = decode_in_fresh_process(path)
    print(
        f"\n1 Hz {suffix} ({path.stat().st_size // 1000} KB) through decode(): {outcome}; "
        f"ffmpeg peak {peak_mb:.0f} MB"
    )
    assert outcome.startswith("refused:") and "1 Hz" in outcome, outcome
    assert "not audio" in outcome
    assert peak_mb < 1024, f"ffmpeg peak {peak_mb:.0f} MB"


@pytest.mark.parametrize("suffix", [".flac", ".wav", ".mka"])
def test_ffmpeg_runs_under_a_memory_ceiling(tmp_path: Path, suffix: str) -> None:
    # mutagen cannot read Matroska, so the 1 Hz .mka reaches ffmpeg even through decode(); the
    # .flac and .wav skip the header check here to show the ceiling on its own
    path = one_hertz_bomb(tmp_path / f"bomb{suffix}")
    outcome, peak_mb = decode_in_fresh_process(path, unchecked=suffix != ".mka")
    print(f"\n1 Hz {suffix} through ffmpeg: {outcome}; ffmpeg peak {peak_mb:.0f} MB")
    assert outcome.startswith("refused:") and "not audio" in outcome, outcome
    assert peak_mb < 1024, f"ffmpeg peak {peak_mb:.0f} MB"


@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (8_000, 1), (96_000, 6), (384_000, 8)])
def test_sane_headers_at_the_edges_of_the_ranges_decode(
    tmp_path: Path, rate: int, channels: int
) -> None:
    path = encode(tone(3.5, rate=rate), tmp_path / "edge.flac", sample_rate=rate, channels=channels)
    assert decode(path, RATE).shape[0] == pytest.approx(3.5 * RATE, abs=RATE // 10)


def test_too_many_channels_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.wav"
    with wave.open(str(path), "wb") as file:  # ffmpeg will not encode 12 unnamed channels
        file.setnchannels(12)
        file.setsampwidth(2)
        file.setframerate(44_100)
        file.writeframes((np.tile(tone(3.5), (12, 1)).T * 32767).astype("<i2").tobytes())
    with pytest.raises(NotAudioError) as caught:
        decode(path, RATE)
    assert "12 channels" in caught.value.reason and "not audio" in caught.value.reason
