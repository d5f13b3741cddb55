"""Reading a torch.save checkpoint without PyTorch: a restricted unpickler.

A torch.save file is a zip of a pickle (`…/data.pkl`) plus each tensor's raw little-endian
storage (`…/data/<key>`). Unpickling it with the standard unpickler would let the file run any
code; `read_checkpoint` allows only what a state dict holds (tensors, ordered dicts, numpy
scalars and dtypes) and turns each tensor into a numpy array bit for bit. aisfx's checkpoint is
read this way (core/models/aisfx.py).
"""

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ModelFileError

# torch storage classes in the pickle → the numpy dtype of their raw little-endian bytes
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype


def _rebuild_tensor_v2(
    storage: npt.NDArray[Any],
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_: object,
) -> npt.NDArray[Any]:
    """torch._utils._rebuild_tensor_v2 with a numpy storage: a copied strided view."""
    if not size:
        return np.array(storage[offset])
    end = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if offset < 0 or end > storage.shape[0]:
        raise ModelFileError("a tensor reaches outside its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:],
        shape=size,
        strides=tuple(s * storage.itemsize for s in stride),
        writeable=False,
    )
    return np.array(view)


def _numpy_scalar(dtype: np.dtype[Any], data: bytes | None = None) -> Any:
    """numpy's scalar reconstructor, for plain (non-object) dtypes only."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a numpy scalar of an unsupported kind")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("an unexpected text encoding in the checkpoint")
    return text.encode("latin1")


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a torch.save zip's data.pkl allowing only tensors and plain containers."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "scalar":
            return _numpy_scalar  # the class counts of its datasets, in the second item
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes  # how protocol 2 pickles the bytes of those scalars
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"the checkpoint refers to {module}.{name}: not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("a storage of an unknown type")
        raw = self._archive.read(f"{self._prefix}data/{key}")
        array = np.frombuffer(raw, dtype=storage_type.dtype)
        if array.shape[0] < numel:
            raise ModelFileError(f"storage {key} holds {array.shape[0]} values, not {numel}")
        return array[:numel]


def read_checkpoint(path: Path) -> Any:
    """The object a torch.save zip at `path` holds, tensors as numpy arrays (no PyTorch)."""
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ModelFileError(f"{path} is not a torch.save zip")
        prefix = pickles[0].removesuffix("data.pkl")
        return _CheckpointUnpickler(archive.read(pickles[0]), archive, prefix).load()
