"""Fixtures: a real database file per test, and a factory that adds catalog tracks."""

import hashlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from storage import Database

AddTrack = Callable[..., Awaitable[int]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "soundalike.sqlite3"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    async with Database(db_path) as database:
        yield database


@pytest.fixture
def add_track(db: Database) -> AddTrack:
    """`await add_track(database=db, **metadata)` adds a track with a fresh content hash.

    With `vector=` (and optionally `model_id=`, default "m") it also stores an embedding.
    """
    numbers = itertools.count(1)

    async def add(
        *,
        database: Database = db,
        vector: npt.ArrayLike | None = None,
        model_id: str = "m",
        **metadata: Any,
    ) -> int:
        n = next(numbers)
        digest = hashlib.sha256(f"track {n}".encode()).hexdigest()
        metadata.setdefault("title", f"Track {n}")
        track_id = await database.tracks.add(digest, **metadata)
        if vector is not None:
            await database.embeddings.put(track_id, model_id, vector)
        return track_id

    return add


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)
