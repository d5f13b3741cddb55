"""Specs go through core.models' one grammar; cache files are named by the model id."""

from pathlib import Path

import pytest

from core.models.spec import parse_model_spec
from evaluation.errors import EvalUsageError
from evaluation.specs import DEFAULT_SPECS, cache_file_name, parse_specs


def test_specs_are_canonical_deduplicated_and_ordered() -> None:
    specs = parse_specs(" msd-vgg , mfcc,msd-vgg/pool5, msd-musicnn,seed-random:0")
    assert [spec.name for spec in specs] == [
        "msd-vgg/pool5",
        "mfcc",
        "msd-musicnn/penultimate",
        "seed-random",
    ]
    assert [spec.name for spec in parse_specs(",".join(DEFAULT_SPECS))] == list(DEFAULT_SPECS)


def test_unknown_specs_and_missing_seed_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalUsageError, match="no layer 'pool9'"):
        parse_specs("msd-vgg/pool9")
    with pytest.raises(EvalUsageError, match="unknown model 'nope'"):
        parse_specs("mfcc,nope")
    with pytest.raises(EvalUsageError, match="cannot read seed model file"):
        parse_specs(f"seed:{tmp_path / 'missing.h5'}")
    with pytest.raises(EvalUsageError, match="names no model"):
        parse_specs(" , ")


def test_cache_files_are_named_by_the_model_id_with_its_front_end(tmp_path: Path) -> None:
    vgg = parse_model_spec("msd-vgg")
    assert cache_file_name(vgg) == "msd-vgg_pool5@fe1.npz"
    assert f"@fe{vgg.front_end}" in cache_file_name(vgg)
    weights = tmp_path / "Model.h5"
    weights.write_bytes(b"weights")
    seed = parse_model_spec(f"seed:{weights}")
    # named by the file's content, not its path: the same weights elsewhere share a cache
    assert cache_file_name(seed) == f"{seed.vector_space}@fe{seed.front_end}.npz"
    assert str(tmp_path.name) not in cache_file_name(seed)
