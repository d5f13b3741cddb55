"""A Keras 3 port of aisfx: the CNN9 embedding network of A.B. Ma and A. Lerch (ISMIR 2022).

The `aisfx` package (CC BY 4.0 per its LICENSE file, installed with
`pip install --no-deps aisfx==0.1.2`) ships a PyTorch checkpoint, `aisfx/models/checkpoint.pth`,
of a network trained on sound-effects libraries (the "X-Sequential-CE" model). PyTorch is not
needed: the checkpoint is a zip of a pickle plus raw tensor storages, which a restricted
unpickler turns into numpy arrays bit for bit (`core.models.torch_checkpoint`).

The network (the DCASE 2018 cross-task baseline's CNN9): four blocks of [3×3 'same' conv without
bias → batch norm (eps 1e-5) → ReLU] × 2, 2×2 max-pool after blocks 1–3, then the mean over the
mel axis and the max over time: 512-d per 100-frame block. Its front end: 44.1 kHz mono, peak
normalised, HTK mel power spectrogram (n_fft 2048, hop 1024, 96 bands, unit-area filters,
0–22050 Hz), log10(10⁴·x + 1) / 9.4578, in blocks of 100 frames (≈ 2.32 s). The package's own
librosa path returns (bands, frames) and then blocks along the band axis; we block along time.
tests/core/test_aisfx_port.py proves the port equal to the original's outputs.
"""

import functools
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal

from core.constants import (
    AISFX_BLOCK_FRAMES,
    AISFX_FFT_SIZE,
    AISFX_HOP,
    AISFX_LOG_GAIN,
    AISFX_LOG_SCALE,
    AISFX_MAX_BLOCKS_PER_TRACK,
    AISFX_MEL_BANDS,
    AISFX_MEL_FMAX,
    AISFX_SAMPLE_RATE,
)
from core.errors import ModelFileError
from core.models.base import AudioModel, PatchOutputs
from core.models.runtime import tensorflow, traced
from core.models.torch_checkpoint import read_checkpoint
from core.models.weights import verified_package_file
from core.patch_selection import evenly_spaced, frame_patches
from core.windows import WindowPlan

CHECKPOINT = "models/checkpoint.pth"
CHECKPOINT_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"
EMBEDDING_DIM = 512
CHANNELS = (64, 128, 256, 512)
BATCH_NORM_EPSILON = 1e-5  # PyTorch's BatchNorm2d default


def checkpoint_path() -> Path:
    """The installed aisfx package's checkpoint, verified by sha256."""
    return verified_package_file("aisfx", "aisfx==0.1.2", CHECKPOINT, CHECKPOINT_SHA256)


