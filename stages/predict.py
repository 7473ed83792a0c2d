"""Ask a trained model what digit is in an image.

    python -m stages.predict --model cnn_sgd photo.jpg scan.png [--json] [--runtime keras]
    python -m stages.predict --model cnn_sgd --test-index 42 [43 ...]

Any size of PNG/JPEG, dark ink on light paper or the reverse: the image is
turned into an MNIST-style digit (`stages.tools.reading.images`) and the model prints
the digit it sees and its ten probabilities. The model answers from its ONNX
export (onnxruntime: no TensorFlow to import), as the server does; `--runtime
keras` asks the Keras file instead (`stages.tools.serving.runtime`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stages.common import handed
from stages.common.cli import UserError, run
from stages.data.mnist import load_prepared
from stages.tools.reading.images import read_image, to_model_input
from stages.tools.serving import runtime


def main(argv: list[str] | None = None) -> None:
    """Print the predicted digit and class probabilities for each input."""
    parser = argparse.ArgumentParser(description="Classify digit images with a zoo model.")
    parser.add_argument("--model", required=True, help="a model name from params.yaml")
    parser.add_argument("images", nargs="*", type=Path, help="PNG or JPEG files")
    parser.add_argument("--test-index", type=int, nargs="+",
                        help="classify prepared test images N ...")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--runtime", choices=runtime.RUNTIMES, default="onnx",
                        help="onnx (the export, onnxruntime) or keras (TensorFlow)")
    args = parser.parse_args(argv)
    if bool(args.images) == (args.test_index is not None):
        raise UserError("give image paths or --test-index N (one of the two)")
    handed.known_model(args.model)
    if args.images:
        import numpy as np

        inputs = np.stack([to_model_input(read_image(path), str(path)) for path in args.images])
        records = [{"image": str(path)} for path in args.images]
    else:
        x_test, y_test = load_prepared("test")
        if not all(0 <= index < len(x_test) for index in args.test_index):
            raise UserError(f"--test-index must be between 0 and {len(x_test) - 1}")
        inputs = x_test[args.test_index]
        records = [{"test_index": index, "true_label": int(y_test[index])}
                   for index in args.test_index]
    probabilities = runtime.load(args.model, args.runtime).probabilities(inputs)
    for record, probs in zip(records, probabilities, strict=True):
        record.update(model=args.model, predicted=int(probs.argmax()),
                      probabilities=[round(float(p), 6) for p in probs])
    print(json.dumps(records, indent=2) if args.json else "\n".join(map(describe, records)))


def describe(record: dict) -> str:
    """One human-readable line per prediction."""
    source = record.get("image") or f"test image {record['test_index']}"
    truth = f" (true label {record['true_label']})" if "true_label" in record else ""
    probs = " ".join(f"{digit}:{p:.3f}" for digit, p in enumerate(record["probabilities"]))
    return f"{source}: {record['predicted']}{truth}  [{probs}]"


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
