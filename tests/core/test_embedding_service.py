"""The embedding service: real spawned worker processes with the real model."""

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, synth_music

from core.embedding import embed_file
from core.embedding_service import EmbeddingService
from core.errors import NotAudioError
from core.models import DEFAULT_MODEL, parse_model_spec
from core.models.base import AudioModel


async def test_workers_embed_concurrently_and_agree_with_in_process(
    tmp_path: Path, vgg_model: AudioModel
) -> None:
    files = [encode(synth_music(8.0, seed=s), tmp_path / f"{s}.mp3") for s in range(3)]
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    async with EmbeddingService(parse_model_spec("msd-vgg/pool5"), workers=2) as service:
        assert service.model_id == "msd-vgg/pool5@fe1"
        results = await asyncio.gather(
            *(service.embed(f) for f in [*files, bad]), return_exceptions=True
        )
        pids = {p.pid for p in service._pool._processes.values()}  # type: ignore[union-attr]
    assert isinstance(results[3], NotAudioError)
    assert "not audio" in results[3].reason
    for path, remote in zip(files, results[:3], strict=True):
        local = embed_file(path, vgg_model)
        np.testing.assert_allclose(remote.vector, local.vector, atol=1e-5)
    assert len(pids) == 2 and os.getpid() not in pids


async def test_embed_before_start_is_an_error(tmp_path: Path) -> None:
    service = EmbeddingService(parse_model_spec(DEFAULT_MODEL), workers=1)
    with pytest.raises(RuntimeError, match="start"):
        await service.embed(tmp_path / "x.mp3")
    await service.close()  # closing an unstarted service is harmless
