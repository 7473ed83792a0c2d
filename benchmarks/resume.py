"""What a kill costs: a 10-epoch cnn_sgd killed after epoch 8, resumed by `dvc repro`.

    .venv/bin/python -m benchmarks.resume [--data fashion|mnist-5k]

In one project on real data (8,000 Fashion-MNIST training images by default), with
the data prepared: `dvc repro train@cnn_sgd` from scratch, timed; then the same in a
copy, killed (SIGKILL to its process group) a second after it prints epoch 8's line,
and `dvc repro train@cnn_sgd` again, timed: it resumes at epoch 9 and should take
about two epochs plus start-up. Both end in the same bytes (tests/pipeline/test_resume.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import results
from benchmarks.inner_loop import command_seconds, dataset
from tests.helpers.harness import BIN, ENV, Project, sha256

EPOCHS, KILLED_AFTER = 10, 8
TRAIN = [BIN / "dvc", "repro", "train@cnn_sgd"]


def killed_after(project: Project, epoch: int) -> None:
    """Run the stage; kill its process group a second after epoch `epoch` is printed."""
    process = subprocess.Popen([str(c) for c in TRAIN], cwd=project.path, env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    for line in process.stdout:
        if line.startswith(f"train@cnn_sgd epoch {epoch}/{EPOCHS}"):
            time.sleep(1)  # its backup is written right after the line
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["fashion", "mnist-5k"], default="fashion")
    data = dataset("fashion-8000" if parser.parse_args().data == "fashion" else "mnist-5k")
    print(f"{data.name}; {results.describe(results.machine())}", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        scratch = Project.create(Path(workdir) / "scratch", str(data), sha256(data),
                                 epochs=EPOCHS, models=["cnn_sgd"])
        command_seconds(scratch, [BIN / "dvc", "repro", "prepare"], 0)
        resumed = scratch.copy(Path(workdir) / "resumed")
        full = command_seconds(scratch, TRAIN, 0)
        epoch = scratch.read_json("metrics/train/cnn_sgd.json")["train_seconds"] / EPOCHS
        killed_after(resumed, KILLED_AFTER)
        started = time.perf_counter()
        output = subprocess.run([str(c) for c in TRAIN], cwd=resumed.path, env=ENV, text=True,
                                capture_output=True, check=True).stdout
        rest = time.perf_counter() - started
        print("".join(line + "\n" for line in output.splitlines() if "cnn_sgd" in line))
        same = resumed.lock_hashes()["models/cnn_sgd.keras"] == \
            scratch.lock_hashes()["models/cnn_sgd.keras"]
    rows = [[f"{EPOCHS} epochs from scratch", f"{full:.1f}", "1.00"],
            [f"killed after epoch {KILLED_AFTER}, then resumed", f"**{rest:.1f}**",
             f"**{rest / full:.2f}**"],
            ["two epochs' training (of the run from scratch)", f"{2 * epoch:.1f}",
             f"{2 * epoch / full:.2f}"]]
    table = {"columns": ["`dvc repro train@cnn_sgd`", ">wall s", ">of from scratch"],
             "rows": rows, "data": data.name, "same_model_bytes": same}
    print("\n" + results.markdown(table) + f"\nsame model bytes: {same}")
    results.save("resume", {"resume": table})


if __name__ == "__main__":
    main()
