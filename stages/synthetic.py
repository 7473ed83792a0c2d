"""Write a synthetic MNIST-format dataset: tests, benchmarks and `make demo` use it.

    python -m stages.synthetic --out data/synthetic/mnist.npz --train 6000 --test 1000 --seed 0

A Keras-layout `.npz` (x_train, y_train, x_test, y_test, uint8) of digits
rendered from fonts (`stages.tools.reading.font_digits`); the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages.common.cli import UserError, run
from stages.common.files import save_npz
from stages.data.mnist import NUM_CLASSES
from stages.tools.reading.font_digits import make_dataset


def main(argv: list[str] | None = None) -> None:
    """Command line: write a synthetic dataset to --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="the .npz to write")
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="test images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.train < NUM_CLASSES or args.test < 1:
        raise UserError("--train must be at least 10 (one per digit) and --test at least 1")
    save_npz(args.out, make_dataset(args.train, args.test, args.seed))
    print(f"synthetic: wrote {args.train} training and {args.test} test digits to {args.out}")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
