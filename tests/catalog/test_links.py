"""Yandex Music links: the most precise page the stored ids allow."""

from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.links import yandex_music_url


def search_text(url: str) -> str:
    """The decoded `text` parameter of a search link (empty if there is none)."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "music.yandex.ru", "/search")
    assert parts.fragment == ""  # a "#" in a title must not cut the link short
    return parse_qs(parts.query).get("text", [""])[0]


def test_album_and_track_id() -> None:
    url = yandex_music_url(track_id="328794", album_id="32312", artist="Кино", title="Звезда")
    assert url == "https://music.yandex.ru/album/32312/track/328794"


def test_integer_ids_are_accepted() -> None:
    assert yandex_music_url(track_id=5, album_id=7) == "https://music.yandex.ru/album/7/track/5"


def test_track_id_only() -> None:
    assert yandex_music_url(track_id="328794") == "https://music.yandex.ru/track/328794"
    assert yandex_music_url(track_id=" 42 ", album_id="  ") == "https://music.yandex.ru/track/42"


def test_album_id_alone_does_not_name_the_track() -> None:
    url = yandex_music_url(album_id="32312", artist="Кино", title="Звезда")
    assert search_text(url) == "Кино Звезда"


def test_search_with_cyrillic() -> None:
    url = yandex_music_url(artist="Кино", title="Группа крови")
    assert url == (
        "https://music.yandex.ru/search?text="
        "%D0%9A%D0%B8%D0%BD%D0%BE+%D0%93%D1%80%D1%83%D0%BF%D0%BF%D0%B0+%D0%BA%D1%80%D0%BE%D0%B2%D0%B8"
    )
    assert search_text(url) == "Кино Группа крови"


@pytest.mark.parametrize(
    ("artist", "title", "encoded"),
    [
        ("Simon & Garfunkel", "The Boxer", "Simon+%26+Garfunkel+The+Boxer"),
        ("AC/DC", "T.N.T.", "AC%2FDC+T.N.T."),
        ("Who?", "Why?", "Who%3F+Why%3F"),
        ("Jay", "#1 Crush", "Jay+%231+Crush"),
        ("50%", "a+b=c", "50%25+a%2Bb%3Dc"),
    ],
)
def test_search_escapes_url_syntax(artist: str, title: str, encoded: str) -> None:
    url = yandex_music_url(artist=artist, title=title)
    assert url == f"https://music.yandex.ru/search?text={encoded}"
    assert search_text(url) == f"{artist} {title}"


def test_search_with_missing_parts() -> None:
    assert search_text(yandex_music_url(title="Звезда")) == "Звезда"
    assert search_text(yandex_music_url(artist="  Кино ", title="")) == "Кино"
    assert yandex_music_url() == "https://music.yandex.ru/search?text="


@pytest.mark.parametrize("bad", ["1/2?x#y", "3 4", "١٢٣", "²", "12a", "-5"])
def test_an_id_that_is_not_ascii_digits_falls_back_to_a_search(bad: str) -> None:
    """Such an id names no Yandex page: it used to make a link to nowhere."""
    url = yandex_music_url(track_id=bad, album_id="55", artist="Кино", title="Звезда")
    assert search_text(url) == "Кино Звезда"
    url = yandex_music_url(track_id="777", album_id=bad)
    assert url == "https://music.yandex.ru/track/777"
