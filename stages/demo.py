"""The pipeline offline, on synthetic digits, one epoch per model (`make demo`).

    python -m stages.demo [--train 6000] [--test 1000]

Writes synthetic MNIST-format digits to data/synthetic/mnist.npz and runs the
whole pipeline on them as a DVC experiment (`dvc exp run -S ...`), so
params.yaml in git stays as it is; the report stage ends it with the
leaderboard. DVC checks out the last run's outputs before an experiment and,
on a fresh clone with no dvc.lock, warns once per output that it has none to
check out ("No file hash info found"): expected there, so those lines are
left out. Everything else DVC and the stages say comes through.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from stages.common import paths
from stages.common.cli import UserError, run
from stages.common.files import save_npz
from stages.tools.reading.font_digits import make_dataset

SYNTHETIC = Path("data/synthetic/mnist.npz")
EXPECTED_NOISE = "No file hash info found for"


def overrides(data: Path) -> list[str]:
    """`-S` arguments: the synthetic data as the source, one epoch for every model."""
    models = yaml.safe_load(paths.PARAMS.read_text())["models"]
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    sets = [f"data.url={data}", f"data.sha256={digest}",
            *(f"models.{name}.epochs=1" for name in models)]
    return [arg for value in sets for arg in ("-S", value)]


def _pass_stderr(stream) -> None:
    for line in stream:
        if EXPECTED_NOISE not in line:
            sys.stderr.write(line)
            sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Make the digits, run the experiment, exit as DVC did."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="test images")
    args = parser.parse_args(argv)
    save_npz(SYNTHETIC, make_dataset(args.train, args.test, seed=0))
    print(f"demo: {args.train:,} training and {args.test:,} test digits in {SYNTHETIC}; "
          "the pipeline runs on them as the experiment `synthetic-demo`", flush=True)
    dvc = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    process = subprocess.Popen([dvc, "exp", "run", "--name", "synthetic-demo",
                                *overrides(SYNTHETIC)], stderr=subprocess.PIPE, text=True)
    relay = threading.Thread(target=_pass_stderr, args=(process.stderr,))
    relay.start()
    code = process.wait()
    relay.join()
    if code:
        raise UserError(f"`dvc exp run` exited with {code} (its message is above)")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
