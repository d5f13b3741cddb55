"""Our Keras 3 ports against the musicnn package's own TF1 graph and preprocessing."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, synth_music
from musicnn_reference import run_reference

from core.audio import decode
from core.constants import (
    MUSICNN_LAYERS,
    MUSICNN_MEL_BANDS,
    MUSICNN_PATCH_FRAMES,
    MUSICNN_SAMPLE_RATE,
)
from core.errors import ModelFileError
from core.models.musicnn import (
    MSD_MUSICNN,
    MSD_VGG,
    MusicnnModel,
    MusicnnVariant,
    build_musicnn,
    build_vgg,
    checkpoint_folder,
    log_mel,
)
from core.patch_selection import frame_patches

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    """Real log-mel patches of synthetic music plus a loud one: (5, 187, 96)."""
    audio = synth_music(9.5, sample_rate=MUSICNN_SAMPLE_RATE, seed=3)
    music = frame_patches(log_mel(audio), MUSICNN_PATCH_FRAMES)[:3]
    loud = log_mel(np.clip(4 * synth_music(3.1, MUSICNN_SAMPLE_RATE, seed=4), -1, 1))
    noise = np.random.default_rng(0).uniform(0, 4, (1, MUSICNN_PATCH_FRAMES, 96))
    return np.concatenate([music, loud[None, :MUSICNN_PATCH_FRAMES], noise]).astype(np.float32)


def test_vgg_port_equals_the_package_graph(patches: np.ndarray, vgg_model: MusicnnModel) -> None:
    pool5, tags = run_reference(
        checkpoint_folder(MSD_VGG), patches, ["model/Flatten/flatten/Reshape", "model/Sigmoid"]
    )
    ours = vgg_model.predict(patches)
    assert ours.embeddings.shape == (5, 256) and ours.tags.shape == (5, 50)
    np.testing.assert_allclose(ours.embeddings, pool5, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours.tags, tags, atol=TOLERANCE, rtol=0)
    assert np.ptp(ours.tags) > 0.1  # real, varied outputs, not a degenerate constant


def test_musicnn_port_equals_the_package_graph(patches: np.ndarray) -> None:
    penultimate, tags, mean_pool, max_pool = run_reference(
        checkpoint_folder(MSD_MUSICNN),
        patches,
        [
            "model/batch_normalization_10/batchnorm/add_1",
            "model/Sigmoid",
            "model/moments/mean",
            "model/Max",
        ],
    )
    ours = MusicnnModel("msd-musicnn").predict(patches)
    assert ours.embeddings.shape == (5, 200)
    np.testing.assert_allclose(ours.embeddings, penultimate, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours.tags, tags, atol=TOLERANCE, rtol=0)
    for layer, reference in (("mean_pool", mean_pool), ("max_pool", max_pool)):
        pooled = MusicnnModel("msd-musicnn", layer).predict(patches).embeddings
        # pooled features reach ~100; compare relative to their scale
        np.testing.assert_allclose(pooled, reference.reshape(5, 753), atol=TOLERANCE, rtol=1e-5)


PACKAGE_FEATURES = """
import json, sys
import numpy as np
from musicnn.extractor import batch_data
batch, spectrogram = batch_data(sys.argv[1], 187, 187)
np.save(sys.argv[2], spectrogram.astype(np.float32))
"""


def package_log_mel(path: Path, out: Path) -> np.ndarray:
    """The package's own preprocessing, in a subprocess: importing musicnn.extractor switches
    TensorFlow to graph mode for the whole process."""
    subprocess.run([sys.executable, "-c", PACKAGE_FEATURES, str(path), str(out)], check=True)
    return np.load(out)


def test_preprocessing_matches_the_package(tmp_path: Path) -> None:
    # a 16 kHz wav: librosa and ffmpeg then read identical samples, no resampler involved;
    # quiet enough (peak −30 dBFS) that the package's float16 arithmetic does not overflow
    quiet = 0.1 * synth_music(7.0, MUSICNN_SAMPLE_RATE, seed=5)
    wav = encode(quiet, tmp_path / "a.wav", MUSICNN_SAMPLE_RATE)
    theirs = package_log_mel(wav, tmp_path / "theirs.npy")
    ours = log_mel(decode(wav, MUSICNN_SAMPLE_RATE))
    assert ours.shape == theirs.shape == (1 + 7 * MUSICNN_SAMPLE_RATE // 256, 96)
    # the package rounds to float16: agreement to float16 precision (≈0.004 near 4)
    np.testing.assert_allclose(ours, theirs, atol=5e-3, rtol=1e-3)


def test_loud_audio_overflows_the_package_but_not_us(tmp_path: Path) -> None:
    square = np.sign(np.sin(2 * np.pi * 110 * np.arange(4 * MUSICNN_SAMPLE_RATE) / 16_000))
    wav = encode(square.astype(np.float32), tmp_path / "loud.wav", MUSICNN_SAMPLE_RATE)
    theirs = package_log_mel(wav, tmp_path / "theirs.npy")
    ours = log_mel(decode(wav, MUSICNN_SAMPLE_RATE))
    assert np.isinf(theirs).any()  # the float16 overflow the package suffers
    assert np.isfinite(ours).all()
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], atol=5e-3, rtol=1e-3)


def test_checkpoint_files_are_verified_by_sha256() -> None:
    tampered = MusicnnVariant(
        checkpoint=MSD_VGG.checkpoint,
        sha256={".index": "0" * 64},
    )
    with pytest.raises(ModelFileError, match="sha256"):
        checkpoint_folder(tampered)
    missing = MusicnnVariant("MSD_nothing", {".index": "0" * 64})
    with pytest.raises(ModelFileError, match="missing"):
        checkpoint_folder(missing)


def test_unknown_layers_and_architectures_are_refused() -> None:
    with pytest.raises(ValueError, match="no layer"):
        MusicnnModel("msd-vgg", "penultimate")
    with pytest.raises(ValueError, match="unknown"):
        MusicnnModel("mtt-vgg")


@pytest.mark.parametrize("architecture", ["msd-vgg", "msd-musicnn"])
def test_the_layer_widths_in_the_spec_table_are_the_networks(architecture: str) -> None:
    # core.models.spec states the widths without building a network (vector_size, the
    # evaluation's mean_pool/max_pool split); here they are checked against the network itself
    network = build_vgg() if architecture == "msd-vgg" else build_musicnn()
    outputs = network(np.zeros((1, MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS), np.float32))
    widths = {name: int(value.shape[-1]) for name, value in outputs.items() if name != "logits"}
    if architecture == "msd-musicnn":
        widths["mean_max_pool"] = widths["mean_pool"] + widths["max_pool"]
    assert widths == MUSICNN_LAYERS[architecture]
