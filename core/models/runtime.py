"""TensorFlow start-up in one place: quiet logs, the Keras backend and the CPU thread budget."""

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info/warning banners on stderr
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def tensorflow(threads: int | None = None) -> ModuleType:
    """Import TensorFlow (quietly), limiting its CPU threads when `threads` is given.

    Threads can only be set before TensorFlow runs its first op, so a worker process calls this
    once, first. Inter-op parallelism is kept at 1: our graphs are a single chain of large ops.
    """
    with _quiet_stderr():
        import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow already ran an op in this process; keep its settings
    return tf


def traced(function: Callable[..., Any], signature: Sequence[Any]) -> Any:
    """`function` as one TensorFlow graph for inputs of `signature` (tf.TensorSpec), traced once.

    Without AutoGraph: our forward passes have no Python control flow on tensors to convert,
    and AutoGraph writes each function it converts to TMPDIR as `__autograph_generated_file*.py`,
    removed only at a clean interpreter exit, so every killed worker left its files behind.
    """
    tf = tensorflow()
    return tf.function(function, input_signature=list(signature), autograph=False)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hold back what native code writes to stderr while TensorFlow is first imported.

    Its C++ runtime prints "All log messages before absl::InitializeLog()…" and "oneDNN custom
    operations are on…" at import, whatever TF_CPP_MIN_LOG_LEVEL says, so every command would
    start with them. They are replayed if the import fails; TF_CPP_MIN_LOG_LEVEL=0 or 1 (what
    `python -m bot --verbose` sets) shows them as they come.
    """
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("0", "1"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
