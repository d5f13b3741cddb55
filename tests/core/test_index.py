"""The approximate index (core/index.py) against exact ranking; needs the optional faiss."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from core import index as ann
from core.ranking import rank

pytest.importorskip("faiss", reason="faiss-cpu is optional: pip install -r requirements-scale.txt")

DIM = 256
MODEL = "msd-vgg/pool5@test"
ROOT = Path(__file__).resolve().parents[2]


def unit_rows(n: int, seed: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_recall_at_10_against_exact_ranking() -> None:
    matrix, ids = unit_rows(4000, 1), np.arange(10, 4010, dtype=np.int64)
    index = ann.VectorIndex.build(MODEL, ids, matrix, revision=1)
    recalls = []
    for query in unit_rows(50, 2):
        exact = rank(query, matrix, ids, 10).ids
        found = index.search(query, 100).ids[:10]
        recalls.append(len(set(exact) & set(found)) / 10)
    assert np.mean(recalls) >= 0.98


def test_a_tiny_catalog_gives_every_id() -> None:
    matrix, ids = unit_rows(40, 3), np.arange(40, dtype=np.int64) * 7
    index = ann.VectorIndex.build(MODEL, ids, matrix, revision=5)
    query = unit_rows(1, 4)[0]
    found = index.search(query, 100)
    assert sorted(found.ids) == sorted(ids)
    assert list(found.ids[:5]) == list(rank(query, matrix, ids, 5).ids)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    matrix, ids = unit_rows(1000, 5), np.arange(1000, dtype=np.int64) + 1
    index = ann.VectorIndex.build(MODEL, ids, matrix, revision=9)
    path = tmp_path / "sub" / "model.faiss"
    index.save(path)
    loaded = ann.VectorIndex.load(path, MODEL, DIM)
    assert (loaded.model_id, loaded.dim, loaded.revision) == (MODEL, DIM, 9)
    assert np.array_equal(loaded.ids, ids)
    query = unit_rows(1, 6)[0]
    assert np.array_equal(loaded.search(query, 20).ids, index.search(query, 20).ids)
    assert [p.name for p in path.parent.iterdir()] == ["model.faiss"]  # no temporary left


def test_an_index_of_another_model_or_dimension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.faiss"
    ann.VectorIndex.build(MODEL, np.arange(100, dtype=np.int64), unit_rows(100, 7), 1).save(path)
    with pytest.raises(ann.IndexMismatchError):
        ann.VectorIndex.load(path, "other-model", DIM)
    with pytest.raises(ann.IndexMismatchError):
        ann.VectorIndex.load(path, MODEL, 128)
    index = ann.VectorIndex.load(path, MODEL, DIM)
    with pytest.raises(ann.IndexMismatchError):
        index.search(np.zeros(128, np.float32), 5)
    with pytest.raises(ann.IndexMismatchError):
        index.add(np.array([1000]), unit_rows(1, 8, dim=128), 2)


def test_a_corrupt_or_truncated_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.faiss"
    ann.VectorIndex.build(MODEL, np.arange(100, dtype=np.int64), unit_rows(100, 7), 1).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ann.IndexFileError):
        ann.VectorIndex.load(path, MODEL, DIM)
    path.write_bytes(b"not an index at all")
    with pytest.raises(ann.IndexFileError):
        ann.VectorIndex.load(path, MODEL, DIM)


def test_vectors_added_later_are_found() -> None:
    matrix, ids = unit_rows(2000, 9), np.arange(2000, dtype=np.int64)
    index = ann.VectorIndex.build(MODEL, ids, matrix, revision=1)
    extra = unit_rows(10, 10)
    index.add(np.arange(5000, 5010, dtype=np.int64), extra, revision=2)
    assert (len(index), index.revision) == (2010, 2)
    for i, vector in enumerate(extra):
        assert index.search(vector, 10).ids[0] == 5000 + i


def test_sub_quantisers_divide_the_dimension() -> None:
    assert ann.subquantisers(256) == 128
    assert ann.subquantisers(50) == 50
    assert ann.subquantisers(200) == 100
    assert 200 % ann.subquantisers(200) == 0


def test_scores_are_the_cosines_within_a_thousandth() -> None:
    matrix, ids = unit_rows(3000, 11), np.arange(3000, dtype=np.int64)
    index = ann.VectorIndex.build(MODEL, ids, matrix, revision=1)
    for query in unit_rows(10, 12):
        found = index.search(query, 100)
        assert np.allclose(found.scores, matrix[found.ids] @ query, atol=1e-3)
        assert np.all(np.diff(found.scores) <= 0)  # best first


def test_a_file_of_the_earlier_format_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Format 1 held 8-bit copies: such a file is rebuilt (IndexFileError), never used."""
    path = tmp_path / "model.faiss"
    index = ann.VectorIndex.build(MODEL, np.arange(100, dtype=np.int64), unit_rows(100, 13), 1)
    monkeypatch.setattr(ann, "FORMAT", 1)
    index.save(path)
    monkeypatch.undo()
    with pytest.raises(ann.IndexFileError):
        ann.VectorIndex.load(path, MODEL, DIM)


# A process logging at INFO, as the bot does, that ranks through an index (so imports faiss).
LOGGING_START = """
import logging, numpy as np
logging.basicConfig(level=logging.INFO)
from core import index
assert index.available()
rows = np.eye(8, 16, dtype=np.float32)
index.VectorIndex.build("m", np.arange(8), rows, revision=1).search(rows[3], 1)
logging.getLogger("faiss.loader").info("Could not load library with GPU support due to: x")
"""


def test_faiss_absent_cpu_builds_are_not_logged_at_start() -> None:
    """faiss's loader tries its AVX512 and AVX2 builds first and logged "ModuleNotFoundError"
    for each one the wheel lacks, at every start of the bot; its other lines still show."""
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_START], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "ModuleNotFoundError" not in done.stderr
    assert "INFO:faiss.loader:Successfully loaded faiss" in done.stderr  # logging was on
    assert "Could not load library with GPU support due to: x" in done.stderr  # not all of it


def test_an_index_trained_first_and_filled_a_chunk_at_a_time_ranks_as_built_whole() -> None:
    """A catalog streamed from storage (catalog/space_index.py) is never held whole: the index
    is trained on a sample, then filled chunk by chunk, and answers like one built at once."""
    matrix, ids = unit_rows(3000, 20, dim=96), np.arange(3000, dtype=np.int64)
    index = ann.VectorIndex.trained(MODEL, matrix[::3], revision=1, pq=48)
    for start in range(0, 3000, 700):
        index.add(ids[start : start + 700], matrix[start : start + 700], revision=2)
    assert len(index) == 3000 and index.revision == 2
    for query in unit_rows(10, 21, dim=96):
        exact = rank(query, matrix, ids, 10)
        found = index.search(query, 10, k_factor=50)
        assert len(set(found.ids.tolist()) & set(exact.ids.tolist())) >= 9
    with pytest.raises(ValueError, match="do not divide"):
        ann.VectorIndex.trained(MODEL, matrix, revision=1, pq=50)