def embedding_weights(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """The embedding network's tensors of the checkpoint ("conv_block1.conv1.weight", …)."""
    state = read_checkpoint(path)
    weights = state[0] if isinstance(state, tuple) else state
    prefix = "embedding_net."
    return {
        key.removeprefix(prefix): value
        for key, value in weights.items()
        if key.startswith(prefix) and not key.endswith("num_batches_tracked")
    }


def peak_gain(audio: npt.NDArray[np.float32]) -> np.float32:
    """The factor that brings the track's peak to 1 (1 for silence)."""
    peak = float(np.max(np.abs(audio))) if audio.shape[0] else 0.0
    return np.float32(1.0 / peak) if peak > 0 else np.float32(1.0)


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """aisfx's input: peak-normalised audio → log mel, shape (n_frames, 96), time first.

    Frames are centred (librosa's default: frame t is centred on sample t·hop, zero padding).
    """
    return _log_mel(audio * peak_gain(audio), center=True)


def block_count(samples: int) -> int:
    """How many whole 100-frame blocks `log_mel` gives for audio of `samples` samples."""
    return (1 + samples // AISFX_HOP) // AISFX_BLOCK_FRAMES


def chosen_blocks(audio: npt.NDArray[np.float32], cap: int) -> npt.NDArray[np.float32]:
    """The blocks of `log_mel(audio)` at `evenly_spaced(block_count, cap)`, computing the
    spectrogram of those stretches only, in one batched FFT: (≤ cap, 100, 96), equal to slicing
    the whole (within float32 rounding; tests/core/test_aisfx_port.py)."""
    gain = peak_gain(audio)
    half = AISFX_FFT_SIZE // 2
    span = (AISFX_BLOCK_FRAMES - 1) * AISFX_HOP + AISFX_FFT_SIZE
    chosen = evenly_spaced(block_count(audio.shape[0]), cap)
    if chosen.shape[0] == 0:
        return np.zeros((0, AISFX_BLOCK_FRAMES, AISFX_MEL_BANDS), np.float32)
    segments = np.zeros((chosen.shape[0], span), np.float32)
    for row, block in enumerate(chosen):
        start = int(block) * AISFX_BLOCK_FRAMES * AISFX_HOP - half  # in the unpadded signal
        lo, hi = max(start, 0), min(start + span, audio.shape[0])
        segments[row, lo - start : hi - start] = audio[lo:hi]
    segments *= gain
    return block_features(segments)


# Samples of one block: 99 hops and one FFT, what `block_features` takes per row.
BLOCK_SPAN = (AISFX_BLOCK_FRAMES - 1) * AISFX_HOP + AISFX_FFT_SIZE


def block_features(segments: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Log-mel blocks of level-normalised audio segments (n, BLOCK_SPAN), in one batched FFT,
    frames uncentred: (n, 100, 96)."""
    frames = np.lib.stride_tricks.sliding_window_view(segments, AISFX_FFT_SIZE, axis=1)
    frames = frames[:, ::AISFX_HOP] * _window()  # (blocks, 100, n_fft)
    spectrum = scipy.fft.rfft(frames, axis=-1)
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    mel = power.astype(np.float32) @ _mel_basis().T  # (blocks, 100, 96)
    features = np.log10(np.float32(AISFX_LOG_GAIN) * mel + np.float32(1.0))
    return (features / np.float32(AISFX_LOG_SCALE)).astype(np.float32)


def window_blocks(
    windows: npt.NDArray[np.float32], lead: int, span: int, level: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """One block from the middle of each window's analysed span (`core.windows`), peak-
    normalised by the peak of `level` (the track's level windows): (n, 100, 96)."""
    if span < BLOCK_SPAN:
        raise ValueError(f"a window span of {span} samples cannot hold a block")
    start = lead + (span - BLOCK_SPAN) // 2
    segments = windows[:, start : start + BLOCK_SPAN] * peak_gain(level.reshape(-1))
    return block_features(np.ascontiguousarray(segments, dtype=np.float32))


@functools.cache
def _window() -> npt.NDArray[np.float32]:
    """librosa's STFT window: a periodic Hann of n_fft samples."""
    return np.asarray(
        scipy.signal.get_window("hann", AISFX_FFT_SIZE, fftbins=True), dtype=np.float32
    )


@functools.cache
def _mel_basis() -> npt.NDArray[np.float32]:
    """The mel filterbank of `log_mel`, (96, n_fft / 2 + 1)."""
    return np.asarray(
        librosa.filters.mel(
            sr=AISFX_SAMPLE_RATE,
            n_fft=AISFX_FFT_SIZE,
            n_mels=AISFX_MEL_BANDS,
            fmin=0.0,
            fmax=AISFX_MEL_FMAX,
            htk=True,
            norm=1.0,
        ),
        dtype=np.float32,
    )


def _log_mel(audio: npt.NDArray[np.float32], center: bool) -> npt.NDArray[np.float32]:
    mel = librosa.feature.melspectrogram(
        y=audio,
        center=center,
        sr=AISFX_SAMPLE_RATE,
        n_fft=AISFX_FFT_SIZE,
        hop_length=AISFX_HOP,
        n_mels=AISFX_MEL_BANDS,
        fmin=0.0,
        fmax=AISFX_MEL_FMAX,
        htk=True,
        norm=1.0,
        power=2.0,
    )
    features = np.log10(np.float32(AISFX_LOG_GAIN) * mel.T.astype(np.float32) + np.float32(1.0))
    return (features / np.float32(AISFX_LOG_SCALE)).astype(np.float32)


def build_network() -> Any:
    """The CNN9 embedding network: (n, 100, 96) blocks → (n, 512)."""
    import keras
    from keras import layers

    blocks = keras.Input((AISFX_BLOCK_FRAMES, AISFX_MEL_BANDS), name="blocks")
    x = layers.Reshape((AISFX_BLOCK_FRAMES, AISFX_MEL_BANDS, 1))(blocks)
    for block, channels in enumerate(CHANNELS, start=1):
        for conv in (1, 2):
            x = layers.Conv2D(
                channels, 3, padding="same", use_bias=False, name=f"conv_block{block}.conv{conv}"
            )(x)
            x = layers.BatchNormalization(
                epsilon=BATCH_NORM_EPSILON, name=f"conv_block{block}.bn{conv}"
            )(x)
            x = layers.ReLU()(x)
        if block < len(CHANNELS):
            x = layers.MaxPooling2D((2, 2))(x)
    x = keras.ops.mean(x, axis=2)  # over the mel axis: (n, time, 512)
    embedding = keras.ops.max(x, axis=1)  # over time
    return keras.Model(blocks, embedding, name="aisfx_cnn9")


def load_weights(network: Any, weights: dict[str, npt.NDArray[np.float32]]) -> None:
    """Give each conv and batch-norm layer its PyTorch tensors, in Keras layout."""
    for layer in network.layers:
        if not layer.weights:
            continue
        name = layer.name
        try:
            if ".conv" in name:
                # PyTorch (out, in, kh, kw) → Keras (kh, kw, in, out)
                values = [weights[f"{name}.weight"].transpose(2, 3, 1, 0)]
            else:
                values = [
                    weights[f"{name}.{key}"]
                    for key in ("weight", "bias", "running_mean", "running_var")
                ]
        except KeyError as error:
            raise ModelFileError(f"the aisfx checkpoint lacks {error.args[0]}") from error
        for weight, value in zip(layer.weights, values, strict=True):
            if tuple(weight.shape) != value.shape:
                raise ModelFileError(
                    f"{name}: checkpoint shape {value.shape}, model {tuple(weight.shape)}"
                )
        layer.set_weights([v.astype(np.float32) for v in values])


class AisfxModel(AudioModel):
    """The ported aisfx network: 512-d embeddings of ≈ 2.3-s blocks, no tags."""

    sample_rate = AISFX_SAMPLE_RATE
    embedding_dim = EMBEDDING_DIM
    tag_names = ()
    max_patches = AISFX_MAX_BLOCKS_PER_TRACK
    loudness_normalised = False  # its front end normalises the peak

    def __init__(self) -> None:
        tf = tensorflow()
        self.network = build_network()
        load_weights(self.network, embedding_weights(checkpoint_path()))
        signature = [tf.TensorSpec([None, AISFX_BLOCK_FRAMES, AISFX_MEL_BANDS], tf.float32)]
        self._forward = traced(lambda blocks: self.network(blocks, training=False), signature)

    def patches(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Non-overlapping 100-frame blocks of the log mel, shape (n_blocks, 100, 96)."""
        return frame_patches(log_mel(audio), AISFX_BLOCK_FRAMES)

    def chosen_patches(self, audio: npt.NDArray[np.float32], cap: int) -> npt.NDArray[np.float32]:
        """The evenly spaced blocks, the spectrogram computed for them only."""
        return chosen_blocks(audio, cap)

    def window_patches(
        self, windows: npt.NDArray[np.float32], plan: WindowPlan, level: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """The blocks of decoded windows (n, plan.length) at 44.1 kHz (`window_blocks`)."""
        if plan.rate != self.sample_rate:
            raise ValueError(f"aisfx windows are decoded at {self.sample_rate} Hz")
        return window_blocks(windows, plan.lead, plan.span, level)

    def predict(self, patches: npt.NDArray[np.float32]) -> PatchOutputs:
        """Embeddings (n, 512); no tags (n, 0)."""
        if patches.shape[0] == 0:
            return PatchOutputs(
                np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros((0, 0), np.float32)
            )
        embedding = self._forward(np.ascontiguousarray(patches, dtype=np.float32))
        values = np.asarray(embedding, dtype=np.float32)
        return PatchOutputs(values, np.zeros((values.shape[0], 0), np.float32))
