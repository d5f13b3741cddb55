""" "Other artists only": a list that leaves out the asked-about artist, shows at most
ARTIST_CAP tracks per artist and one track per artist and title (a remaster, a live take or a
re-issue of the same song counts once), as song-radio users expect (Plexamp's "similar tracks"
leaves out the seed's artist; AudioMuse-AI caps songs per artist and drops duplicate titles).

Names are compared normalised: case, accents' composed forms, "ё", punctuation and white space
do not make two names differ, and "A feat. B", "A & B", "A, B" are the artists A and B.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from storage import Track

ARTIST_CAP = 2  # tracks per artist in one list
# credits' separators; not "/" or "+" (AC/DC), nor "x" or "и" (Malcolm X, "Ночные снайперы и …")
_SEPARATORS = re.compile(r"\s*(?:,|;|&|\bfeat\.|\bfeat\b|\bft\.|\bft\b|\bfeaturing\b)\s*", re.I)
_VERSION = re.compile(r"\s*(?:\([^)]*\)|\[[^\]]*\]|\s-\s.*)\s*")  # "(Live)", "[2011]", " - Remix"
_NOT_WORD = re.compile(r"[\W_]+")


def normalised(text: str | None) -> str:
    """A name as compared: casefolded, "ё" as "е", punctuation and spacing dropped."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().replace("ё", "е")
    return _NOT_WORD.sub(" ", folded).strip()


def artists(text: str | None) -> frozenset[str]:
    """The artists a credit names ("A feat. B & C" → {a, b, c}), normalised."""
    found = (normalised(part) for part in _SEPARATORS.split(text or ""))
    return frozenset(name for name in found if name)


def song(track: Track) -> tuple[str, str]:
    """What makes two tracks the same song: the credit and the title without its version."""
    title = normalised(_VERSION.sub(" ", track.title)) or normalised(track.title)
    return normalised(track.artist), title


def other_artists(tracks: Sequence[Track], asked_artist: str | None) -> list[bool]:
    """For a ranked list of tracks, best first, which ones the "other artists only" list keeps."""
    left_out = artists(asked_artist)
    per_artist: Counter[str] = Counter()
    songs: set[tuple[str, str]] = set()
    kept: list[bool] = []
    for track in tracks:
        credited = artists(track.artist)
        key = song(track)
        keep = (
            not credited & left_out
            and all(per_artist[name] < ARTIST_CAP for name in credited)
            and key not in songs
        )
        if keep:
            per_artist.update(credited)
            songs.add(key)
        kept.append(keep)
    return kept
