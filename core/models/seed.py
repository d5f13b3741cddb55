"""The original project's CNN, rebuilt so its old Keras 2 `Model.h5` keeps working.

The network is defined here in code (Keras 3, functional) and the weights are read from the
HDF5 file with h5py, layer by layer, every shape checked: Keras 3 does not reliably read Keras 2
model configs, and a hand-checked load turns a wrong file into a readable `ModelFileError`.

The original rendered a mel spectrogram through matplotlib to grey JPEG images and cut them into
128×128 tiles; the front end here computes the same grey levels numerically.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import h5py
import librosa
import numpy as np
import numpy.typing as npt

from core.models.runtime import tensorflow, traced

tf = tensorflow()  # first, so that TensorFlow's import banner is held back (keras imports it)

import keras  # noqa: E402

from core.constants import (  # noqa: E402
    SEED_FFT_SIZE,
    SEED_HOP,
    SEED_MEL_BANDS,
    SEED_MEL_FMAX,
    SEED_SAMPLE_RATE,
    SEED_TILE_FRAMES,
)
from core.errors import ModelFileError  # noqa: E402
from core.models.base import AudioModel, PatchOutputs  # noqa: E402

# The architecture, as the original defined it. Padding is Keras's default 'valid' throughout:
# 128 →conv7→ 122 →pool→ 61 →conv7/2→ 28 →pool→ 14 →conv3→ 12 →pool→ 6 →conv3→ 4 →pool→ 2,
# so Flatten gives 2·2·512 = 2048 features ('same' would give 8192, and the file's first Dense
# kernel shape tells the two apart: a mismatch is reported by the loader).
_CONV_BLOCKS = ((64, 7, 1), (128, 7, 2), (256, 3, 1), (512, 3, 1))  # filters, kernel, stride
_HIDDEN_UNITS = ((1024, 0.6), (256, 0.5), (64, 0.25))  # units, dropout before the Dense layer
_EMBEDDING_UNITS = 32  # the last hidden layer; its ReLU output is the embedding
_HEAD_UNITS = 8  # the softmax classifier, dropped: its weights are only shape-checked
_INPUT_SHAPE = (SEED_MEL_BANDS, SEED_TILE_FRAMES, 1)

# Mel frames computed per STFT block: a 10-minute track's full complex STFT would take ~0.4 GB.
_MEL_BLOCK_FRAMES = 2048

_FloatArray = npt.NDArray[np.float32]


class SeedModel(AudioModel):
    """The seed CNN with weights from an original `Model.h5` (or random, see `random`).

    Its model id comes from its spec ("seed:PATH"): "seed-" + the first 12 hex digits of the
    file's SHA-256, so vectors from two different weight files never meet in one ranking.
    """

    sample_rate = SEED_SAMPLE_RATE
    embedding_dim = _EMBEDDING_UNITS
    tag_names = ()

    def __init__(self, weights_path: Path | str) -> None:
        """Build the network and load its weights from a Keras 2 HDF5 file.

        Raises ModelFileError for a missing, unreadable, non-HDF5 or wrong-architecture file.
        """
        path = Path(weights_path)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ModelFileError(f"cannot read seed model file {path}: {error}") from error
        network = _build_network()
        _load_weights(network, io.BytesIO(data), str(path))
        self._attach(network)

    @classmethod
    def random(cls, seed: int = 0) -> "SeedModel":
        """The architecture without trained weights: the evaluation's untrained baseline.

        Weights are drawn with numpy from `seed` (Glorot-uniform kernels, zero biases, identity
        batch norm, as Keras initialises them), so "seed-random-<seed>" means the same weights
        on every machine and Keras version.
        """
        model = cls.__new__(cls)
        network = _build_network()
        rng = np.random.default_rng(seed)
        for layer in network.layers:
            for variable in layer.weights:
                variable.assign(_initial_value(variable.name, tuple(variable.shape), rng))
        model._attach(network)
        return model

    def _attach(self, network: keras.Model) -> None:
        self._network = network
        # A traced graph with a batch-free signature: one trace serves every batch size, and
        # small batches skip the per-call overhead of `Model.predict`.
        self._forward = traced(
            lambda x: network(x, training=False),
            [tf.TensorSpec((None, *_INPUT_SHAPE), tf.float32)],
        )

    @property
    def network(self) -> keras.Model:
        """The Keras network, patches in, 32-d embeddings out (for inspection and tests)."""
        return self._network

    def patches(self, audio: _FloatArray) -> _FloatArray:
        """Grey-level mel tiles of mono audio, shape (n, 128, 128, 1), float32 in [0, 1].

        As the original's images: the whole track's dB mel spectrogram is scaled min→max onto
        grey levels 255→0 (loud is dark), rounded to integers as its 8-bit JPEGs were (the JPEG
        artefacts themselves are not reproduced), with the highest mel band in row 0, cut into
        consecutive 128-frame tiles; the incomplete tail is dropped.
        """
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono audio of shape (n_samples,), got {samples.shape}")
        n_frames = 1 + samples.size // SEED_HOP  # librosa's frame count with center=True
        n_tiles = n_frames // SEED_TILE_FRAMES
        if n_tiles == 0:
            return np.zeros((0, *_INPUT_SHAPE), dtype=np.float32)
        db = _mel_db(samples)[::-1]  # row 0 is the highest band, as at the top of an image
        low, high = float(db.min()), float(db.max())
        if high > low:
            grey = np.rint(255.0 * (high - db) / (high - low))
        else:  # a flat spectrogram: matplotlib draws it at the bottom of the colormap, white
            grey = np.full(db.shape, 255.0)
        kept = grey[:, : n_tiles * SEED_TILE_FRAMES]
        tiles = kept.reshape(SEED_MEL_BANDS, n_tiles, SEED_TILE_FRAMES).transpose(1, 0, 2)
        return (tiles[..., np.newaxis] / 255.0).astype(np.float32)

    def predict(self, patches: _FloatArray) -> PatchOutputs:
        """Embeddings (n, 32) of tiles (n, 128, 128, 1), in one forward pass; no tags (n, 0)."""
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != _INPUT_SHAPE:
            raise ValueError(f"expected patches of shape (n, {_INPUT_SHAPE}), got {x.shape}")
        n = x.shape[0]
        if n == 0:
            embeddings = np.zeros((0, self.embedding_dim), dtype=np.float32)
        else:
            embeddings = np.asarray(self._forward(tf.constant(x)), dtype=np.float32)
        return PatchOutputs(embeddings=embeddings, tags=np.zeros((n, 0), dtype=np.float32))


def _build_network() -> keras.Model:
    """The original network up to the 32-unit ReLU layer (the softmax head is left out)."""
    inputs = keras.Input(shape=_INPUT_SHAPE, dtype="float32", name="mel_tile")
    x = inputs
    for i, (filters, size, stride) in enumerate(_CONV_BLOCKS, start=1):
        conv = keras.layers.Conv2D(
            filters, size, strides=stride, activation="relu", name=f"conv{i}"
        )
        x = conv(x)
        x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = keras.layers.AveragePooling2D(2, name=f"conv{i}_pool")(x)
    x = keras.layers.BatchNormalization(name="features_bn")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.BatchNormalization(name="flat_bn")(x)
    for units, rate in _HIDDEN_UNITS:
        x = keras.layers.Dropout(rate, name=f"dropout{units}")(x)
        x = keras.layers.Dense(units, activation="relu", name=f"dense{units}")(x)
    x = keras.layers.Dense(_EMBEDDING_UNITS, activation="relu", name="embedding")(x)
    return keras.Model(inputs, x, name="seed_cnn")


@dataclass(frozen=True)
class _FileLayer:
    """One layer of the HDF5 file that has weights, keyed by short name ("kernel", "gamma")."""

    name: str
    weights: dict[str, npt.NDArray[np.float32]]

    @property
    def kind(self) -> str | None:
        """The Keras layer class these weights fit, told by the weights (names vary by file)."""
        if "gamma" in self.weights or "moving_mean" in self.weights:
            return "BatchNormalization"
        kernel = self.weights.get("kernel")
        if kernel is not None and kernel.ndim == 4:
            return "Conv2D"
        if kernel is not None and kernel.ndim == 2:
            return "Dense"
        return None


def _load_weights(network: keras.Model, source: io.BytesIO, label: str) -> None:
    """Copy a Keras 2 HDF5 file's weights into `network`, matched by layer kind and order.

    Everything is checked before anything is assigned; `label` names the file in errors.
    """
    file_layers = _read_file_layers(source, label)
    ours: dict[str, list[keras.layers.Layer]] = {}
    for layer in network.layers:
        if layer.weights:
            ours.setdefault(type(layer).__name__, []).append(layer)
    theirs: dict[str, list[_FileLayer]] = {kind: [] for kind in ours}
    for file_layer in file_layers:
        kind = file_layer.kind
        if kind is None:
            raise ModelFileError(
                f"{label}: layer '{file_layer.name}' has weights {sorted(file_layer.weights)}, "
                "which belong to no layer of the seed model"
            )
        theirs[kind].append(file_layer)

    # The file may end with the 8-way softmax layer, which we check and leave out.
    dense = theirs["Dense"]
    if len(dense) == len(ours["Dense"]) + 1:
        head = dense.pop()
        _check_shapes(
            head, {"kernel": (_EMBEDDING_UNITS, _HEAD_UNITS), "bias": (_HEAD_UNITS,)}, label
        )

    assignments: list[tuple[keras.Variable, npt.NDArray[np.float32]]] = []
    for kind, layers in ours.items():
        if len(theirs[kind]) != len(layers):
            raise ModelFileError(
                f"{label}: expected {len(layers)} {kind} layers with weights, "
                f"found {len(theirs[kind])} — not the seed model's Model.h5"
            )
        for layer, file_layer in zip(layers, theirs[kind], strict=True):
            variables = {variable.name: variable for variable in layer.weights}
            _check_shapes(file_layer, {n: tuple(v.shape) for n, v in variables.items()}, label)
            assignments += [(v, file_layer.weights[n]) for n, v in variables.items()]
    for variable, value in assignments:
        variable.assign(value)


def _check_shapes(file_layer: _FileLayer, expected: dict[str, tuple[int, ...]], label: str) -> None:
    """Raise ModelFileError unless the file layer has exactly these weights and shapes."""
    if set(file_layer.weights) != set(expected):
        raise ModelFileError(
            f"{label}: layer '{file_layer.name}' has weights {sorted(file_layer.weights)}, "
            f"expected {sorted(expected)}"
        )
    for name, shape in expected.items():
        found = file_layer.weights[name].shape
        if found != shape:
            raise ModelFileError(
                f"{label}: layer '{file_layer.name}' {name} has shape {found}, expected {shape}"
            )


def _read_file_layers(source: io.BytesIO, label: str) -> list[_FileLayer]:
    """The layers with weights of a Keras 2 HDF5 file, in file order.

    A full model file keeps them under `model_weights`, a `save_weights` file at the root; both
    list layers in attribute `layer_names` and each layer's datasets in `weight_names`.
    """
    try:
        with h5py.File(source, "r") as file:
            root = file.get("model_weights", file)
            layer_names = _names(root.attrs, "layer_names")
            if layer_names is None:
                raise ModelFileError(f"{label}: an HDF5 file without Keras layer weights")
            layers = []
            for layer_name in layer_names:
                group = root[layer_name]
                weight_names = _names(group.attrs, "weight_names") or []
                weights = {
                    name.rsplit("/", 1)[-1].split(":", 1)[0]: np.asarray(
                        group[name], dtype=np.float32
                    )
                    for name in weight_names
                }
                if weights:
                    layers.append(_FileLayer(layer_name, weights))
            return layers
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise ModelFileError(f"{label}: not a readable Keras HDF5 weight file ({error})") from error


def _names(attrs: h5py.AttributeManager, key: str) -> list[str] | None:
    """A Keras string-list attribute, also when Keras split it into `key0`, `key1`, … chunks."""
    if key in attrs:
        values = list(np.atleast_1d(attrs[key]))
    elif f"{key}0" in attrs:
        values = []
        chunk = 0
        while f"{key}{chunk}" in attrs:
            values += list(np.atleast_1d(attrs[f"{key}{chunk}"]))
            chunk += 1
    else:
        return None
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _initial_value(
    name: str, shape: tuple[int, ...], rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """Keras's default initial value for a weight, drawn from `rng` where it is random."""
    if name == "kernel":
        receptive_field = int(np.prod(shape[:-2]))
        fan_in, fan_out = receptive_field * shape[-2], receptive_field * shape[-1]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(np.float32)
    if name in ("gamma", "moving_variance"):
        return np.ones(shape, dtype=np.float32)
    return np.zeros(shape, dtype=np.float32)  # bias, beta, moving_mean


def _mel_db(samples: _FloatArray, block_frames: int = _MEL_BLOCK_FRAMES) -> _FloatArray:
    """`power_to_db(melspectrogram(samples))` with librosa's defaults, shape (128, n_frames).

    Computed in blocks of frames to bound memory; each block is cut from the zero-padded signal
    that librosa's `center=True` framing uses, so the frames are exactly librosa's.
    """
    n_frames = 1 + samples.size // SEED_HOP
    padded = np.pad(samples, SEED_FFT_SIZE // 2)
    blocks = []
    for start in range(0, n_frames, block_frames):
        stop = min(start + block_frames, n_frames)
        segment = padded[start * SEED_HOP : (stop - 1) * SEED_HOP + SEED_FFT_SIZE]
        blocks.append(
            librosa.feature.melspectrogram(
                y=segment,
                sr=SEED_SAMPLE_RATE,
                n_fft=SEED_FFT_SIZE,
                hop_length=SEED_HOP,
                n_mels=SEED_MEL_BANDS,
                fmax=SEED_MEL_FMAX,
                center=False,
            )
        )
    return librosa.power_to_db(np.concatenate(blocks, axis=1)).astype(np.float32)
