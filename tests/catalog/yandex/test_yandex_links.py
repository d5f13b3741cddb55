"""Yandex Music links, as operators paste them, parsed into import targets (no network)."""

import pytest

from catalog.yandex.links import (
    AlbumLink,
    ArtistLink,
    ChartLink,
    LikedTracks,
    LinkError,
    PlaylistLink,
    TrackLink,
    UserPlaylistLink,
    describe,
    links_in,
    parse_link,
    parse_links,
)

UUID = "lk.8a5f0b7e-3f4c-4d2a-9b1e-2c3d4e5f6a7b"


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("https://music.yandex.ru/album/3192570", AlbumLink("3192570")),
        ("https://music.yandex.ru/album/3192570/", AlbumLink("3192570")),
        ("https://music.yandex.com/album/3192570/track/26666476", TrackLink("26666476", "3192570")),
        ("https://music.yandex.by/track/26666476", TrackLink("26666476")),
        ("https://music.yandex.kz/artist/41075", ArtistLink("41075")),
        ("https://music.yandex.ru/artist/41075/tracks", ArtistLink("41075")),
        (
            "https://music.yandex.ru/users/music-blog/playlists/2431",
            UserPlaylistLink("music-blog", "2431"),
        ),
        (
            "https://music.yandex.ru/users/ivan.petrov/playlists/3",
            UserPlaylistLink("ivan.petrov", "3"),
        ),
        (f"https://music.yandex.ru/playlists/{UUID}", PlaylistLink(UUID)),
        (
            "https://music.yandex.ru/playlists/8a5f0b7e-3f4c-4d2a-9b1e-2c3d4e5f6a7b",
            PlaylistLink("8a5f0b7e-3f4c-4d2a-9b1e-2c3d4e5f6a7b"),
        ),
        ("https://music.yandex.ru/chart", ChartLink()),
        # pasted variations: no scheme, http, www, query strings and fragments from "share"
        ("music.yandex.ru/album/1", AlbumLink("1")),
        (
            "http://www.music.yandex.ru/album/1?utm_source=desktop&utm_medium=copy_link",
            AlbumLink("1"),
        ),
        ("  https://MUSIC.YANDEX.RU/track/7#top  ", TrackLink("7")),
    ],
)
def test_every_link_kind_is_understood(link: str, target: object) -> None:
    assert parse_link(link) == target


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("", "empty link"),
        ("https://open.spotify.com/album/1", "not a Yandex Music link"),
        ("https://music.yandex.ru.evil.example/album/1", "not a Yandex Music link"),
        ("ftp://music.yandex.ru/album/1", "not a Yandex Music link"),
        ("https://yandex.ru/album/1", "not a Yandex Music link"),
        ("https://music.yandex.ru/", "not a link to an album"),
        ("https://music.yandex.ru/album/", "not a link to an album"),
        ("https://music.yandex.ru/album/abc", "not a link to an album"),
        ("https://music.yandex.ru/album/1/track/", "not a link to an album"),
        ("https://music.yandex.ru/track/1/extra", "not a link to an album"),
        ("https://music.yandex.ru/users/someone/playlists/", "not a link to an album"),
        ("https://music.yandex.ru/users/someone/playlists/abc", "not a link to an album"),
        ("https://music.yandex.ru/playlists/not-a-uuid", "not a link to an album"),
        ("https://music.yandex.ru/genre/rock", "not a link to an album"),
        ("https://music.yandex.ru/album/1234567890123", "not a link to an album"),
        ("https://music.yandex.ru/album/١٢٣", "not a link to an album"),  # digits, not ASCII
        ("https://music.yandex.ru:99999/album/1", "not a link"),
    ],
)
def test_malformed_links_are_refused_with_the_reason(link: str, why: str) -> None:
    with pytest.raises(LinkError, match=why):
        parse_link(link)


def test_parse_links_names_every_bad_link_at_once() -> None:
    good = "https://music.yandex.ru/album/1"
    assert parse_links([good, "https://music.yandex.ru/chart"]) == [AlbumLink("1"), ChartLink()]
    with pytest.raises(LinkError) as caught:
        parse_links(["bad-one", good, "https://music.yandex.ru/nope"])
    message = str(caught.value)
    assert "bad-one" in message and "/nope" in message and good not in message


def test_descriptions() -> None:
    assert describe(AlbumLink("1")) == "album 1"
    assert describe(TrackLink("2", "1")) == "track 2"
    assert describe(ArtistLink("3")) == "artist 3"
    assert describe(UserPlaylistLink("ann", "4")) == "playlist ann/4"
    assert describe(PlaylistLink(UUID)) == f"playlist {UUID}"
    assert describe(ChartLink()) == "chart"
    assert describe(LikedTracks()) == "liked tracks"


@pytest.mark.parametrize(
    ("text", "links"),
    [
        (
            "слушай https://music.yandex.ru/album/123/track/456?utm_source=desktop&utm_medium=copy_link!",
            ["https://music.yandex.ru/album/123/track/456?utm_source=desktop&utm_medium=copy_link"],
        ),
        ("(see music.yandex.com/track/9).", ["music.yandex.com/track/9"]),
        (
            "MUSIC.YANDEX.RU/album/5, and www.music.yandex.kz/track/7?x=1…",
            ["MUSIC.YANDEX.RU/album/5", "www.music.yandex.kz/track/7?x=1"],
        ),
        ("«https://music.yandex.by/track/8»", ["https://music.yandex.by/track/8"]),
        ("music.yandex.ruby.com/track/1 and yandex.ru/track/2", []),
        ("Кино — Группа крови", []),
    ],
)
def test_links_are_found_inside_a_sentence(text: str, links: list[str]) -> None:
    assert links_in(text) == links


def test_a_share_link_inside_a_sentence_names_its_track() -> None:
    text = "вот: https://music.yandex.ru/album/3/track/44?utm_medium=copy_link — огонь"
    assert [parse_link(link) for link in links_in(text)] == [TrackLink("44", "3")]
