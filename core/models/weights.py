"""Pretrained weights come from installed registry packages, never downloaded: find a package's
file and check it is exactly the file the port was proven with."""

import hashlib
import importlib.util
from pathlib import Path

from core.errors import ModelFileError


def verified_package_file(package: str, pin: str, relative: str, sha256: str) -> Path:
    """The file `relative` inside the installed `package`, checked against its sha256.

    `pin` is the requirement that provides it ("musicnn==0.1.0"), named in every error so that
    the operator knows what to (re)install. Raises ModelFileError.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the {package} package is not installed: pip install --no-deps {pin}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelFileError(f"{path} is missing; reinstall {pin}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelFileError(f"{path} has sha256 {digest}, expected {sha256}")
    return path
