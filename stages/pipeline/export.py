"""Stage `export@<model>`: the trained model in the formats that leave the pipeline.

    python -m stages.pipeline.export quickstart

Writes `exports/<model>/` (a TensorFlow SavedModel, a LiteRT flat buffer, an
ONNX file: `stages.modeling.formats`) and `exports/<model>.json`: per format,
its file, size, export time, and its parity with the Keras model on the
prepared test set (the largest difference of any class probability, and the
number of images whose digit differs). A format that cannot express a layer is
named there, and on the terminal, with the layer; the other formats still export.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from stages.common import handed, paths, phases
from stages.common.files import write_json
from stages.data.mnist import load_prepared
from stages.tools.warm import client as warm_start


def main(argv: list[str] | None = None) -> None:
    """Export the model in every format and check each against it."""
    name, values = handed.for_model_stage("export", argv, "Export one trained model.")
    with phases.phase("import tensorflow"):
        from stages.modeling import backend, formats, saving  # TensorFlow loads only now
        backend.start(values["threads"])

    model = saving.load(paths.model(name), set(values["layers"]))
    x_test, _ = load_prepared("test")
    folder = paths.of_model("export", name)
    scratch = Path(f"{folder}.partial")  # the folder is moved in when complete
    shutil.rmtree(scratch, ignore_errors=True)
    with phases.phase("export"):
        found = formats.export_all(model, scratch, x_test)
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    for figures in found.values():
        if "file" in figures:
            figures["file"] = str(folder / figures["file"])
    write_json(paths.of_model("export_report", name), found)
    for fmt, figures in found.items():
        if "error" in figures:
            print(f"export@{name}: {figures['error']}", file=sys.stderr)
        else:
            print(f"export@{name}: {fmt} {figures['bytes'] / 1e6:.2f} MB in "
                  f"{figures['export_seconds']:.1f}s; largest probability difference "
                  f"{figures['max_probability_difference']:.1e}, "
                  f"{figures['differing_digits']} differing digits")
    exported = [fmt for fmt in found if "error" not in found[fmt]]
    print(f"export@{name}: {', '.join(exported) or 'no format'} -> {folder}/")


if __name__ == "__main__":
    warm_start.run(__spec__.name, lambda: main(sys.argv[1:]))
