"""The seed-compatible CNN: its image-like front end and loading of Keras 2 `Model.h5` files.

The weight files are written here with h5py exactly as Keras 2 laid them out, with random
values, so the tests need no downloaded model.
"""

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import librosa
import numpy as np
import numpy.typing as npt
import pytest

from core.errors import ModelFileError
from core.models import parse_model_spec
from core.models.seed import SeedModel, _mel_db

SR = 44_100
TILE = 128
HOP = 512
Shapes = dict[str, tuple[int, ...]]
Weights = dict[str, dict[str, npt.NDArray[np.float32]]]


def keras2_layers(head: bool = True) -> list[tuple[str, str, Shapes]]:
    """(name, class, weight shapes) of the original Sequential model, as Keras 2 named them."""

    def bn(n: int) -> Shapes:
        return {"gamma": (n,), "beta": (n,), "moving_mean": (n,), "moving_variance": (n,)}

    def dense(n_in: int, n_out: int) -> Shapes:
        return {"kernel": (n_in, n_out), "bias": (n_out,)}

    layers: list[tuple[str, str, Shapes]] = []
    channels = 1
    for i, (filters, size) in enumerate(((64, 7), (128, 7), (256, 3), (512, 3)), start=1):
        layers += [
            (
                f"conv2d_{i}",
                "Conv2D",
                {"kernel": (size, size, channels, filters), "bias": (filters,)},
            ),
            (f"batch_normalization_{i}", "BatchNormalization", bn(filters)),
            (f"average_pooling2d_{i}", "AveragePooling2D", {}),
        ]
        channels = filters
    layers += [
        ("batch_normalization_5", "BatchNormalization", bn(512)),
        ("flatten_1", "Flatten", {}),
        ("batch_normalization_6", "BatchNormalization", bn(2048)),
        ("dropout_1", "Dropout", {}),
        ("dense_1", "Dense", dense(2048, 1024)),
        ("dropout_2", "Dropout", {}),
        ("dense_2", "Dense", dense(1024, 256)),
        ("dropout_3", "Dropout", {}),
        ("dense_3", "Dense", dense(256, 64)),
        ("dense_4", "Dense", dense(64, 32)),
    ]
    if head:
        layers.append(("dense_5", "Dense", dense(32, 8)))
    return layers


def random_weight(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if name == "kernel":  # He-normal, so that ReLU activations stay alive through the layers
        return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:-1]))).astype("f4")
    if name in ("gamma", "moving_variance"):
        return rng.uniform(0.5, 1.5, shape).astype("f4")
    return (rng.standard_normal(shape) * 0.1).astype("f4")


def write_keras2_h5(
    path: Path,
    *,
    seed: int = 0,
    weights_only: bool = False,
    head: bool = True,
    wrong: dict[str, Shapes] | None = None,
) -> Weights:
    """Write a Keras 2 `model.save` (or `save_weights`) HDF5 file; return the values written.

    `wrong` replaces the shapes of some layers' weights, as a different architecture would.
    """
    rng = np.random.default_rng(seed)
    layers = keras2_layers(head)
    values: Weights = {}
    with h5py.File(path, "w") as file:
        if weights_only:
            root = file
        else:
            config = {
                "class_name": "Sequential",
                "config": {
                    "name": "sequential_1",
                    "layers": [{"class_name": c, "config": {"name": n}} for n, c, _ in layers],
                },
            }
            file.attrs["keras_version"] = b"2.2.4"
            file.attrs["backend"] = b"tensorflow"
            file.attrs["model_config"] = json.dumps(config).encode("utf-8")
            root = file.create_group("model_weights")
        root.attrs["layer_names"] = np.asarray([name.encode("utf-8") for name, _, _ in layers])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for name, _, shapes in layers:
            shapes = {**shapes, **(wrong or {}).get(name, {})}
            group = root.create_group(name)
            weight_names = [f"{name}/{weight}:0".encode() for weight in shapes]
            group.attrs["weight_names"] = np.asarray(weight_names)  # empty: float64, as Keras 2
            values[name] = {}
            for weight_name, (weight, shape) in zip(weight_names, shapes.items(), strict=True):
                value = random_weight(weight, shape, rng)
                group.create_dataset(weight_name, data=value)  # at <layer>/<layer>/<weight>:0
                values[name][weight] = value
    return values


