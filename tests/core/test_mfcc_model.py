"""The no-neural-network baseline: shapes, sanity of the features, determinism."""

import numpy as np
import numpy.typing as npt
import pytest
from audio_factory import STYLES, synth_music

from core.embedding import embed_audio
from core.models import parse_model_spec
from core.models.mfcc import (
    FRAME_FEATURES,
    MFCC_COEFFICIENTS,
    MFCC_PATCH_FRAMES,
    MFCC_SAMPLE_RATE,
    MfccModel,
    frame_features,
)
from evaluation.metrics import Standardiser, similarities

SR = MFCC_SAMPLE_RATE
CENTROID = 2 * MFCC_COEFFICIENTS  # column of the spectral centroid, after MFCCs and deltas
FLATNESS = CENTROID + 3
ZCR = FRAME_FEATURES - 2


def sine(hz: float, seconds: float) -> npt.NDArray[np.float32]:
    t = np.arange(int(seconds * SR)) / SR
    return (0.1 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_spec_mfcc_loads_it_and_the_shapes_hold() -> None:
    model = parse_model_spec("mfcc").load()
    assert isinstance(model, MfccModel)
    assert model.model_id == "mfcc-stats@fe1" and model.tag_names == ()
    assert model.sample_rate == SR and model.embedding_dim == 2 * FRAME_FEATURES == 104
    patches = model.patches(synth_music(10.0, sample_rate=SR))
    assert patches.shape == (3, MFCC_PATCH_FRAMES, FRAME_FEATURES)  # 10 s ≈ 3.3 patches of 3 s
    outputs = model.predict(patches[:2])
    assert outputs.embeddings.shape == (2, 104) and outputs.embeddings.dtype == np.float32
    assert outputs.tags.shape == (2, 0)


def test_audio_shorter_than_a_patch_gives_no_patches() -> None:
    model = MfccModel()
    assert model.patches(sine(440, 2.0)).shape == (0, MFCC_PATCH_FRAMES, FRAME_FEATURES)
    assert model.patches(np.zeros(0, np.float32)).shape[0] == 0
    with pytest.raises(ValueError, match="mono"):
        model.patches(np.zeros((2, SR), np.float32))


def test_features_measure_what_they_are_named_for() -> None:
    tone = frame_features(sine(1000, 4.0))[5:-5]  # away from the padded edges
    # a 1 kHz sine: centroid at 1 kHz, two zero crossings per period (2000 / 16000 per sample)
    assert np.median(tone[:, CENTROID]) == pytest.approx(1.0, abs=0.05)
    assert np.median(tone[:, ZCR]) == pytest.approx(2000 / SR, abs=0.01)
    noise = np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32) * 0.1
    hiss = frame_features(noise)[5:-5]
    # white noise is spectrally flat and bright; a sine is neither
    assert np.median(hiss[:, FLATNESS]) > 100 * np.median(tone[:, FLATNESS])
    assert np.median(hiss[:, CENTROID]) > 3.0


def test_vectors_are_finite_with_silence_and_deterministic() -> None:
    model = MfccModel()
    audio = np.concatenate([np.zeros(4 * SR, np.float32), synth_music(8.0, sample_rate=SR)])
    first = model.predict(model.patches(audio)).embeddings
    second = model.predict(model.patches(audio.copy())).embeddings
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)
    embedding = embed_audio(audio, model)
    assert embedding.vector.shape == (104,)
    assert np.linalg.norm(embedding.vector) == pytest.approx(1.0, abs=1e-5)


def test_tracks_of_one_style_are_nearer_each_other_than_other_styles() -> None:
    model = MfccModel()
    tracks = [
        embed_audio(synth_music(9.0, sample_rate=SR, seed=seed, **STYLES[style]), model).vector
        for style in (0, 1, 2)
        for seed in (1, 2)
    ]
    vectors = np.stack(tracks)
    assert not np.allclose(vectors[0], vectors[2], atol=1e-3)
    # standardised over these six, as the evaluation does: each track's nearest is its twin
    scores = similarities(*(2 * [Standardiser.fit(vectors).apply(vectors)]))
    np.fill_diagonal(scores, -np.inf)
    assert scores.argmax(axis=1).tolist() == [1, 0, 3, 2, 5, 4]
