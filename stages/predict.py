"""Ask a trained model what digit is in an image.

    python -m stages.predict --model cnn_sgd photo.jpg scan.png [--json]
    python -m stages.predict --model cnn_sgd --test-index 42

Any size of PNG/JPEG, dark ink on light paper or the reverse: the image is
turned into an MNIST-style digit (`stages.data.images`) and the model prints
the digit it sees and its ten probabilities.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stages.common import handed
from stages.common.cli import UserError, run
from stages.data.images import read_image, to_model_input
from stages.data.mnist import load_prepared


def main(argv: list[str] | None = None) -> None:
    """Print the predicted digit and class probabilities for each input."""
    parser = argparse.ArgumentParser(description="Classify digit images with a zoo model.")
    parser.add_argument("--model", required=True, help="a model name from params.yaml")
    parser.add_argument("images", nargs="*", type=Path, help="PNG or JPEG files")
    parser.add_argument("--test-index", type=int, help="classify prepared test image N")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
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
        if not 0 <= args.test_index < len(x_test):
            raise UserError(f"--test-index must be between 0 and {len(x_test) - 1}")
        inputs = x_test[args.test_index:args.test_index + 1]
        records = [{"test_index": args.test_index, "true_label": int(y_test[args.test_index])}]
    from stages.modeling import saving  # TensorFlow loads only once the inputs are known good

    probabilities = saving.predict_proba(saving.load_trained(args.model), inputs, 32)
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
