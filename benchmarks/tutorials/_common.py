"""What every tutorial script shares, and nothing of the tutorials themselves.

`load_data()` stands in for `tf.keras.datasets.mnist.load_data()` (no network
here): the same four uint8 arrays, read from the `.npz` given on the command
line. `report()` prints the script's figures as one JSON line for
`benchmarks/end_to_end.py`.
"""

import json
import sys
import time

import numpy as np

STARTED = time.perf_counter()


def load_data():
    with np.load(sys.argv[1]) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def report(train_seconds, test_accuracy):
    print(json.dumps({"train_seconds": train_seconds, "test_accuracy": float(test_accuracy)}))
