"""TrackRepository round trips."""

import hashlib
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from storage import UNSET, Database, DuplicateTrackError

AddTrack = Callable[..., Awaitable[int]]
DIGEST = hashlib.sha256(b"file bytes").hexdigest()


async def test_add_and_read_back_every_field(db: Database) -> None:
    track_id = await db.tracks.add(
        DIGEST.upper(),  # hashes are stored lower-case, so case never causes a miss
        "Группа крови",
        artist="Кино",
        album="Группа крови",
        duration=285.5,
        yandex_track_id="328794",
        yandex_album_id="32312",
        source_path="/music/kino/01.mp3",
    )
    track = await db.tracks.get(track_id)
    assert track is not None
    assert (track.id, track.sha256, track.title, track.artist, track.album) == (
        track_id,
        DIGEST,
        "Группа крови",
        "Кино",
        "Группа крови",
    )
    assert track.duration == 285.5
    assert (track.yandex_track_id, track.yandex_album_id) == ("328794", "32312")
    assert track.source_path == "/music/kino/01.mp3"
    assert track.added_at.tzinfo is not None
    assert await db.tracks.find_by_sha256(DIGEST) == track
    assert await db.tracks.get(track_id + 1) is None


async def test_duplicate_content_is_refused_with_the_existing_id(db: Database) -> None:
    first = await db.tracks.add(DIGEST, "One")
    with pytest.raises(DuplicateTrackError) as caught:
        await db.tracks.add(DIGEST, "Same bytes, other name")
    assert caught.value.track_id == first
    assert (await db.tracks.stats()).tracks == 1


@pytest.mark.parametrize("digest", ["", "abc", "g" * 64, DIGEST + "0"])
async def test_malformed_hash_is_refused(db: Database, digest: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        await db.tracks.add(digest, "x")
    with pytest.raises(ValueError, match="sha256"):
        await db.tracks.find_by_sha256(digest)


async def test_get_many_keeps_the_ranking_order(db: Database, add_track: AddTrack) -> None:
    ids = [await add_track() for _ in range(5)]
    ranking = np.array([ids[3], 10_000, ids[0], ids[4]], dtype=np.int64)  # 10_000: removed
    assert [t.id for t in await db.tracks.get_many(ranking)] == [ids[3], ids[0], ids[4]]
    assert await db.tracks.get_many([]) == []


async def test_get_many_takes_more_ids_than_sqlite_has_parameters(
    db: Database, add_track: AddTrack
) -> None:
    ids = [await add_track() for _ in range(3)]
    ranking = [*reversed(ids), *range(100_000, 140_000)]
    assert [t.id for t in await db.tracks.get_many(ranking)] == list(reversed(ids))


async def test_update_metadata_sets_clears_and_keeps(db: Database, add_track: AddTrack) -> None:
    track_id = await add_track(title="Old", artist="Someone", album="LP", duration=60.0)
    assert await db.tracks.update_metadata(
        track_id, title="New", album=None, yandex_track_id="1", yandex_album_id="2"
    )
    track = await db.tracks.get(track_id)
    assert track is not None
    assert (track.title, track.artist, track.album) == ("New", "Someone", None)
    assert track.duration == 60.0
    assert (track.yandex_track_id, track.yandex_album_id) == ("1", "2")
    assert await db.tracks.update_metadata(track_id)  # nothing to change, but it exists
    assert not await db.tracks.update_metadata(track_id + 1, title="x")
    assert not await db.tracks.update_metadata(track_id + 1)
    assert await db.tracks.update_metadata(track_id, artist=UNSET, duration=None)
    track = await db.tracks.get(track_id)
    assert track is not None and track.artist == "Someone" and track.duration is None


async def test_list_count_and_remove(db: Database, add_track: AddTrack) -> None:
    ids = [await add_track() for _ in range(7)]
    assert (await db.tracks.stats()).tracks == 7
    assert [t.id for t in await db.tracks.list(limit=3)] == ids[:3]
    assert [t.id for t in await db.tracks.list(limit=3, offset=6)] == ids[6:]
    assert await db.tracks.remove(ids[-1])
    assert not await db.tracks.remove(ids[-1])
    assert (await db.tracks.stats()).tracks == 6
    # Ids are never reused: a stored ranking can't start pointing at another track.
    assert await add_track() == ids[-1] + 1


async def test_stats(db: Database, add_track: AddTrack) -> None:
    empty = await db.tracks.stats()
    assert (empty.tracks, empty.total_duration, empty.embeddings) == (0, 0.0, {})
    assert empty.last_added_at is None

    first = await add_track(duration=100.0, yandex_track_id="5", vector=np.ones(4))
    await add_track(duration=20.5, vector=np.ones(4))
    await add_track()
    await db.embeddings.put(first, "other", np.ones(2))
    stats = await db.tracks.stats()
    assert (stats.tracks, stats.total_duration, stats.with_yandex_id) == (3, 120.5, 1)
    assert stats.embeddings == {"m": 2, "other": 1}
    assert stats.last_added_at is not None


async def test_find_by_yandex_id_returns_the_first_linked_track(
    db: Database, add_track: AddTrack
) -> None:
    await add_track(title="Local only")
    first = await add_track(title="Linked", yandex_track_id="328794", yandex_album_id="32312")
    await add_track(title="Same id again", yandex_track_id="328794")
    found = await db.tracks.find_by_yandex_id("328794")
    assert found is not None and (found.id, found.title) == (first, "Linked")
    assert await db.tracks.find_by_yandex_id(" 328794 ") == found
    assert await db.tracks.find_by_yandex_id("1") is None
