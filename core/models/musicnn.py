"""Keras 3 ports of the pretrained musicnn models trained on the Million Song Dataset.

The `musicnn` package (ISC licence, installed with `pip install --no-deps musicnn==0.1.0`)
ships TensorFlow 1 checkpoints; we only read their values. Layers here carry the checkpoint's
variable scopes as names, so loading is a name lookup. tests/core/test_musicnn_port.py runs the
package's own graph and proves these ports equal it within 1e-4.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import numpy.typing as npt
import soxr

from core.audio import rms
from core.constants import (
    MUSICNN_FFT_SIZE,
    MUSICNN_HOP,
    MUSICNN_LAYERS,
    MUSICNN_LOG_GAIN,
    MUSICNN_MEL_BANDS,
    MUSICNN_PATCH_FRAMES,
    MUSICNN_SAMPLE_RATE,
    PEAK_LIMIT,
    SILENCE_RMS,
    TARGET_RMS,
)
from core.errors import ModelFileError
from core.models.base import AudioModel, PatchOutputs
from core.models.runtime import tensorflow, traced
from core.models.weights import verified_package_file
from core.patch_selection import frame_patches
from core.windows import WindowPlan

# The 50 Million Song Dataset tags, in the order of the models' outputs (musicnn's
# configuration.MSD_LABELS).
MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip


@dataclass(frozen=True)
class MusicnnVariant:
    """One checkpoint of the package: its folder and file digests (its layers: MUSICNN_LAYERS)."""

    checkpoint: str
    sha256: dict[str, str]


MSD_VGG = MusicnnVariant(
    checkpoint="MSD_vgg",
    sha256={
        ".data-00000-of-00001": "9683d756b8311146534f333502ebf4a2a78a3e320c54ab0411dff6186d8375fc",
        ".index": "50e499238457558bba9f34f8b84d4afb8279afd43520cdf0a4fdf805a49c9ca3",
    },
)
MSD_MUSICNN = MusicnnVariant(
    checkpoint="MSD_musicnn",
    sha256={
        ".data-00000-of-00001": "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
        ".index": "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
    },
)
VARIANTS = {"msd-vgg": MSD_VGG, "msd-musicnn": MSD_MUSICNN}


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """musicnn's input representation: log10(10000·mel + 1), shape (n_frames, 96).

    The package rounds the mel power to float16 and takes the log in float16, where 10000·mel
    overflows to inf on loud bins and the model answers NaN. We compute in float32 throughout;
    elsewhere the two agree to float16 precision.
    """
    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=MUSICNN_SAMPLE_RATE,
        hop_length=MUSICNN_HOP,
        n_fft=MUSICNN_FFT_SIZE,
        n_mels=MUSICNN_MEL_BANDS,
    )
    return np.log10(MUSICNN_LOG_GAIN * mel.T.astype(np.float32) + 1.0)


# Samples of one patch with uncentred frames: 186 hops and one FFT (3.008 s at 16 kHz).
PATCH_SPAN = (MUSICNN_PATCH_FRAMES - 1) * MUSICNN_HOP + MUSICNN_FFT_SIZE


def window_log_mel(
    windows: npt.NDArray[np.float32], plan: WindowPlan, level: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """One patch per decoded window (`core.windows`): (n, 187, 96).

    The windows (n, plan.length) at plan.rate are resampled to 16 kHz together (soxr, each
    window a channel), brought to TARGET_RMS by the RMS of `level` (the track's level windows,
    at plan.rate) and clipped as `core.audio.normalise_loudness` does, and the analysed span
    becomes one patch of uncentred frames.
    """
    lead = round(plan.lead * MUSICNN_SAMPLE_RATE / plan.rate)
    if round(plan.span * MUSICNN_SAMPLE_RATE / plan.rate) < PATCH_SPAN:
        raise ValueError("a window span too short for one musicnn patch")
    resampled = np.asarray(
        soxr.resample(
            np.ascontiguousarray(windows.T), plan.rate, MUSICNN_SAMPLE_RATE, quality="HQ"
        ),
        np.float32,
    ).T
    level_rms = rms(level.reshape(-1))
    gain = np.float32(TARGET_RMS / level_rms) if level_rms >= SILENCE_RMS else np.float32(1.0)
    spans = np.clip(resampled[:, lead : lead + PATCH_SPAN] * gain, -PEAK_LIMIT, PEAK_LIMIT)
    mel = librosa.feature.melspectrogram(
        y=np.ascontiguousarray(spans, dtype=np.float32),
        sr=MUSICNN_SAMPLE_RATE,
        hop_length=MUSICNN_HOP,
        n_fft=MUSICNN_FFT_SIZE,
        n_mels=MUSICNN_MEL_BANDS,
        center=False,
    )  # (n, 96, 187)
    features = np.log10(MUSICNN_LOG_GAIN * mel.astype(np.float32) + 1.0)
    return np.ascontiguousarray(features.transpose(0, 2, 1), dtype=np.float32)


def checkpoint_folder(variant: MusicnnVariant) -> Path:
    """The installed musicnn package's folder for `variant`, with its files verified."""
    files = [
        verified_package_file("musicnn", "musicnn==0.1.0", f"{variant.checkpoint}/{name}", digest)
        for name, digest in variant.sha256.items()
    ]
    return files[0].parent


