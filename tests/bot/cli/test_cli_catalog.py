"""`python -m bot catalog stats`: the catalog and each model's feedback, on a real file (the
command runs in this process: cli_process.InProcess)."""

import asyncio
import hashlib
from pathlib import Path

import numpy as np
from cli_process import Finished, InProcess

from storage import Database, SentMedia


async def seed(path: Path) -> None:
    """Two tracks with msd-vgg/pool5 vectors; answers of two models, voted on by users."""
    async with Database(path) as db:
        for n in range(2):
            digest = hashlib.sha256(f"song {n}".encode()).hexdigest()
            track_id = await db.tracks.add(digest, f"Song {n}", duration=90.0)
            await db.embeddings.put(track_id, "msd-vgg/pool5", np.ones(4))
        votes = {"msd-vgg/pool5": [1, 1, -1], "mfcc": [-1]}
        for model_id, model_votes in votes.items():
            for user_id, vote in enumerate(model_votes):
                query_id = await db.queries.save(
                    user_id, SentMedia("audio"), model_id, [1], [0.9], elapsed=0.5
                )
                await db.feedback.vote(query_id, user_id, vote)


def test_stats_show_the_feedback_per_model(tmp_path: Path, cli_main: InProcess) -> None:
    database = tmp_path / "catalog.sqlite3"

    def catalog(database: Path, *args: str) -> Finished:
        return cli_main("catalog", *args, database=database)

    empty = catalog(database, "stats")
    assert empty.returncode == 0, empty.stderr
    assert "tracks: 0" in empty.stdout and "feedback" not in empty.stdout

    asyncio.run(seed(database))
    result = catalog(database, "stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "tracks: 2" in lines and "vectors of msd-vgg/pool5: 2" in lines
    assert "feedback on mfcc answers: 👍 0 · 👎 1" in lines
    assert "feedback on msd-vgg/pool5 answers: 👍 2 · 👎 1" in lines
