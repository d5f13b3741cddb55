"""Windowed decoding (core/windows.py, core.audio.decode_windows, core.audio.load_windows):
the windows are the whole decode's, tracks that must be decoded whole are, and the guard rails
still refuse."""

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from audio_factory import encode, encode_stereo, synth_music
from spies import count_calls

from core import audio as audio_module
from core.audio import (
    ALLOWED_DEMUXERS,
    check_header,
    decode,
    decode_windows,
    load_windows,
)
from core.constants import FFMPEG_MEMORY_CEILING_BYTES, WINDOW_LEVEL_COUNT, WINDOW_SLOTS
from core.errors import DecodeTimeoutError, NotAudioError, SilentError, TooShortError
from core.windows import (
    WindowPlan,
    Windows,
    level_windows,
    part_windows,
    plan_windows,
    used_windows,
    window_sizes,
)

RATE = 44_100


@pytest.fixture(scope="module")
def music() -> npt.NDArray[np.float32]:
    return synth_music(100.0, seed=3, harmonics=3)


def cut_windows(
    audio: npt.NDArray[np.float32], plan: WindowPlan, which: npt.NDArray[np.intp]
) -> npt.NDArray[np.float32]:
    """The windows `which` of `plan` cut from whole decoded audio, zero past the end: what
    `decode_windows` must return."""
    windows = np.zeros((len(which), plan.length), np.float32)
    for row, index in enumerate(which):
        start = plan.starts[int(index)]
        piece = audio[start : start + plan.length]
        windows[row, : piece.shape[0]] = piece
    return windows