def read_checkpoint(folder: Path) -> dict[str, npt.NDArray[np.float32]]:
    """All variables of a TF1 checkpoint whose files are named `<folder>/.index` etc."""
    tf = tensorflow()
    reader = tf.compat.v1.train.NewCheckpointReader(f"{folder}/")
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _bn(layers: Any, name: str) -> Any:
    # tf.compat.v1.layers.batch_normalization's defaults, which the checkpoints were trained with
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=name)


def build_vgg(n_tags: int = len(MSD_TAGS)) -> Any:
    """MSD_vgg: five 3×3 conv blocks of 128 filters; outputs pool5 (256) and tag logits."""
    import keras
    from keras import layers

    patches = keras.Input((MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS), name="patches")
    x = layers.Reshape((MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS, 1))(patches)
    x = _bn(layers, "batch_normalization")(x)
    # Pool sizes (= strides) as in the trained graph shipped in MSD_vgg/.meta; the package's
    # models.py says (4, 1)/(2, 2) and (2, 2) for the first two, which the checkpoint was not
    # trained with. 187×96 → 46×96 → 46×24 → 23×12 → 11×6 → 2×1.
    for block, pool in enumerate([(4, 1), (1, 4), (2, 2), (2, 2), (4, 4)], start=1):
        x = layers.Conv2D(128, 3, padding="same", activation="relu", name=f"{block}CNN")(x)
        x = _bn(layers, f"batch_normalization_{block}")(x)
        x = layers.MaxPooling2D(pool)(x)
    pool5 = layers.Flatten(name="pool5")(x)
    logits = layers.Dense(n_tags, name="dense")(pool5)
    return keras.Model(patches, {"pool5": pool5, "logits": logits}, name="msd_vgg")


def build_musicnn(n_tags: int = len(MSD_TAGS)) -> Any:
    """MSD_musicnn: timbral + temporal front end, dense residual mid end, pooled back end.

    Outputs penultimate (200), mean_pool and max_pool (753 each) and tag logits.
    """
    import keras
    from keras import layers

    frames, bands = MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS
    patches = keras.Input((frames, bands), name="patches")
    x = layers.Reshape((frames, bands, 1))(patches)
    x = _bn(layers, "batch_normalization")(x)

    def pooled_block(
        inputs: Any, filters: int, kernel: tuple[int, int], padding: str, i: int
    ) -> Any:
        conv_name = "conv2d" if i == 0 else f"conv2d_{i}"
        y = layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=conv_name)(
            inputs
        )
        y = _bn(layers, f"batch_normalization_{i + 1}")(y)
        y = layers.MaxPooling2D((1, y.shape[2]))(y)  # max over the whole frequency axis
        return layers.Reshape((frames, filters))(y)

    time_padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    front = layers.Concatenate(axis=2)(
        [
            pooled_block(time_padded, 204, (7, int(0.4 * bands)), "valid", 0),  # timbral 7×38
            pooled_block(time_padded, 204, (7, int(0.7 * bands)), "valid", 1),  # timbral 7×67
            pooled_block(x, 51, (128, 1), "same", 2),  # temporal, 128 frames
            pooled_block(x, 51, (64, 1), "same", 3),
            pooled_block(x, 51, (32, 1), "same", 4),
        ]
    )  # (frames, 561)

    def mid_layer(inputs: Any, i: int) -> Any:
        # conv over all channels of 7 frames, then back to (frames, 64, 1)
        y = layers.ZeroPadding2D(((3, 3), (0, 0)))(inputs)
        y = layers.Conv2D(64, (7, y.shape[2]), activation="relu", name=f"conv2d_{i}")(y)
        y = _bn(layers, f"batch_normalization_{i + 1}")(y)
        return layers.Permute((1, 3, 2))(y)

    front_map = layers.Reshape((frames, front.shape[2], 1))(front)
    mid1 = mid_layer(front_map, 5)
    mid2 = layers.Add()([mid_layer(mid1, 6), mid1])
    mid3 = layers.Add()([mid_layer(mid2, 7), mid2])
    mid = layers.Concatenate(axis=2)([front_map, mid1, mid2, mid3])  # (frames, 753, 1)
    mid = layers.Reshape((frames, mid.shape[2]))(mid)

    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(mid)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(mid)
    # the package interleaves the two per feature: [max_0, mean_0, max_1, mean_1, ...]
    stacked = layers.Concatenate(axis=2)(
        [layers.Reshape((-1, 1))(max_pool), layers.Reshape((-1, 1))(mean_pool)]
    )
    x = layers.Flatten()(stacked)
    x = _bn(layers, "batch_normalization_9")(x)
    x = layers.Dense(200, activation="relu", name="dense")(x)
    penultimate = _bn(layers, "batch_normalization_10")(x)
    logits = layers.Dense(n_tags, name="dense_1")(penultimate)
    return keras.Model(
        patches,
        {
            "penultimate": penultimate,
            "mean_pool": mean_pool,
            "max_pool": max_pool,
            "logits": logits,
        },
        name="msd_musicnn",
    )