def tones(seconds: float, *freqs: float, noise: float = 0.01) -> npt.NDArray[np.float32]:
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * t) for f in freqs) * (0.5 / max(len(freqs), 1))
    return (y + noise * np.random.default_rng(1).standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Weights]:
    path = tmp_path_factory.mktemp("seed") / "Model.h5"
    return path, write_keras2_h5(path)


@pytest.fixture(scope="module")
def model(model_file: tuple[Path, Weights]) -> SeedModel:
    return SeedModel(model_file[0])


# --- front end -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_samples", "n_tiles"),
    [(0, 0), (127 * HOP - 1, 0), (127 * HOP, 1), (3 * SR, 2), (10 * SR, 6)],
)
def test_patches_cut_whole_128_frame_tiles(model: SeedModel, n_samples: int, n_tiles: int) -> None:
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, n_samples).astype(np.float32)
    x = model.patches(audio)
    assert x.shape == (n_tiles, 128, 128, 1)
    assert x.dtype == np.float32
    assert n_tiles == (1 + n_samples // HOP) // TILE  # librosa's centred frame count


def test_patches_are_integer_grey_levels_in_unit_range(model: SeedModel) -> None:
    x = model.patches(tones(5.0, 220.0, 1760.0, noise=0.05))
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_allclose(x * 255, np.rint(x * 255), atol=1e-4)


@pytest.mark.parametrize("freq", [200.0, 1000.0, 6000.0])
def test_loud_band_is_dark_and_highest_band_on_top(model: SeedModel, freq: float) -> None:
    tile = model.patches(tones(2.0, freq, noise=0.0))[0, :, :, 0]
    band = int(np.argmin(np.abs(librosa.mel_frequencies(n_mels=128, fmax=8000.0) - freq)))
    rows = tile.mean(axis=1)
    assert abs(int(np.argmin(rows)) - (127 - band)) <= 1  # band b is drawn in row 127 - b
    assert rows.min() < 0.05  # the sine's band: loud, near black
    far = np.abs(np.arange(128) - (127 - band)) > 20
    assert rows[far].mean() > 0.9  # far from the sine: quiet, near white


def test_flat_spectrogram_is_white(model: SeedModel) -> None:
    x = model.patches(np.zeros(3 * SR, dtype=np.float32))
    assert x.shape[0] == 2
    assert np.all(x == 1.0)


def test_blockwise_mel_matches_librosa() -> None:
    audio = tones(3.0, 330.0, 2500.0, noise=0.1)
    direct = librosa.power_to_db(
        librosa.feature.melspectrogram(y=audio, sr=SR, n_mels=128, fmax=8000.0)
    )
    blocked = _mel_db(audio, block_frames=50)
    assert blocked.shape == direct.shape == (128, 1 + audio.size // HOP)
    np.testing.assert_allclose(blocked, direct, atol=1e-3)


# --- loading and inference -------------------------------------------------------------------


def test_loaded_weights_equal_the_files_values(
    model: SeedModel, model_file: tuple[Path, Weights]
) -> None:
    _, values = model_file
    ours = [layer for layer in model.network.layers if layer.weights]
    theirs = [name for name, _, shapes in keras2_layers(head=False) if shapes]
    assert len(ours) == len(theirs)
    for layer, name in zip(ours, theirs, strict=True):
        for variable in layer.weights:
            np.testing.assert_array_equal(np.asarray(variable), values[name][variable.name])


def test_embeddings_of_audio(model: SeedModel) -> None:
    out = model.predict(model.patches(tones(6.0, 110.0, 440.0, 3520.0, noise=0.1)))
    n_tiles = (1 + 6 * SR // HOP) // TILE
    assert out.embeddings.shape == (n_tiles, 32)
    assert out.tags.shape == (n_tiles, 0)
    assert out.embeddings.dtype == out.tags.dtype == np.float32
    assert np.all(np.isfinite(out.embeddings))
    assert out.embeddings.min() >= 0.0  # a ReLU layer
    assert out.embeddings.max() > 0.0
    assert (model.embedding_dim, model.tag_names) == (32, ())


def test_predict_is_deterministic_and_per_patch(model: SeedModel) -> None:
    x = model.patches(tones(6.0, 150.0, 900.0, noise=0.2))
    first = model.predict(x).embeddings
    np.testing.assert_array_equal(model.predict(x).embeddings, first)
    # Inference mode: no dropout, batch norm on its moving statistics, patches independent.
    np.testing.assert_allclose(model.predict(x[1:2]).embeddings, first[1:2], rtol=1e-5, atol=1e-6)


def test_predict_of_no_patches(model: SeedModel) -> None:
    out = model.predict(np.zeros((0, 128, 128, 1), dtype=np.float32))
    assert out.embeddings.shape == (0, 32) and out.tags.shape == (0, 0)


def test_model_id_is_the_file_content(model_file: tuple[Path, Weights], tmp_path: Path) -> None:
    path, _ = model_file
    spec = parse_model_spec(f"seed:{path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert spec.model_id == f"seed-{digest}@fe1" and spec.load().model_id == spec.model_id
    copy = tmp_path / "elsewhere.h5"
    shutil.copyfile(path, copy)
    assert parse_model_spec(f"seed:{copy}").model_id == spec.model_id
    other = tmp_path / "other.h5"
    write_keras2_h5(other, seed=1)
    assert parse_model_spec(f"seed:{other}").model_id != spec.model_id


def test_weights_only_file_without_head(model: SeedModel, tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    write_keras2_h5(path, weights_only=True, head=False)  # same seed: same values as `model`
    x = model.patches(tones(3.0, 500.0))
    np.testing.assert_array_equal(
        SeedModel(path).predict(x).embeddings, model.predict(x).embeddings
    )


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        ({"conv2d_1": {"kernel": (7, 7, 1, 32), "bias": (32,)}}, ["conv2d_1", "(7, 7, 1, 32)"]),
        ({"dense_1": {"kernel": (8192, 1024)}}, ["dense_1", "(8192, 1024)", "(2048, 1024)"]),
        ({"dense_5": {"kernel": (32, 10), "bias": (10,)}}, ["dense_5", "(32, 10)", "(32, 8)"]),
    ],
)
def test_wrong_architecture_is_a_model_file_error(
    tmp_path: Path, wrong: dict[str, Shapes], words: list[str]
) -> None:
    path = tmp_path / "Model.h5"
    write_keras2_h5(path, wrong=wrong)
    with pytest.raises(ModelFileError) as error:
        SeedModel(path)
    message = str(error.value)
    assert str(path) in message and "expected" in message
    assert all(word in message for word in words), message


def test_missing_layers_are_a_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "Model.h5"
    write_keras2_h5(path)
    with h5py.File(path, "a") as file:  # the file no longer lists the last Conv2D layer
        group = file["model_weights"]
        names = [n for n in group.attrs["layer_names"] if n != b"conv2d_4"]
        group.attrs["layer_names"] = np.asarray(names)
    with pytest.raises(ModelFileError, match="expected 4 Conv2D layers with weights, found 3"):
        SeedModel(path)


def test_missing_file_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read seed model file"):
        SeedModel(tmp_path / "absent.h5")


def test_text_file_is_a_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "Model.h5"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelFileError, match="not a readable Keras HDF5 weight file"):
        SeedModel(path)


def test_hdf5_without_keras_weights_is_a_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=np.arange(3))
    with pytest.raises(ModelFileError, match="without Keras layer weights"):
        SeedModel(path)


def test_random_model_is_seeded() -> None:
    x = np.random.default_rng(0).uniform(0, 1, (2, 128, 128, 1)).astype(np.float32)
    a, b, c = SeedModel.random(0), SeedModel.random(0), SeedModel.random(1)
    ids = [parse_model_spec(spec).model_id for spec in ("seed-random", "seed-random:1")]
    assert ids == ["seed-random-0@fe1", "seed-random-1@fe1"]
    np.testing.assert_array_equal(a.predict(x).embeddings, b.predict(x).embeddings)
    assert not np.array_equal(a.predict(x).embeddings, c.predict(x).embeddings)
