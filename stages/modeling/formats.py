"""A trained model in the formats that leave the pipeline, each checked against Keras.

- TensorFlow SavedModel (TF Serving, TensorFlow anywhere): Keras's `model.export`;
- LiteRT (TFLite) flat buffer, built-in ops only (what phones and microcontrollers
  run without TensorFlow's own kernels): what `model.export(format="litert")` writes,
  converted from the SavedModel above;
- ONNX (onnxruntime, browsers, Triton): `model.export(format="onnx")`, through tf2onnx,
  ending in `probabilities` (a softmax appended where the model gives logits), laid out
  with its `config.pbtxt` as one model of a Triton model repository (`exports/` is one).

Each export is run by its own runtime (TensorFlow, TensorFlow's LiteRT
interpreter, onnxruntime) on the test set, and its class probabilities are
compared with the Keras model's. A format that cannot express a layer is named
with the layer (found by exporting ever longer heads of the model), and the
other formats still export.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stages.modeling.backend import keras, native_stderr_held, tf
from stages.modeling.onnx_session import onnx_runner, softmax
from stages.modeling.saving import INFERENCE_BATCH, outputs_logits, predict_proba

# Format -> (the file or folder it writes, Keras's name for it, its export options).
FORMATS = {
    "saved_model": ("saved_model", "tf_saved_model", {}),
    "litert": ("model.tflite", "litert",
               {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}),
    "onnx": ("1/model.onnx", "onnx", {}),  # version 1 of a Triton repository's model
}
ONNX_OUTPUT = "probabilities"  # what the server's protocol names it, and Triton's config
TRITON_CONFIG = """\
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch}
input [ {{ name: "image", data_type: TYPE_FP32, dims: [ {dims} ] }} ]
output [ {{ name: "{output}", data_type: TYPE_FP32, dims: [ {classes} ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: 1000 }}
instance_group [ {{ kind: KIND_CPU, count: 1 }} ]
"""


class _Unsupported(logging.Handler):
    """tf2onnx does not fail on an op ONNX has no counterpart for: it logs an error and
    writes a model onnxruntime cannot run. Those errors are collected here instead."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.ops: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "is not supported" in message:
            self.ops.append(message.split("[", 1)[-1].split("]")[0].rsplit(": ", 1)[-1])


@contextlib.contextmanager
def _quiet():
    """tf2onnx and TensorFlow's converter log every step; they say nothing unless asked,
    and an op tf2onnx cannot convert is an error, not a log line."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow", "absl")]
    saved = [(logger.level, logger.handlers, logger.propagate) for logger in loggers]
    unsupported = _Unsupported()
    for logger in loggers:
        logger.setLevel(logging.ERROR)
        logger.handlers, logger.propagate = [unsupported], False
    with warnings.catch_warnings(), native_stderr_held():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for logger, (level, handlers, propagate) in zip(loggers, saved, strict=True):
                logger.setLevel(level)
                logger.handlers, logger.propagate = handlers, propagate
    if unsupported.ops:
        raise NotImplementedError(f"no ONNX counterpart for the TensorFlow op(s) "
                                  f"{', '.join(sorted(set(unsupported.ops)))}")


def _write(model: keras.Model, path: Path, fmt: str) -> None:
    _, name, options = FORMATS[fmt]
    spec = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="image")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet():
        model.export(str(path), format=name, verbose=False, input_signature=spec, **options)
    if fmt == "onnx":
        _end_in_probabilities(path, outputs_logits(model))


def _end_in_probabilities(path: Path, logits: bool) -> None:
    """Name the ONNX graph's output `probabilities` (tf2onnx calls it `Identity:0`), and
    make it so where the model gives logits: every runtime of the file (the server,
    `predict`, Triton) then answers the same thing under the same name."""
    import onnx

    graph = onnx.load(path)
    [output] = graph.graph.output
    attributes = {"axis": -1} if logits else {}
    graph.graph.node.append(onnx.helper.make_node("Softmax" if logits else "Identity",
                                                  [output.name], [ONNX_OUTPUT], **attributes))
    output.name = ONNX_OUTPUT
    _number_names_in_order(graph.graph)
    onnx.save(graph, path)


def _number_names_in_order(graph) -> None:
    """tf2onnx numbers the names it makes (`Transpose__26`, `unk__36`) from a counter, and
    names and orders the constants it merges (`const_axes__17` or `const_starts__17`), in
    orders that follow its process's hash seed: renamed and ordered by first use, the
    file is the same bytes from any process, warm-started or not."""
    made = re.compile(r"^(.*?)__\d+((?::\d+)?)$")
    constants = {item.name for item in graph.initializer}
    renamed: dict[str, str] = {}

    def fixed(name: str) -> str:
        if name not in renamed:
            match = made.match(name)
            stem = "const" if name in constants else match[1] if match else None
            renamed[name] = f"{stem}__{len(renamed)}{match[2] if match else ''}" if stem \
                else name
        return renamed[name]

    for node in graph.node:
        node.name = fixed(node.name)
        node.input[:] = [fixed(name) for name in node.input]
        node.output[:] = [fixed(name) for name in node.output]
    for item in [*graph.initializer, *graph.input, *graph.output, *graph.value_info]:
        item.name = fixed(item.name)
    for item in [*graph.input, *graph.output, *graph.value_info]:
        for dim in item.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = fixed(dim.dim_param)
    order = list(renamed.values())
    ordered = sorted(graph.initializer, key=lambda item: order.index(item.name))
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def triton_config(name: str, input_shape: tuple[int, ...], classes: int) -> str:
    """The `config.pbtxt` that makes `<name>/1/model.onnx` a model Triton serves, batched
    dynamically (requests that arrive together run as one batch). Keras models are named
    after their block in params.yaml, and so is the folder `exports/<name>/`."""
    return TRITON_CONFIG.format(name=name, max_batch=INFERENCE_BATCH, output=ONNX_OUTPUT,
                                dims=", ".join(map(str, input_shape)), classes=classes)


def export(model: keras.Model, fmt: str, directory: Path,
           saved_model: Path | None = None) -> Path:
    """Write `model` in format `fmt` into `directory`; its path. LiteRT is converted from
    `saved_model` when one is given (the SavedModel just written)."""
    path = directory / FORMATS[fmt][0]
    if path.is_dir():
        shutil.rmtree(path)
    if fmt == "litert" and saved_model is not None:
        _litert_from(saved_model, path)
    else:
        _write(model, path, fmt)
    return path


def _litert_from(saved_model: Path, path: Path) -> None:
    """What Keras's LiteRT export does after writing the same SavedModel to a temporary
    folder: the same bytes (tests/unit/test_exports.py), a fifth of a second sooner."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = FORMATS["litert"][2]["target_spec"]["supported_ops"]
    converter.experimental_enable_resource_variables = True  # as Keras sets it
    with _quiet():
        path.write_bytes(converter.convert())


def culprit(model: keras.Model, fmt: str) -> str:
    """The first layer `fmt` cannot express: the end of the shortest head that fails."""
    with tempfile.TemporaryDirectory() as scratch:
        for end in range(1, len(model.layers) + 1):
            head = keras.Sequential([keras.Input(model.input_shape[1:]), *model.layers[:end]])
            try:
                _write(head, Path(scratch) / f"head{end}" / FORMATS[fmt][0], fmt)
            except Exception:  # each converter raises its own kinds
                return f"layers[{end - 1}] ({type(model.layers[end - 1]).__name__})"
    return "the model as a whole"


def runner(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The export's own runtime, as a function of a batch of images to raw outputs."""
    if fmt == "saved_model":
        loaded = tf.saved_model.load(str(path))  # kept: its variables live as long as it does
        return lambda x: loaded.serve(tf.constant(x)).numpy()
    if fmt == "litert":
        with _quiet():
            interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)

        def run_litert(x: np.ndarray) -> np.ndarray:
            [given], [taken] = interpreter.get_input_details(), interpreter.get_output_details()
            with native_stderr_held():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                interpreter.resize_tensor_input(given["index"], x.shape)
                interpreter.allocate_tensors()
                interpreter.set_tensor(given["index"], x)
                interpreter.invoke()
            return interpreter.get_tensor(taken["index"]).copy()

        return run_litert
    return onnx_runner(path)


def probabilities(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                  logits: bool) -> np.ndarray:
    """Class probabilities from an export's raw outputs, in batches, as Keras's are made."""
    outputs = np.concatenate([run(x[i:i + INFERENCE_BATCH])
                               for i in range(0, len(x), INFERENCE_BATCH)])
    return softmax(outputs) if logits else outputs.astype(np.float64)


def size(path: Path) -> int:
    """Bytes on disk, of a file or every file in a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_all(model: keras.Model, directory: Path, x: np.ndarray) -> dict[str, dict]:
    """Every format of `model` in `directory`, with its parity on `x` against Keras."""
    directory.mkdir(parents=True, exist_ok=True)
    reference = predict_proba(model, x, INFERENCE_BATCH)
    found: dict[str, dict] = {}
    for fmt in FORMATS:
        logits = outputs_logits(model) and fmt != "onnx"  # the ONNX file ends in softmax
        started = time.perf_counter()
        written = found.get("saved_model", {}).get("file")
        try:
            path = export(model, fmt, directory, directory / written if written else None)
            seconds = time.perf_counter() - started
            theirs = probabilities(runner(fmt, path), x, logits)
        except Exception as error:  # each converter and runtime raises its own kinds
            reason = str(error).strip().splitlines()[0][:200] if str(error) else ""
            found[fmt] = {"error": f"{fmt} cannot express {culprit(model, fmt)} of "
                                   f"{model.name}: {type(error).__name__}: {reason}"}
            leftover = directory / Path(FORMATS[fmt][0]).parts[0]
            if leftover.is_dir():
                shutil.rmtree(leftover)
            leftover.unlink(missing_ok=True)
            continue
        if fmt == "onnx":  # checked: a model Triton may load
            (directory / "config.pbtxt").write_text(
                triton_config(model.name, model.input_shape[1:], model.output_shape[-1]))
        found[fmt] = {
            "file": str(path.relative_to(directory)), "bytes": size(path),
            "outputs": "logits" if logits else "probabilities",  # what a runtime gets back
            "export_seconds": round(seconds, 2),
            "max_probability_difference": float(np.abs(theirs - reference).max()),
            "differing_digits": int((theirs.argmax(axis=1) != reference.argmax(axis=1)).sum()),
        }
    return found
