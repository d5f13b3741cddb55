"""Runs the musicnn package's own TF1 graph, as shipped in its `.meta` file: the reference our
Keras ports are proven against."""

from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.models.musicnn import read_checkpoint
from core.models.runtime import tensorflow

TRAINING_PREFIXES = ("gradients", "save", "init")


def inference_graph_def(meta_path: Path) -> object:
    """The shipped graph without its training nodes (and whatever depended on them)."""
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(meta_path.read_bytes())
    nodes = [
        node
        for node in meta.graph_def.node
        if not node.name.startswith(TRAINING_PREFIXES) and "Adam" not in node.name
    ]
    while True:  # drop nodes whose inputs are gone, until none are
        names = {node.name for node in nodes}
        kept = [
            node
            for node in nodes
            if all(inp.lstrip("^").split(":")[0] in names for inp in node.input)
        ]
        if len(kept) == len(nodes):
            break
        nodes = kept
    graph_def = type(meta.graph_def)()
    graph_def.versions.CopyFrom(meta.graph_def.versions)
    graph_def.node.extend(nodes)
    return graph_def


def run_reference(
    checkpoint_folder: Path, patches: npt.NDArray[np.float32], outputs: list[str]
) -> list[npt.NDArray[np.float32]]:
    """Feed `patches` (n, 187, 96) to the package's graph with is_training=False."""
    tf = tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(inference_graph_def(checkpoint_folder / ".meta"), name="")
        values = read_checkpoint(checkpoint_folder)
        assigns = [
            tf.compat.v1.assign(graph.get_tensor_by_name(f"{node.name}:0"), values[node.name])
            for node in graph.as_graph_def().node
            if node.op == "VariableV2" and node.name in values
        ]
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(assigns)
            return session.run(
                [f"{name}:0" for name in outputs],
                feed_dict={"model/Placeholder:0": patches, "model/Placeholder_2:0": False},
            )
