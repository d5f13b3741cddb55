"""A file's content hash: the key under which the catalog and the evaluation know a track."""

import hashlib
from pathlib import Path

HASH_CHUNK = 1 << 20  # read in 1 MiB pieces: a long flac never sits in memory whole


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file's bytes; raises OSError when it cannot be read."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
