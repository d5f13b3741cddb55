"""`eval DIR`: the real command on a tiny generated folder — figures, failures, the cache."""

import argparse
import asyncio
import json
from pathlib import Path

import pytest
from audio_factory import STYLES, encode, synth_music

import evaluation.run
from bot.cli.evaluate import eval_command, register
from bot.config import Settings
from core.models import parse_model_spec
from evaluation.specs import cache_file_name

GROUPS = 3
TRACKS_PER_GROUP = 3
MODELS = "mfcc,msd-vgg/pool5"


@pytest.fixture(scope="module")
def music_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 groups × 3 tracks of 8 s, each group in its own style, plus a broken file and a cover."""
    root = tmp_path_factory.mktemp("albums")
    for g in range(GROUPS):
        folder = root / f"album {g}"
        folder.mkdir()
        for t in range(TRACKS_PER_GROUP):
            audio = synth_music(8.0, seed=10 * g + t, **STYLES[g])
            encode(audio, folder / f"track {t}.mp3", channels=2)
    (root / "album 0" / "broken.mp3").write_text("not audio at all")
    (root / "album 1" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    return root


def run(folder: Path, cache: Path, models: str = MODELS, **options: object) -> int:
    arguments = argparse.Namespace(
        folder=folder,
        models=models,
        json=options.get("json", True),
        duplicates=options.get("duplicates", True),
        cache=cache,
    )
    settings = Settings(
        database_path=cache / "unused.sqlite3", model=parse_model_spec("msd-vgg/pool5"), workers=1
    )
    return asyncio.run(eval_command(arguments, settings))


def test_eval_scores_every_variant_and_a_rerun_is_served_from_the_cache(
    music_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache"
    assert run(music_dir, cache) == 1  # the broken file is left out, the run goes on
    captured = capsys.readouterr()
    rows = {row["name"]: row for row in json.loads(captured.out)}
    assert "broken.mp3: this file is not audio" in captured.err
    assert "9 tracks in 3 groups, chance P@10 0.250" in captured.err

    variants = ("mean", "mean z", "mean+std", "mean+std z")
    families = ("mfcc", "msd-vgg/pool5", "msd-vgg/tags")
    assert set(rows) == {f"{family} {variant}" for family in families for variant in variants}
    assert rows["mfcc mean"]["dim"] == 104 and rows["msd-vgg/pool5 mean+std"]["dim"] == 512
    for row in rows.values():
        for key in ("p_at_5", "p_at_10", "mean_ap", "excerpt_r1", "excerpt_r5"):
            assert 0.0 <= row[key] <= 1.0, (row["name"], key)
        assert 1 <= row["excerpt_median_rank"] <= 9
        assert -1.0 <= row["reencode_own_min"] <= row["reencode_own_median"] <= 1.0
        # 9 tracks (not 10: the broken one is out; not counting the query itself): each query
        # sees 8 candidates, 2 of its group, so P@10 is P@8 = 2/8 whatever the model
        assert row["p_at_10"] == 0.25, row["name"]
    # the groups differ in style: both models put same-group tracks first, far above chance
    # (a random ranking of 2 relevant among 8 averages an AP of about 0.35)
    for name in ("mfcc mean z", "msd-vgg/pool5 mean"):
        assert rows[name]["mean_ap"] > 0.8, name
        assert rows[name]["excerpt_r1"] > 0.5, name
    assert rows["msd-vgg/pool5 mean"]["seconds_per_track"] > 0

    files = sorted(path.name for path in cache.iterdir())
    assert files == sorted(cache_file_name(parse_model_spec(spec)) for spec in MODELS.split(","))

    def no_models(specs: object) -> None:
        raise AssertionError("a cached run must not load any model")

    monkeypatch.setattr(evaluation.run, "build_runners", no_models)
    assert run(music_dir, cache) == 1
    assert json.loads(capsys.readouterr().out) == list(rows.values())


def test_table_output_names_the_columns_and_the_chance_level(
    music_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(music_dir, tmp_path / "cache", "mfcc", json=False, duplicates=False) == 1
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    for column in ("dim", "P@5", "P@10", "mAP", "excerpt R@1", "R@5", "median rank", "s/track"):
        assert column in header
    assert "9 tracks in 3 groups, 1 left out; chance P@10 0.250" in out
    assert "mfcc mean+std z" in out and "left out:" in out


def test_usage_errors_are_one_line_and_exit_2(
    music_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(music_dir / "album 0", tmp_path) == 2
    assert "at least two sub-folders" in capsys.readouterr().err
    assert run(tmp_path / "missing", tmp_path) == 2
    assert "no such folder" in capsys.readouterr().err
    assert run(music_dir, tmp_path, "mfcc,nope") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'nope'") and len(err.splitlines()) == 1
    assert run(music_dir, tmp_path, "msd-vgg/pool9") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: msd-vgg has no layer 'pool9'") and len(err.splitlines()) == 1
    assert run(music_dir, tmp_path, f"seed:{tmp_path / 'missing.h5'}") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read seed model file") and len(err.splitlines()) == 1


def test_the_subcommand_is_registered_with_its_handler() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["eval", "music", "--models", "mfcc", "--json"])
    assert arguments.handler is eval_command
    assert arguments.folder == Path("music") and arguments.models == "mfcc" and arguments.json
    assert "msd-vgg/pool5" in parser.parse_args(["eval", "music"]).models