def whole_and_windows(path: Path) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The windows of `path` cut from its whole decode and decoded by themselves (spans only)."""
    whole = decode(path, RATE)
    plan = plan_windows(whole.shape[0], RATE)
    which = used_windows(plan.count, (WINDOW_SLOTS,))
    cut = cut_windows(whole, plan, which)[:, plan.lead :]
    windowed = decode_windows(path, plan, list(which))[:, plan.lead :]
    return cut, windowed


# --- where the windows are --------------------------------------------------------------------


def test_windows_are_evenly_spread_from_start_to_end_without_overlap() -> None:
    samples = 240 * RATE
    plan = plan_windows(samples, RATE)
    assert plan.count == WINDOW_SLOTS
    assert plan.starts[0] == 0 and plan.starts[-1] + plan.length == samples
    gaps = np.diff(plan.starts)
    assert gaps.min() >= plan.length and gaps.max() - gaps.min() <= 1
    assert plan == plan_windows(samples, RATE)  # a duration always gives the same windows


def test_short_tracks_get_fewer_windows_and_too_short_ones_none() -> None:
    lead, span, tail = window_sizes(RATE)
    assert plan_windows(20 * RATE, RATE).count == 20 * RATE // (lead + span + tail)
    assert plan_windows(span, RATE).starts == (0,)  # one window, zero-padded at the end
    assert plan_windows(span - 1, RATE).count == 0


def test_each_part_reads_an_evenly_spaced_subset_and_the_level_windows_are_shared() -> None:
    assert list(level_windows(24)) == [0, 3, 7, 10, 13, 16, 20, 23]
    assert list(used_windows(24, (WINDOW_LEVEL_COUNT, WINDOW_LEVEL_COUNT))) == list(
        level_windows(24)
    )
    assert list(used_windows(24, (6, WINDOW_LEVEL_COUNT))) == list(level_windows(24))
    assert list(used_windows(24, (12, 24))) == list(range(24))
    assert list(used_windows(5, (12,))) == [0, 1, 2, 3, 4]


def test_a_small_cap_reads_level_windows_so_nothing_more_is_decoded() -> None:
    level = level_windows(24)
    assert set(part_windows(24, 8)) <= set(level)
    assert list(used_windows(24, (8, 8))) == list(level)
    assert list(part_windows(24, 24)) == list(range(24))
    assert list(part_windows(5, 8)) == [0, 1, 2, 3, 4]


# --- the windows are the whole decode's -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [("cbr.mp3", []), ("vbr.mp3", ["-q:a", "4"]), ("lossless.flac", [])],
)
def test_windowed_decoding_returns_the_whole_decodes_samples(
    tmp_path: Path, music: npt.NDArray[np.float32], name: str, extra: list[str]
) -> None:
    """Seeking is sample-exact in mp3 (CBR, and VBR with its Xing table) and flac once the lead
    is dropped: what a decoder gets wrong right after a seek (an mp3 frame without its bit
    reservoir, measured < 2,000 samples) lies inside the 0.1-s lead."""
    cut, windowed = whole_and_windows(encode(music, tmp_path / name, channels=2, extra=extra))
    np.testing.assert_allclose(windowed, cut, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "extra"),
    [("aac.m4a", []), ("opus.ogg", []), ("at48k.wav", ["-ar", "48000"])],
)
def test_other_codecs_and_rates_give_the_same_sound_within_a_resampling_phase(
    tmp_path: Path, music: npt.NDArray[np.float32], name: str, extra: list[str]
) -> None:
    """AAC primes its decoder again after a seek, Opus is decoded at 48 kHz and, like a 48-kHz
    wav, resampled window by window, so samples differ by a sub-sample phase (measured:
    relative RMS error ≤ 0.48 in the worst window of opus); the spectrum, which is what the
    models read, stays the same."""
    cut, windowed = whole_and_windows(encode(music, tmp_path / name, channels=2, extra=extra))
    spectra = np.abs(np.fft.rfft(cut, axis=1)), np.abs(np.fft.rfft(windowed, axis=1))
    error = np.linalg.norm(spectra[0] - spectra[1], axis=1) / np.linalg.norm(spectra[0], axis=1)
    assert error.max() < 0.05, error


def test_a_window_past_the_end_of_the_file_is_zero_padded(
    tmp_path: Path, music: npt.NDArray[np.float32]
) -> None:
    path = encode(music[: 10 * RATE], tmp_path / "ten.flac")
    plan = plan_windows(30 * RATE, RATE)  # the header claims 30 s
    windows = decode_windows(path, plan, [0, plan.count - 1])
    assert windows.shape == (2, plan.length)
    assert windows[0].any() and not windows[1].any()


# --- which path load_windows takes ------------------------------------------------------------


def read(path: Path) -> Windows | None:
    """`load_windows` for a windowed model that reads the level windows only."""
    return load_windows(path, RATE, lambda count: used_windows(count, (WINDOW_LEVEL_COUNT,)))


def test_a_long_track_decodes_only_its_windows_and_equals_the_cut_ones(
    tmp_path: Path, music: npt.NDArray[np.float32], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = encode(music, tmp_path / "long.flac")
    whole_decodes = count_calls(monkeypatch, audio_module, "decode")
    windows = read(path)
    assert not whole_decodes and windows is not None
    assert windows.duration == pytest.approx(100.0)
    assert windows.indices.shape[0] == WINDOW_LEVEL_COUNT and windows.plan.count == WINDOW_SLOTS
    cut = cut_windows(decode(path, RATE), windows.plan, windows.indices)
    np.testing.assert_allclose(windows.audio, cut, atol=1e-6)


def test_a_short_track_is_not_read_by_windows(
    tmp_path: Path, music: npt.NDArray[np.float32], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its windows would be more than half of it: it is decoded whole (core.embedding.embed_file),
    as a catalog track is."""
    path = encode(music[: 30 * RATE], tmp_path / "short.mp3")
    windowed = count_calls(monkeypatch, audio_module, "decode_windows")
    assert read(path) is None
    assert not windowed


