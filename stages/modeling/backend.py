"""TensorFlow and Keras, loaded quietly and set up for reproducible CPU results.

Import `keras` and `tf` from here, never directly, so these run first:

- TensorFlow 2.21 writes absl lines to stderr before its logging starts
  ("Could not find cuda drivers", a `cuInit` CUDA *error* on any machine
  without a GPU), whatever TF_CPP_MIN_LOG_LEVEL says. Native code writes them
  to file descriptor 2, so it is pointed at a temporary file while TensorFlow
  loads and finds its devices, then restored; if loading fails, what
  TensorFlow said is shown after all. MNIST_ZOO_TF_LOG=1 lets it all through.
- oneDNN's CPU kernels on, whatever the shell says (measured: 1.8x faster on
  the convolutions, docs/benchmarks.md).
- Keras loads without pyplot (for plotting helpers no stage calls) and pandas (for
  DataFrames, which no stage passes), which it imports whenever they are installed:
  a stage starts 0.5-1 s sooner (docs/benchmarks.md). Both stay importable after.

A model stage then calls `start(threads)` with the `tensorflow:` params before any
op: TensorFlow's CPU results are bit-identical only for the same thread counts, so
they are params, the same in every mode and on any machine. Importing this runs no
op.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
from collections.abc import Iterator

TENSORFLOW_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "1"}  # oneDNN's kernels, whatever the shell
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2"}         # a default: the shell's wins
SHOW_LOG = os.environ.get("MNIST_ZOO_TF_LOG") == "1"

os.environ.update(TENSORFLOW_ENVIRONMENT)
for _name, _value in QUIET_TENSORFLOW.items():
    os.environ.setdefault(_name, "0" if SHOW_LOG else _value)


@contextlib.contextmanager
def native_stderr_held() -> Iterator[None]:
    """Send what native code writes to stderr into a file; replay it on failure. (Also
    for other native chatter: LiteRT's "Created TensorFlow Lite XNNPACK delegate".)"""
    if SHOW_LOG:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def start(threads: list[int]) -> None:
    """Fix TensorFlow's thread counts (per op, ops at once) and find its devices, quietly;
    before its first op, the only time the counts can be set. And freeze what is loaded
    by now (`gc.freeze`): TensorFlow's 300,000 objects live as long as the process, and
    every full collection walked them (Keras's `clear_session` before a model is built,
    the LiteRT converter's: 0.15-0.2 s each, docs/benchmarks.md)."""
    if not gc.get_freeze_count():  # once a process
        gc.freeze()
    intra, inter = threads
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        if (tf.config.threading.get_intra_op_parallelism_threads(),
                tf.config.threading.get_inter_op_parallelism_threads()) != (intra, inter):
            raise RuntimeError("TensorFlow ran an op before its thread counts were set: "
                               "call stages.modeling.backend.start first") from None
    with native_stderr_held():
        tf.config.list_logical_devices()  # finds the devices now, while stderr is held


NOT_FOR_KERAS = ("matplotlib.pyplot", "pandas")  # what Keras would import for nothing


@contextlib.contextmanager
def _held_out(names: tuple[str, ...]) -> Iterator[None]:
    """Make `import name` fail for the modules not yet imported (Keras then goes
    without them, as where they are not installed), then let them be imported again."""
    held = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(held))  # None: "not importable", to the import system
    try:
        yield
    finally:
        for name in held:
            del sys.modules[name]


with native_stderr_held(), _held_out(NOT_FOR_KERAS):
    import keras  # noqa: F401 (re-exported: import it from here)
    import tensorflow as tf

# The counts for code that is not a stage (tests, the serving's Keras runtime), set now
# and no op run: a stage's `start` sets its params' (params.yaml ships these).
UNSTAGED_THREADS = [1, 2]
tf.config.threading.set_intra_op_parallelism_threads(UNSTAGED_THREADS[0])
tf.config.threading.set_inter_op_parallelism_threads(UNSTAGED_THREADS[1])
