"""TensorFlow start-up in one place: quiet logs, the Keras backend and the CPU thread budget."""

import os
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info/warning banners on stderr
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def tensorflow(threads: int | None = None) -> ModuleType:
    """Import TensorFlow, limiting its CPU threads when `threads` is given.

    Threads can only be set before TensorFlow runs its first op, so a worker process calls this
    once, first. Inter-op parallelism is kept at 1: our graphs are a single chain of large ops.
    """
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow already ran an op in this process; keep its settings
    return tf
