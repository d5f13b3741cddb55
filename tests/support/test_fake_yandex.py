"""The stand-in Yandex Music API checked against the real library.

Every endpoint the importer uses is called through `yandex_music.ClientAsync` in strict mode
(a missing required field raises) with unknown-field reports on (a field the models do not
declare is collected): the stand-in's JSON must parse into the library's models with nothing
missing and nothing extra, and the download chain must yield the exact mp3 bytes over TLS.
"""

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import yandex_music
from fake_yandex import OWNER_UID, FakeYandex
from yandex_music.utils import schema_mismatch
from yandex_music.utils.schema_mismatch import SchemaMismatch

UUID = "lk.8a5f0b7e-3f4c-4d2a-9b1e-2c3d4e5f6a7b"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path) as server:
        yield server


def strict_client(fake: FakeYandex, found: list[SchemaMismatch]) -> yandex_music.ClientAsync:
    schema_mismatch._reported.clear()  # the library reports each mismatch once per process
    return yandex_music.ClientAsync(
        fake.token,
        base_url=fake.api_url,
        strict=True,
        report_unknown_fields=True,
        on_schema_mismatch=found.append,
    )


async def test_every_endpoint_parses_strictly_with_no_unknown_fields(fake: FakeYandex) -> None:
    album_id, ids = fake.add_album("Album", "Artist A", [b"one", b"two"])
    single = fake.add_track("Solo", ["Artist A", "Artist B"], b"three", version="Live")
    gone = fake.add_track("Gone", "Artist C", b"x", error="not-found")
    fake.add_user_playlist("ann", 3, [ids[0], single])
    fake.add_playlist(UUID, [single])
    fake.set_chart([ids[1], single])
    fake.set_likes([ids[0], single])
    found: list[SchemaMismatch] = []
    client = strict_client(fake, found)
    context = ssl.create_default_context(cafile=str(fake.ca_file))

    status = await client.account_status()
    assert status is not None and status.account is not None
    assert status.account.uid == OWNER_UID

    album = await client.albums_with_tracks(album_id)
    assert album is not None and album.title == "Album"
    assert [t.title for t in album.volumes[0]] == ["Album 1", "Album 2"]
    assert album.volumes[0][0].albums[0].id == int(album_id)

    tracks = await client.tracks([single, f"{ids[0]}:{album_id}", gone])
    assert [t.title for t in tracks] == ["Solo", "Album 1", None]
    assert tracks[0].version == "Live" and tracks[0].artists_name() == ["Artist A", "Artist B"]
    assert tracks[0].duration_ms == 6000 and tracks[2].error == "not-found"

    page = await client.artists_tracks(fake.artist_id("Artist A"), 1, 2)
    assert page is not None and page.pager.total == 3 and [t.title for t in page.tracks] == ["Solo"]

    playlist = await client.users_playlists(3, "ann")
    assert isinstance(playlist, yandex_music.Playlist)
    assert [s.track.title for s in playlist.tracks] == ["Album 1", "Solo"]
    by_uuid = await client.playlist(UUID)
    assert by_uuid is not None and by_uuid.tracks[0].track.id == single

    chart = await client.chart()
    assert chart is not None and chart.chart is not None
    assert [(s.chart.position, s.track.title) for s in chart.chart.tracks] == [
        (1, "Album 2"),
        (2, "Solo"),
    ]

    likes = await client.users_likes_tracks(OWNER_UID)
    assert likes is not None and likes.tracks_ids[0] == f"{ids[0]}:{album_id}"
    assert likes.tracks_ids[1].startswith(f"{single}:") and len(likes.tracks_ids) == 2

    search = await client.search("artist b solo", type_="track")
    assert search is not None and search.tracks is not None
    assert [t.id for t in search.tracks.results] == [single]

    infos = await client.tracks_download_info(single)
    assert sorted(i.bitrate_in_kbps for i in infos) == [64, 128, 192, 320]
    link = await infos[0].get_direct_link_async(ssl=context)
    assert link.startswith(f"https://{fake.storage_host}/get-mp3/")
    assert await client.request.retrieve(link, ssl=context) == b"three"
    assert fake.downloads[single] == 1

    assert found == [], "\n\n".join(m.describe() for m in found)


