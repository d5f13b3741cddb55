"""The evaluation embeds exactly as the bot does: same decode, patch choice, model and pooling."""

import asyncio
from pathlib import Path

import numpy as np

from core.embedding import embed_file
from core.hashing import sha256_of
from core.models.base import AudioModel
from core.models.spec import parse_model_spec
from evaluation.cache import SpecCache
from evaluation.corpus import Track
from evaluation.passes import Pass, run_pass
from evaluation.report import Family, pooled_vectors
from evaluation.runners import Runner
from evaluation.specs import cache_file_name


def test_the_default_rows_vector_is_the_bots_vector(
    music_file: Path, tmp_path: Path, vgg_model: AudioModel
) -> None:
    spec = parse_model_spec("msd-vgg/pool5")
    track = Track(music_file, "album", sha256_of(music_file))
    cache = SpecCache(tmp_path / cache_file_name(spec), spec)
    work = Pass(
        spec.sample_rate, [Runner(spec, vgg_model)], [track], {spec.name: cache}, set(),
        tmp_path, {},
    )  # fmt: skip
    asyncio.run(run_pass(work, "test"))

    # the vector the "msd-vgg/pool5 mean" row is scored on
    (ours,) = pooled_vectors(
        cache, Family(spec.name, spec.name, ""), "full", "mean", [track.sha256]
    )
    theirs = embed_file(music_file, vgg_model)
    assert cache.entries[track.sha256]["full"].shape[0] == theirs.patch_count
    np.testing.assert_allclose(ours, theirs.vector, rtol=1e-5, atol=1e-6)
    # the cache was written under the model id, and a reload serves the same vectors
    assert (tmp_path / "msd-vgg_pool5@fe1.npz").is_file()
    reloaded = SpecCache(tmp_path / cache_file_name(spec), spec)
    np.testing.assert_array_equal(
        reloaded.entries[track.sha256]["full"], cache.entries[track.sha256]["full"]
    )
