""" "Other artists only": which tracks of a ranked list it keeps (catalog.variety)."""

from datetime import UTC, datetime

import pytest

from catalog.variety import ARTIST_CAP, artists, other_artists, song
from storage import Track


def track(track_id: int, artist: str | None, title: str) -> Track:
    return Track(track_id, "0" * 64, title, artist, None, None, None, None, None, datetime.now(UTC))


def kept(tracks: list[Track], asked: str | None) -> list[int]:
    return [t.id for t, keep in zip(tracks, other_artists(tracks, asked), strict=True) if keep]


def test_the_asked_about_artist_is_left_out_in_any_spelling() -> None:
    ranked = [
        track(1, "Кино", "Звезда"),
        track(2, "КИНО", "Кукушка"),
        track(3, "Земфира feat. Кино", "Live"),
        track(4, "Сплин", "Выхода нет"),
        track(5, None, "Untitled"),
    ]
    assert kept(ranked, "кино") == [4, 5]
    assert kept(ranked, None) == [1, 2, 4, 5]  # nothing left out; Кино's third is over the cap


def test_at_most_two_tracks_per_artist_counting_each_credited_artist() -> None:
    ranked = [track(i, "Alpha", f"Song {i}") for i in range(1, 5)]
    ranked.append(track(5, "Beta & Alpha", "Together"))  # Alpha is full: left out too
    ranked.append(track(6, "Beta", "Solo"))
    assert kept(ranked, "Gamma") == [1, 2, 6]
    assert ARTIST_CAP == 2


@pytest.mark.parametrize(
    "title", ["Same Song (Remastered 2011)", "same song", "Same Song [Live]", "Same Song - Edit"]
)
def test_one_track_per_artist_and_title_whatever_its_version(title: str) -> None:
    ranked = [track(1, "Beta", "Same Song"), track(2, "beta", title), track(3, "Other", title)]
    assert kept(ranked, None) == [1, 3]  # another artist's song of that name is another song


def test_names_are_normalised() -> None:
    assert artists("Ёлка, Noize MC ft. Монеточка") == {"елка", "noize mc", "монеточка"}
    assert artists("AC/DC") == {"ac dc"} and artists(None) == frozenset()
    assert song(track(1, "Ёлка", "Прованс (Radio Edit)")) == ("елка", "прованс")
