"""Per-model results kept on disk, so that a rerun, or a run adding one model, costs only what
is new."""

import json
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from core.models.spec import ModelSpec
from evaluation.excerpts import EXCERPT_BITRATE, EXCERPT_SECONDS, REENCODE_BITRATE
from evaluation.specs import eval_patches

CACHE_VERSION = 1

# What is embedded of each track: the file, its excerpt and (--duplicates) its re-encode; of a
# model whose queries are embedded otherwise than its catalog (the fusion), the file as a query.
Part = Literal["full", "query", "excerpt", "reencode"]


class SpecCache:
    """One model spec's per-track results in one .npz, keyed `<sha256>/<field>`.

    Fields: "full", "query", "excerpt", "reencode": (patches, dim) float32 patch vectors (a
    fusion's first part; "<part>.1" … its others: evaluation.specs.part_field); "<part>.tags":
    (patches, tags); "seconds": [decode, front end + network] of the full track as the bot
    answers it (a fusion: as a query); "duration":
    analysed seconds; "error": why the track could not be used. A file written with other
    settings or by a model of another id (new weights, a new front end) is started again.
    """

    def __init__(self, path: Path, spec: ModelSpec) -> None:
        self.path = path
        self.meta: dict[str, Any] = {
            "version": CACHE_VERSION,
            "spec": spec.name,
            "model_id": spec.model_id,
            "max_patches": eval_patches(spec),
            "excerpt": [EXCERPT_SECONDS, EXCERPT_BITRATE],
            "reencode": REENCODE_BITRATE,
        }
        # a fusion embeds a query otherwise than a catalog track (its "query" field)
        self.separate_queries = bool(spec.parts)
        if self.separate_queries:  # the query windows of each part
            self.meta["caps"] = list(spec.part_caps)
        self.entries: dict[str, dict[str, npt.NDArray[Any]]] = {}
        self.dirty = False
        if path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
                if {k: meta.get(k) for k in self.meta} != self.meta:
                    return  # another version, setting or model: start again
                for key in data.files:
                    sha, _, name = key.partition("/")
                    if name:
                        self.entries.setdefault(sha, {})[name] = data[key]
        except (OSError, ValueError, KeyError) as error:  # a damaged file: recompute
            print(f"ignoring unreadable cache {self.path}: {error}", file=sys.stderr)
            self.entries = {}

    def has(self, sha: str, part: Part) -> bool:
        entry = self.entries.get(sha, {})
        return "error" in entry or part in entry

    def error(self, sha: str) -> str | None:
        entry = self.entries.get(sha, {})
        return str(entry["error"]) if "error" in entry else None

    def put(self, sha: str, name: str, value: npt.NDArray[Any] | str | float) -> None:
        self.entries.setdefault(sha, {})[name] = np.asarray(value)
        self.dirty = True

    def save(self) -> None:
        """Write atomically (a temp file renamed over the old one), if anything changed."""
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"__meta__": np.asarray(json.dumps(self.meta))}
        for sha, entry in self.entries.items():
            arrays.update({f"{sha}/{name}": value for name, value in entry.items()})
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as file:
            np.savez(file, allow_pickle=False, **arrays)
        temporary.replace(self.path)
        self.dirty = False
