"""The restricted unpickler of torch.save checkpoints (core/models/torch_checkpoint.py)."""

import pickle
import zipfile
from pathlib import Path

import pytest

from core.errors import ModelFileError
from core.models.torch_checkpoint import read_checkpoint


def test_the_unpickler_refuses_anything_but_tensors(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("echo owned",))

    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_checkpoint(path)
    with zipfile.ZipFile(tmp_path / "empty.pth", "w") as archive:
        archive.writestr("x.txt", b"")
    with pytest.raises(ModelFileError):
        read_checkpoint(tmp_path / "empty.pth")
