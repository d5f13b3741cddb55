"""Excerpts: centred, audible, and made from the channels' difference when their sum cancels."""

from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, synth_music

from core.audio import decode, rms
from core.errors import SilentError
from evaluation.excerpts import excerpt_start, make_excerpt


def test_excerpts_are_centred() -> None:
    assert excerpt_start(100.0) == 42.5
    assert excerpt_start(10.0) == 0.0  # shorter than an excerpt: the whole track


def test_excerpts_skip_a_silent_middle_and_survive_inverted_channels(tmp_path: Path) -> None:
    sr = 44_100
    music = synth_music(5.0, sample_rate=sr, seed=3)
    gap = np.zeros(30 * sr, np.float32)
    # 5 s music, 30 s silence, 5 s music: the middle 15 s (12.5–27.5 s) are silent; the first
    # audible stretch stepping outwards from it starts at 2.5 s
    gapped = encode(np.concatenate([music, gap, music]), tmp_path / "gapped.mp3")
    excerpt = make_excerpt(gapped, tmp_path / "gapped-excerpt.mp3", 40.0)
    audio = decode(excerpt, 16_000)
    assert len(audio) / 16_000 == pytest.approx(15.0, abs=0.1)
    assert rms(audio[: 2 * 16_000]) > 0.01 and rms(audio[4 * 16_000 :]) < 1e-4

    # right channel = −left: a plain mono downmix is silence, the channels' difference is not
    inverted = encode(
        synth_music(20.0, sample_rate=sr, seed=4),
        tmp_path / "inverted.mp3",
        channels=2,
        extra=["-af", "pan=stereo|c0=c0|c1=-1*c0"],
    )
    assert rms(decode(inverted, 16_000)) > 0.01  # what the bot hears, via its own fallback
    assert rms(decode(make_excerpt(inverted, tmp_path / "inv-excerpt.mp3", 20.0), 16_000)) > 0.01

    silent = encode(np.zeros(20 * sr, np.float32), tmp_path / "silent.mp3")
    with pytest.raises(SilentError):
        make_excerpt(silent, tmp_path / "silent-excerpt.mp3", 20.0)
