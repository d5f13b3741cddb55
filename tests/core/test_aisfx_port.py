"""The aisfx port against the original: PyTorch's outputs (stored once by
make_aisfx_reference.py) and the package's own librosa front end, run here."""

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from core.audio import decode
from core.constants import AISFX_BLOCK_FRAMES, AISFX_MEL_BANDS, AISFX_SAMPLE_RATE
from core.models.aisfx import (
    CHANNELS,
    AisfxModel,
    block_count,
    checkpoint_path,
    chosen_blocks,
    embedding_weights,
    log_mel,
)
from core.patch_selection import evenly_spaced, frame_patches

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden" / "warm_ink_excerpt.mp3"
REFERENCE = HERE / "aisfx_reference.npz"
RELATIVE_TOLERANCE = 1e-5  # of the largest embedding value; float32 conv order differs


@pytest.fixture(scope="module")
def model() -> AisfxModel:
    return AisfxModel()


@pytest.fixture(scope="module")
def golden_audio() -> np.ndarray:
    return decode(GOLDEN, AISFX_SAMPLE_RATE)


def test_the_checkpoint_reads_without_torch_with_the_architectures_shapes() -> None:
    weights = embedding_weights(checkpoint_path())
    inputs = (1, *CHANNELS[:-1])
    for block, (cin, cout) in enumerate(zip(inputs, CHANNELS, strict=True), start=1):
        assert weights[f"conv_block{block}.conv1.weight"].shape == (cout, cin, 3, 3)
        assert weights[f"conv_block{block}.conv2.weight"].shape == (cout, cout, 3, 3)
        for bn in ("bn1", "bn2"):
            for key in ("weight", "bias", "running_mean", "running_var"):
                value = weights[f"conv_block{block}.{bn}.{key}"]
                assert value.shape == (cout,) and value.dtype == np.float32
                assert np.isfinite(value).all()
    assert len(weights) == 4 * (2 + 2 * 4)
    assert (weights["conv_block4.bn2.running_var"] > 0).all()


def test_the_port_equals_pytorchs_original(model: AisfxModel) -> None:
    stored = np.load(REFERENCE)
    noise = np.random.default_rng(7).uniform(0, 1, (1, 100, 96)).astype(np.float32)
    blocks = np.concatenate([stored["blocks"], noise])
    ours = model.predict(blocks)
    reference = stored["embeddings"]
    assert ours.embeddings.shape == (3, 512) and ours.tags.shape == (3, 0)
    scale = float(np.abs(reference).max())
    difference = float(np.abs(ours.embeddings - reference).max())
    assert difference <= RELATIVE_TOLERANCE * scale, f"max diff {difference:.2e} of {scale:.2f}"
    assert np.ptp(reference[0]) > 0.5  # real, varied outputs


def _package_module(name: str, relative: str) -> ModuleType:
    folder = checkpoint_path().parents[1]
    spec = importlib.util.spec_from_file_location(name, folder / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_front_end_equals_the_packages_librosa_path_on_the_right_axis(
    golden_audio: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's compute_spectrogram on our decoded audio, then its normalisation and
    blocking, with the (bands, frames) orientation fixed by a transpose."""
    spectrogram = _package_module("aisfx_spectrogram", "spectrogram/spectrogram_librosa.py")
    preprocessing = _package_module("aisfx_preprocessing", "preprocessing.py")
    monkeypatch.setattr(
        spectrogram.librosa, "load", lambda path, sr: (golden_audio.copy(), AISFX_SAMPLE_RATE)
    )
    spec = spectrogram.compute_spectrogram("x.mp3", 44100.0, 2048, 1024, 96, 0.0, 22050.0)
    spec = preprocessing.spectrogram_normalize(spec, "original")
    theirs = preprocessing.blocking(spec.T, 100, 100, True)
    ours = frame_patches(log_mel(golden_audio), AISFX_BLOCK_FRAMES)
    assert ours.shape == theirs.shape == (4, AISFX_BLOCK_FRAMES, AISFX_MEL_BANDS)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert ours.min() >= 0.0 and ours.max() < 1.5


def test_chosen_blocks_equal_slicing_the_whole_spectrogram(golden_audio: np.ndarray) -> None:
    whole = frame_patches(log_mel(golden_audio), AISFX_BLOCK_FRAMES)
    assert block_count(golden_audio.shape[0]) == whole.shape[0]
    for cap in (1, 2, 3, 10):
        expected = whole[evenly_spaced(whole.shape[0], cap)]
        np.testing.assert_allclose(chosen_blocks(golden_audio, cap), expected, atol=1e-5)
    assert chosen_blocks(golden_audio[:1000], 4).shape == (0, 100, 96)


def test_real_audio_embeds_to_non_negative_512_d(
    model: AisfxModel, golden_audio: np.ndarray
) -> None:
    blocks = model.chosen_patches(golden_audio, model.max_patches)
    outputs = model.predict(blocks)
    assert outputs.embeddings.shape == (blocks.shape[0], 512)
    assert np.isfinite(outputs.embeddings).all() and outputs.embeddings.min() >= 0
    assert model.predict(blocks[:0]).embeddings.shape == (0, 512)
