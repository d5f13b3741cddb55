"""A classic baseline with no neural network: MFCC and spectral statistics per ≈3-s patch.

It exists so that the evaluation can show what the pretrained CNNs add over hand-made timbre
features. Its vector mixes units (cepstra, kHz, ratios), so it is only meaningful after the
dimensions are standardised over a catalog, which the evaluation does (evaluation.metrics).
"""

from typing import Final

import librosa
import numpy as np
import numpy.typing as npt

from core.constants import MUSICNN_SAMPLE_RATE
from core.models.base import AudioModel, PatchOutputs
from core.patch_selection import frame_patches

# The musicnn models' rate, so that the evaluation decodes a track once for all three models;
# 8 kHz of bandwidth covers what these features describe (timbre, brightness, noisiness).
MFCC_SAMPLE_RATE: Final = MUSICNN_SAMPLE_RATE
MFCC_FFT_SIZE: Final = 1024  # 64 ms windows: 15.6 Hz bins for the mel filters
MFCC_HOP: Final = 512  # 32 ms between frames
MFCC_MEL_BANDS: Final = 64
MFCC_COEFFICIENTS: Final = 20
MFCC_DELTA_WIDTH: Final = 9  # frames in the delta's Savitzky-Golay window
MFCC_PATCH_FRAMES: Final = 94  # 94 · 512 / 16 kHz ≈ 3.0 s, the musicnn patch length
MFCC_ROLLOFF: Final = 0.85  # roll-off frequency: below it lies 85 % of the energy
MFCC_CONTRAST_FMIN: Final = 200.0  # spectral contrast octave bands 200 Hz … 6.4 kHz (< 8 kHz)
MFCC_CONTRAST_BANDS: Final = 5  # 5 octaves + the residual band above → 6 values
MFCC_DB_FLOOR: Final = 1e-10  # power floor of the log-mel (−100 dB), no per-track top_db clip

# Per frame: MFCCs, their deltas, centroid, bandwidth, roll-off, flatness, contrast, ZCR, RMS.
FRAME_FEATURES: Final = 2 * MFCC_COEFFICIENTS + 4 + (MFCC_CONTRAST_BANDS + 1) + 2  # 52


def frame_features(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The per-frame features of mono audio at MFCC_SAMPLE_RATE, shape (n_frames, 52).

    Computed over the whole track at once (one STFT), so deltas see across patch borders.
    Frequencies are in kHz so that no feature dwarfs the others by its unit alone.
    """
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio of shape (n_samples,), got {y.shape}")
    n_frames = 1 + y.size // MFCC_HOP  # centred framing, as librosa counts
    if n_frames < MFCC_DELTA_WIDTH:
        return np.zeros((n_frames if y.size else 0, FRAME_FEATURES), dtype=np.float32)
    sr = MFCC_SAMPLE_RATE
    magnitude = np.abs(librosa.stft(y, n_fft=MFCC_FFT_SIZE, hop_length=MFCC_HOP))
    mel = librosa.feature.melspectrogram(S=magnitude**2, sr=sr, n_mels=MFCC_MEL_BANDS)
    log_mel = librosa.power_to_db(mel, amin=MFCC_DB_FLOOR, top_db=None)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=MFCC_COEFFICIENTS)
    rows = [
        mfcc,
        librosa.feature.delta(mfcc, width=MFCC_DELTA_WIDTH, mode="nearest"),
        librosa.feature.spectral_centroid(S=magnitude, sr=sr) / 1000.0,
        librosa.feature.spectral_bandwidth(S=magnitude, sr=sr) / 1000.0,
        librosa.feature.spectral_rolloff(S=magnitude, sr=sr, roll_percent=MFCC_ROLLOFF) / 1000.0,
        librosa.feature.spectral_flatness(S=magnitude),
        librosa.feature.spectral_contrast(
            S=magnitude, sr=sr, fmin=MFCC_CONTRAST_FMIN, n_bands=MFCC_CONTRAST_BANDS
        ),
        librosa.feature.zero_crossing_rate(y, frame_length=MFCC_FFT_SIZE, hop_length=MFCC_HOP),
        librosa.feature.rms(S=magnitude, frame_length=MFCC_FFT_SIZE),
    ]
    frames = min(row.shape[-1] for row in rows)
    features = np.concatenate([row[:, :frames] for row in rows], axis=0).T
    return np.ascontiguousarray(features, dtype=np.float32)


class MfccModel(AudioModel):
    """Spec "mfcc": mean and standard deviation of the frame features of each patch (104-d)."""

    sample_rate = MFCC_SAMPLE_RATE
    embedding_dim = 2 * FRAME_FEATURES
    tag_names = ()

    def patches(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Consecutive ≈3-s blocks of frame features, shape (n_patches, 94, 52)."""
        return frame_patches(frame_features(audio), MFCC_PATCH_FRAMES)

    def predict(self, patches: npt.NDArray[np.float32]) -> PatchOutputs:
        """Per patch [mean of each feature, its standard deviation], shape (n, 104); no tags."""
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != FRAME_FEATURES:
            raise ValueError(
                f"expected patches of shape (n, frames, {FRAME_FEATURES}), got {x.shape}"
            )
        embeddings = np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)
        n = x.shape[0]
        return PatchOutputs(embeddings.astype(np.float32), np.zeros((n, 0), dtype=np.float32))
