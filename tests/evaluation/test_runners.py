"""Runners: layers of one musicnn checkpoint share a forward pass that equals predict()."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from audio_factory import synth_music

from core.models.musicnn import MusicnnModel
from core.models.spec import parse_model_spec
from evaluation.runners import MusicnnLayers, build_runners


def test_musicnn_layers_share_one_pass_that_equals_predict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where AutoGraph would write
    specs = [
        parse_model_spec("msd-musicnn/penultimate"),
        parse_model_spec("msd-musicnn/mean_max_pool"),
    ]
    (runner,) = build_runners(specs)
    assert isinstance(runner, MusicnnLayers)
    runner.warm_up()  # checks mean_max_pool against the model's own predict()
    audio = synth_music(7.0, sample_rate=16_000, seed=5)
    patches = runner.model.patches(audio)
    outputs = runner.outputs(patches)
    expected = MusicnnModel("msd-musicnn", "penultimate").predict(patches)
    np.testing.assert_allclose(
        outputs["msd-musicnn/penultimate"].embeddings, expected.embeddings, atol=1e-4
    )
    np.testing.assert_allclose(outputs["msd-musicnn/penultimate"].tags, expected.tags, atol=1e-5)
    assert outputs["msd-musicnn/mean_max_pool"].embeddings.shape == (patches.shape[0], 1506)
    assert list(tmp_path.iterdir()) == []  # traced without AutoGraph: nothing to leave behind