async def test_likes_list_the_album_of_each_track(fake: FakeYandex) -> None:
    album_id, ids = fake.add_album("Album", "Artist", [b"a"])
    fake.set_likes(ids)
    client = strict_client(fake, [])
    likes = await client.users_likes_tracks(OWNER_UID)
    assert likes is not None and likes.tracks_ids == [f"{ids[0]}:{album_id}"]
    fetched = await likes.fetch_tracks_async()
    assert [t.title for t in fetched] == ["Album 1"]


async def test_errors_reach_the_library_as_real_ones_do(fake: FakeYandex) -> None:
    _, ids = fake.add_album("Album", "Artist", [b"a"])
    client = strict_client(fake, [])
    anonymous = yandex_music.ClientAsync(base_url=fake.api_url)
    wrong = yandex_music.ClientAsync("not-the-token", base_url=fake.api_url)

    with pytest.raises(yandex_music.exceptions.UnauthorizedError):
        await anonymous.tracks_download_info(ids[0])
    assert (await anonymous.tracks(ids))[0].title == "Album 1"  # catalogue calls need no token
    with pytest.raises(yandex_music.exceptions.UnauthorizedError):
        await wrong.tracks(ids)

    fake.fail("tracks", 429)
    with pytest.raises(yandex_music.exceptions.NetworkError, match=r"\(429\)"):
        await client.tracks(ids)
    fake.fail("album", 503)
    with pytest.raises(yandex_music.exceptions.NetworkError, match=r"\(503\)"):
        await client.albums_with_tracks(1)
    with pytest.raises(yandex_music.exceptions.NotFoundError):
        await client.albums_with_tracks(1)

    fake.expire_first_link(ids[0])
    context = ssl.create_default_context(cafile=str(fake.ca_file))
    stale = (await client.tracks_download_info(ids[0]))[0]
    link = await stale.get_direct_link_async(ssl=context)
    with pytest.raises(yandex_music.exceptions.NetworkError, match=r"\(410\)"):
        await client.request.retrieve(link, ssl=context)
    with pytest.raises(yandex_music.exceptions.NetworkError, match=r"\(410\)"):
        await client.request.retrieve(link, ssl=context)  # the same link stays dead
    fresh = (await client.tracks_download_info(ids[0]))[0]
    assert await client.request.retrieve(
        await fresh.get_direct_link_async(ssl=context), ssl=context
    )


async def test_a_wrongly_signed_link_is_refused(fake: FakeYandex) -> None:
    _, ids = fake.add_album("Album", "Artist", [b"a"])
    client = strict_client(fake, [])
    context = ssl.create_default_context(cafile=str(fake.ca_file))
    info = (await client.tracks_download_info(ids[0]))[0]
    link = await info.get_direct_link_async(ssl=context)
    sign = link.split("/")[4]
    with pytest.raises(yandex_music.exceptions.UnauthorizedError):  # 403
        await client.request.retrieve(link.replace(sign, "0" * 32), ssl=context)
    assert fake.downloads[ids[0]] == 0


async def test_the_strict_check_has_teeth(
    fake: FakeYandex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misnamed field in the stand-in's JSON is reported, and a missing required one raises."""
    _, ids = fake.add_album("Album", "Artist", [b"a"])
    found: list[SchemaMismatch] = []
    client = strict_client(fake, found)
    shape = fake._track_json

    monkeypatch.setattr(fake, "_track_json", lambda i: {**shape(i), "durationMillis": 1})
    await client.tracks(ids)
    assert [sorted(m.unknown_fields) for m in found] == [["duration_millis"]]

    monkeypatch.setattr(
        fake, "_track_json", lambda i: {k: v for k, v in shape(i).items() if k != "id"}
    )
    with pytest.raises(yandex_music.exceptions.SchemaMismatchError, match="id"):
        await client.tracks(ids)
