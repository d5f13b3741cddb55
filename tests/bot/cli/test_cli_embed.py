"""`python -m bot embed` as a user runs it: a real process, real files (what TensorFlow's C++
start-up prints is a process's matter); `--help` and a usage error run in this process."""

import subprocess
import sys
from pathlib import Path

from audio_factory import encode, synth_music
from cli_process import InProcess


def test_embed_prints_a_line_per_file_and_fails_for_bad_ones(tmp_path: Path) -> None:
    good = encode(synth_music(6.0), tmp_path / "good song.mp3")
    other = encode(synth_music(5.0, seed=9), tmp_path / "voice.ogg")
    bad = tmp_path / "bad.mp3"
    bad.write_text("definitely not audio")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "embed", str(good), str(bad), str(other)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model fusion:aisfx+msd-vgg/pool5@fe3 loaded")
    assert len(lines) == 4
    good_line, bad_line, other_line = lines[1:]
    assert good_line.startswith(str(good)) and " · " in good_line and good_line.endswith(" s")
    assert bad_line == f"{bad}\terror: this file is not audio that can be decoded"
    assert other_line.startswith(str(other)) and other_line.endswith(" s")
    assert "Traceback" not in result.stderr
    # the command's own lines only: TensorFlow's start-up banner is held back
    assert result.stderr == "", result.stderr


def test_verbose_shows_what_tensorflow_says(tmp_path: Path) -> None:
    good = encode(synth_music(4.0), tmp_path / "good.mp3")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--verbose", "embed", str(good)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    said = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard")
    assert any(words in result.stderr for words in said), result.stderr


def test_help_lists_every_command(tmp_path: Path, cli_main: InProcess) -> None:
    result = cli_main("--help", database=tmp_path / "db.sqlite3")
    assert result.returncode == 0
    for command in ("embed", "import", "recommend", "catalog", "users"):
        assert command in result.stdout


def test_unknown_model_is_a_clear_error(tmp_path: Path, cli_main: InProcess) -> None:
    result = cli_main(
        "embed", "--model", "nope", str(tmp_path / "x.mp3"), database=tmp_path / "db.sqlite3"
    )
    assert result.returncode == 2
    assert "unknown model 'nope'" in result.stderr and "Traceback" not in result.stderr
