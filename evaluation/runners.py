"""The models of a run, loaded in this process: one runner per network, serving one or more
specs from a single forward pass."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from core.constants import MUSICNN_MEL_BANDS, MUSICNN_PATCH_FRAMES
from core.embedding import track_vector, warm_up
from core.models.base import AudioModel, PatchOutputs
from core.models.fusion import FusionModel
from core.models.spec import ModelSpec, parse_model_spec
from evaluation.specs import eval_patches

MUSICNN_FAMILIES = ("msd-vgg", "msd-musicnn")


class Runner:
    """One loaded model serving one spec; `model` may be passed in when already loaded."""

    def __init__(self, spec: ModelSpec, model: AudioModel | None = None) -> None:
        self.specs: tuple[str, ...] = (spec.name,)
        self.model: AudioModel = model if model is not None else spec.load()
        self.patches = eval_patches(spec)  # per track, cached (evaluation.specs)

    def outputs(self, patches: npt.NDArray[np.float32]) -> dict[str, PatchOutputs]:
        """Each spec's per-patch outputs for a batch of patches (one network call)."""
        return {self.specs[0]: self.model.predict(patches)}

    def warm_up(self) -> None:
        warm_up(self.model)


class MusicnnLayers(Runner):
    """Several layers of one musicnn checkpoint from one network call instead of one each.

    The network's named outputs are read directly; at warm-up the loaded model's own
    `predict` (for the first layer, mean_max_pool when asked for, which covers the
    concatenation) must agree with them, so the figures are still those of the bot's path.
    """

    def __init__(self, family: str, layers: Sequence[str]) -> None:
        import keras

        from core.models.musicnn import MusicnnModel
        from core.models.runtime import tensorflow, traced

        ordered = sorted(layers, key=lambda layer: layer != "mean_max_pool")
        self.specs = tuple(f"{family}/{layer}" for layer in ordered)
        spec = parse_model_spec(self.specs[0])
        model = spec.load()
        assert isinstance(model, MusicnnModel)
        self.model = model
        self.patches = eval_patches(spec)
        network = model.network

        def forward(patches: Any) -> tuple[Any, ...]:
            out = network(patches, training=False)
            values = [
                keras.ops.concatenate([out["mean_pool"], out["max_pool"]], axis=1)
                if layer == "mean_max_pool"
                else out[layer]
                for layer in ordered
            ]
            return (*values, keras.ops.sigmoid(out["logits"]))

        tf = tensorflow()
        signature = [tf.TensorSpec([None, MUSICNN_PATCH_FRAMES, MUSICNN_MEL_BANDS], tf.float32)]
        self._forward = traced(forward, signature)  # no AutoGraph: no files left in TMPDIR

    def outputs(self, patches: npt.NDArray[np.float32]) -> dict[str, PatchOutputs]:
        *values, tags = self._forward(np.ascontiguousarray(patches, dtype=np.float32))
        tags = np.asarray(tags, dtype=np.float32)
        return {
            spec: PatchOutputs(np.asarray(value, dtype=np.float32), tags)
            for spec, value in zip(self.specs, values, strict=True)
        }

    def warm_up(self) -> None:
        super().warm_up()
        noise = np.random.default_rng(1).standard_normal(4 * MUSICNN_PATCH_FRAMES * 256)
        patches = self.model.patches(0.1 * noise.astype(np.float32))
        expected = self.model.predict(patches)
        got = self.outputs(patches)[self.specs[0]]
        for ours, theirs in ((got.embeddings, expected.embeddings), (got.tags, expected.tags)):
            if not np.allclose(ours, theirs, rtol=1e-4, atol=1e-4):
                raise RuntimeError(f"{self.specs[0]}: one-pass outputs differ from predict()")


class FusionRunner(Runner):
    """A fusion (core/models/fusion.py): its parts' per-patch outputs, cached per part, from
    the bot's own functions (core.audio.load_windows, the model's track_inputs and
    window_inputs, each part's predict)."""

    def __init__(self, spec: ModelSpec) -> None:
        loaded = spec.load()
        assert isinstance(loaded, FusionModel)
        self.fusion = loaded
        self.model = loaded
        self.specs = (spec.name,)
        self.patches = eval_patches(spec)
        self.spec = spec

    def part_outputs(self, inputs: list[npt.NDArray[np.float32]]) -> list[PatchOutputs]:
        """Each part's per-patch outputs (one network call per part)."""
        return [part.predict(x) for part, x in zip(self.fusion.parts, inputs, strict=True)]

    def warm_up(self) -> None:
        """Warm the networks and check that pooling the parts' outputs as the evaluation does
        gives the bot's vector."""
        warm_up(self.model)
        rng = np.random.default_rng(1)
        audio = (0.1 * rng.standard_normal(100 * self.model.sample_rate)).astype(np.float32)
        expected = self.fusion.embed_track(audio).vector
        outputs = self.part_outputs(self.fusion.track_inputs(audio))
        parts = [track_vector(out.embeddings) for out in outputs]
        got = np.concatenate(parts) / np.sqrt(len(parts))
        if not np.allclose(got, expected, atol=1e-4):
            raise RuntimeError(f"{self.spec.name}: cached parts do not pool to the bot's vector")


def build_runners(specs: Sequence[ModelSpec]) -> list[Runner]:
    """One runner per spec, except that layers of one musicnn checkpoint share a runner."""
    layers: dict[str, list[str]] = {}
    for spec in specs:
        if spec.family in MUSICNN_FAMILIES:
            layers.setdefault(spec.family, []).append(spec.layer)
    runners: list[Runner] = []
    for spec in specs:
        shared = layers.get(spec.family, [])
        if spec.family == "fusion":
            runners.append(FusionRunner(spec))
        elif len(shared) <= 1:
            runners.append(Runner(spec))
        elif spec.layer == shared[0]:
            runners.append(MusicnnLayers(spec.family, shared))
    return runners