def test_an_mp3_without_a_xing_header_is_decoded_whole(
    tmp_path: Path, music: npt.NDArray[np.float32], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its length is only mutagen's guess from the first frame (wrong for VBR)."""
    path = encode(music, tmp_path / "bare.mp3", extra=["-q:a", "4", "-write_xing", "0"])
    assert check_header(path) is None
    assert check_header(encode(music, tmp_path / "xing.mp3")) == pytest.approx(100.0, abs=0.1)
    windowed = count_calls(monkeypatch, audio_module, "decode_windows")
    assert read(path) is None
    assert not windowed


def test_phase_inverted_stereo_windows_use_the_channels_difference(
    tmp_path: Path, music: npt.NDArray[np.float32]
) -> None:
    path = encode_stereo(music, -music, tmp_path / "inverted.flac")
    windows = read(path)
    assert windows is not None and np.sqrt(np.mean(np.square(windows.audio))) > 0.01


def test_silent_tracks_are_refused_and_too_short_ones_left_to_the_whole_decode(
    tmp_path: Path,
) -> None:
    with pytest.raises(SilentError):
        read(encode(np.zeros(100 * RATE, np.float32), tmp_path / "s.flac"))
    one_second = encode(np.full(RATE, 0.1, np.float32), tmp_path / "one.flac")
    assert read(one_second) is None
    with pytest.raises(TooShortError):
        decode_checked = decode(one_second, RATE)
        audio_module.check_analysable(decode_checked, RATE)


# --- the guard rails --------------------------------------------------------------------------


def test_every_window_input_is_locked_down_and_the_run_is_capped(
    tmp_path: Path, music: npt.NDArray[np.float32], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = encode(music, tmp_path / "-i http:x.flac")
    seen: list[list[str]] = []
    run = subprocess.run

    def spy(command: list[str], **kwargs: Any) -> Any:
        seen.append(command)
        return run(command, **kwargs)

    monkeypatch.setattr(audio_module.subprocess, "run", spy)
    plan = plan_windows(100 * RATE, RATE)
    assert decode_windows(path, plan, [0, 5, 9]).shape == (3, plan.length)
    (command,) = seen
    assert command[1] == f"--as={FFMPEG_MEMORY_CEILING_BYTES}"
    inputs = [i for i, arg in enumerate(command) if arg == "-i"]
    assert len(inputs) == 3
    for i in inputs:
        assert command[i + 1] == f"file:{path.resolve()}"
        before = command[i - 12 : i]
        assert before[before.index("-protocol_whitelist") + 1] == "file"
        assert before[before.index("-format_whitelist") + 1] == ",".join(ALLOWED_DEMUXERS)


@pytest.mark.parametrize(
    "playlist", ["#EXTM3U\n{target}\n", "ffconcat version 1.0\nfile {target}\n"]
)
def test_playlists_cannot_make_windowed_ffmpeg_read_other_files(
    tmp_path: Path, music: npt.NDArray[np.float32], playlist: str
) -> None:
    target = encode(music[: 5 * RATE], tmp_path / "secret.wav")
    path = tmp_path / "list.mp3"
    path.write_text(playlist.format(target=target))
    with pytest.raises(NotAudioError):
        decode_windows(path, plan_windows(100 * RATE, RATE), [0, 1])


def test_windowed_decoding_has_the_wall_clock_limit(
    tmp_path: Path, music: npt.NDArray[np.float32]
) -> None:
    path = encode(music, tmp_path / "t.flac")
    with pytest.raises(DecodeTimeoutError):
        decode_windows(path, plan_windows(100 * RATE, RATE), list(range(24)), timeout=0.001)


def test_an_absurd_header_is_still_refused_before_any_window_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.wav"
    header = bytearray(encode(np.zeros(RATE, np.float32), tmp_path / "ok.wav").read_bytes())
    header[24:28] = (1).to_bytes(4, "little")  # sample rate: 1 Hz
    path.write_bytes(bytes(header))
    with pytest.raises(NotAudioError, match="sample rate"):
        read(path)
