"""Fixtures shared by every test package (helpers such as audio_factory live beside it)."""

from pathlib import Path

import pytest
from audio_factory import encode, synth_music
from cli_process import InProcess

from core.models.base import AudioModel


@pytest.fixture
def music_file(tmp_path: Path) -> Path:
    """Twenty seconds of synthetic music as a 44.1 kHz stereo mp3."""
    return encode(synth_music(20.0), tmp_path / "track.mp3", channels=2)


@pytest.fixture(scope="session")
def vgg_model() -> AudioModel:
    """The default pretrained model, loaded once for the whole test session."""
    from core.models import parse_model_spec

    return parse_model_spec("msd-vgg/pool5").load()


@pytest.fixture
def cli_main(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> InProcess:
    """`python -m bot ARGS` in this process: `cli_main(*ARGS, database=…, env=…)`."""
    return InProcess(capfd, tmp_path / "working-folder")
