"""The fusion's two sides (core/models/fusion.py) through the real networks on real encoded
files: a catalog track is decoded whole and read at each part's own budget, a user's long track
only by its windows, and both land near each other in the same space."""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from audio_factory import encode, style_for, synth_music
from spies import count_calls

from core import audio as audio_module
from core import embedding as embedding_module
from core.constants import (
    AISFX_MAX_BLOCKS_PER_TRACK,
    FUSION_AISFX_BLOCKS,
    FUSION_MSD_PATCHES,
    MAX_PATCHES_PER_TRACK,
    SECTIONS_PER_TRACK,
)
from core.embedding import embed_file
from core.models import parse_model_spec
from core.models.fusion import FusionModel

SPEC = parse_model_spec("fusion:aisfx+msd-vgg")


@pytest.fixture(scope="module")
def fusion() -> FusionModel:
    model = SPEC.load()
    assert isinstance(model, FusionModel)
    return model


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two 150-s mp3s (with the Xing header that gives a trustworthy duration) of two styles."""
    folder = tmp_path_factory.mktemp("fusion")
    return [
        encode(synth_music(150.0, seed=i, **style_for(i)), folder / f"{i}.mp3", channels=2)
        for i in (0, 1)
    ]


def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_a_catalog_track_is_decoded_whole_at_each_parts_own_budget(
    fusion: FusionModel, tracks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, windowed = (
        count_calls(monkeypatch, embedding_module, "decode"),
        count_calls(monkeypatch, audio_module, "decode_windows"),
    )
    stored = embed_file(tracks[0], fusion)
    assert (len(whole), len(windowed)) == (1, 0)
    assert stored.model_id == SPEC.model_id and stored.model_id.endswith("@fe3")
    assert stored.vector.shape == (fusion.embedding_dim,)
    assert np.linalg.norm(stored.vector) == pytest.approx(1.0, abs=1e-5)
    assert stored.patch_count == AISFX_MAX_BLOCKS_PER_TRACK + MAX_PATCHES_PER_TRACK
    assert stored.sections.shape == (SECTIONS_PER_TRACK, fusion.embedding_dim)
    assert stored.tag_probabilities.shape == (50,)


def test_a_users_long_track_is_read_by_its_windows_only_and_lands_by_its_catalog_vector(
    fusion: FusionModel, tracks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = [embed_file(track, fusion) for track in tracks]
    whole, windowed = (
        count_calls(monkeypatch, embedding_module, "decode"),
        count_calls(monkeypatch, audio_module, "decode_windows"),
    )
    asked = embed_file(tracks[0], fusion, query=True)
    assert (len(whole), len(windowed)) == (0, 1)
    assert asked.model_id == catalog[0].model_id
    assert asked.patch_count == FUSION_AISFX_BLOCKS + FUSION_MSD_PATCHES
    assert np.linalg.norm(asked.vector) == pytest.approx(1.0, abs=1e-5)
    own, other = cosine(asked.vector, catalog[0].vector), cosine(asked.vector, catalog[1].vector)
    print(f"query vs its catalog vector {own:.4f}, vs the other track {other:.4f}")
    assert own > 0.9 and own > other + 0.05


def test_a_short_query_is_embedded_exactly_as_the_catalog_embeds_it(
    fusion: FusionModel, tmp_path: Path
) -> None:
    """A clip (its windows would be more than half of it) is decoded whole on both sides."""
    clip = encode(synth_music(20.0, seed=5), tmp_path / "clip.mp3")
    np.testing.assert_array_equal(
        embed_file(clip, fusion, query=True).vector, embed_file(clip, fusion).vector
    )
