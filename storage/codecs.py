"""Byte layouts of the blobs and timestamps stored in SQLite.

Vectors and scores are little-endian float32 and track ids little-endian int64, whatever the
machine's byte order, so a database file can move between hosts.
"""

from datetime import datetime

import numpy as np
import numpy.typing as npt

FLOAT32_LE = np.dtype("<f4")
FLOAT16_LE = np.dtype("<f2")  # section vectors: they only pick which track leads an answer
INT64_LE = np.dtype("<i8")

# Every `*_at` column defaults to this: UTC, ISO 8601, millisecond precision, sortable as text.
SQL_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"


def encode_vector(vector: npt.ArrayLike) -> bytes:
    """Validate one embedding (1-D, non-empty, finite) and return its float32 bytes."""
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty 1-D vector, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("vector contains NaN or infinity")
    return array.astype(FLOAT32_LE, copy=False).tobytes()


def encode_rows(rows: npt.ArrayLike, width: int) -> bytes:
    """Validate (k ≥ 1, width) finite rows and return them as float16 bytes."""
    array = np.asarray(rows, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != width:
        raise ValueError(f"expected (k ≥ 1, {width}) rows, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("rows contain NaN or infinity")
    return array.astype(FLOAT16_LE).tobytes()


def decode_rows(blob: bytes, width: int) -> npt.NDArray[np.float32]:
    """Inverse of `encode_rows`: (k, width) float32."""
    return np.frombuffer(blob, dtype=FLOAT16_LE).astype(np.float32).reshape(-1, width)


def encode_ranking(track_ids: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[bytes, bytes]:
    """Pack a ranking as (int64 ids, float32 scores) blobs; both must be 1-D of equal length."""
    ids = np.asarray(track_ids)
    values = np.asarray(scores, dtype=np.float32)
    if ids.ndim != 1 or values.ndim != 1 or ids.shape != values.shape:
        raise ValueError(f"ids {ids.shape} and scores {values.shape} must be 1-D of equal length")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"track ids must be integers, got {ids.dtype}")
    return ids.astype(INT64_LE).tobytes(), values.astype(FLOAT32_LE).tobytes()


def decode_ranking(
    ids_blob: bytes, scores_blob: bytes
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Inverse of `encode_ranking`: ((n,) int64 ids, (n,) float32 scores)."""
    ids = np.frombuffer(ids_blob, dtype=INT64_LE).astype(np.int64)
    scores = np.frombuffer(scores_blob, dtype=FLOAT32_LE).astype(np.float32)
    if ids.shape != scores.shape:
        raise ValueError(f"ranking has {ids.size} ids but {scores.size} scores")
    return ids, scores


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp written by SQL_NOW into an aware UTC datetime."""
    return datetime.fromisoformat(text)
