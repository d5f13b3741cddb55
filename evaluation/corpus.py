"""The folder an evaluation runs on: one sub-folder per group (an album, a soundtrack).

Named apart from the importer's file discovery: here the folder structure is the ground truth
(same sub-folder = a right answer), there it is only where files happen to lie.
"""

from dataclasses import dataclass
from pathlib import Path

from core.audio import looks_like_audio
from evaluation.errors import EvalUsageError


@dataclass(frozen=True)
class Track:
    """One audio file of the corpus; `sha256` keys its cached results."""

    path: Path
    group: str
    sha256: str


def grouped_tracks(folder: Path) -> tuple[list[tuple[Path, str]], int]:
    """(file, group) of the audio files under `folder`'s sub-folders, sorted; and how many audio
    files lie directly in `folder` (they belong to no group and are ignored)."""
    if not folder.is_dir():
        raise EvalUsageError(f"{folder}: no such folder")
    found = []
    loose = 0
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            for path in sorted(child.rglob("*")):
                hidden = any(part.startswith(".") for part in path.relative_to(child).parts)
                if path.is_file() and not hidden and looks_like_audio(path):
                    found.append((path, child.name))
        elif child.is_file() and looks_like_audio(child):
            loose += 1
    return found, loose