def load_weights(model: Any, values: dict[str, npt.NDArray[np.float32]]) -> None:
    """Give every weighted layer the checkpoint values stored under its name."""
    for layer in model.layers:
        if not layer.weights:
            continue
        names = [f"{layer.name}/{w.path.rsplit('/', 1)[-1]}" for w in layer.weights]
        missing = [name for name in names if name not in values]
        if missing:
            raise ModelFileError(f"checkpoint lacks {', '.join(missing)}")
        for weight, name in zip(layer.weights, names, strict=True):
            if tuple(weight.shape) != values[name].shape:
                raise ModelFileError(
                    f"{name}: checkpoint shape {values[name].shape}, model {tuple(weight.shape)}"
                )
        layer.set_weights([values[name] for name in names])


class MusicnnModel(AudioModel):
    """A ported MSD model serving one embedding layer (plus the 50 tag probabilities)."""

    sample_rate = MUSICNN_SAMPLE_RATE
    tag_names = MSD_TAGS

    def __init__(self, architecture: str = "msd-vgg", layer: str | None = None) -> None:
        if architecture not in VARIANTS:
            raise ValueError(f"unknown musicnn architecture {architecture!r}")
        variant, layers = VARIANTS[architecture], MUSICNN_LAYERS[architecture]
        self.layer = layer or next(iter(layers))
        if self.layer not in layers:
            raise ValueError(f"{architecture} has no layer {self.layer!r}")
        self.embedding_dim = layers[self.layer]

        tf = tensorflow()
        build = build_vgg if architecture == "msd-vgg" else build_musicnn
        self.network = build()
        load_weights(self.network, read_checkpoint(checkpoint_folder(variant)))
        signature = [tf.TensorSpec([None, MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS], tf.float32)]
        self._forward = traced(self._outputs, signature)

    def _outputs(self, patches: Any) -> tuple[Any, Any]:
        import keras

        outputs = self.network(patches, training=False)
        if self.layer == "mean_max_pool":
            embedding = keras.ops.concatenate([outputs["mean_pool"], outputs["max_pool"]], axis=1)
        else:
            embedding = outputs[self.layer]
        return embedding, keras.ops.sigmoid(outputs["logits"])

    def patches(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Non-overlapping ≈3 s log-mel patches, shape (n_patches, 187, 96)."""
        return frame_patches(log_mel(audio), MUSICNN_PATCH_FRAMES)

    def window_patches(
        self, windows: npt.NDArray[np.float32], plan: WindowPlan, level: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """The patches of decoded windows (`window_log_mel`)."""
        return window_log_mel(windows, plan, level)

    def predict(self, patches: npt.NDArray[np.float32]) -> PatchOutputs:
        """Embeddings (n, embedding_dim) and tag probabilities (n, 50) in one forward pass."""
        if patches.shape[0] == 0:
            return PatchOutputs(
                np.zeros((0, self.embedding_dim), np.float32),
                np.zeros((0, len(self.tag_names)), np.float32),
            )
        embedding, tags = self._forward(np.ascontiguousarray(patches, dtype=np.float32))
        return PatchOutputs(
            np.asarray(embedding, dtype=np.float32), np.asarray(tags, dtype=np.float32)
        )
