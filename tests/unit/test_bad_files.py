"""Bad files and params that only show up once Keras or the data is involved:
each gives one clear message naming the file or the params key."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from harness import shipped_recipe
from stages.common import paths
from stages.common.cli import UserError
from stages.common.files import save_npz
from stages.pipeline import train


@pytest.mark.parametrize(("layers", "message"), [
    ([("Flatten", {}), ("Dense", {"units": 10, "colour": "red"})],
     r"models\.quickstart\.layers\[1\]: Keras refused Dense"),
    ([("Flatten", {}), ("Conv2D", {"filters": 4, "kernel_size": 3})],
     r"models\.quickstart\.layers do not fit together"),
    ([("Flatten", {}), ("Dense", {"units": 7})], r"must end in 10 outputs.*\(7,\)"),
])
def test_model_building_still_refuses_what_validation_would_have(layers, message):
    """The shipped quickstart with other layers, unchecked: what would reach Keras if
    params validation ever let something through."""
    from stages.modeling import build

    with pytest.raises(UserError, match=message):
        build.build(shipped_recipe("quickstart", layers=layers))


def test_nan_in_prepared_tensors_stops_training_before_it_starts(workspace, tmp_path,
                                                                 monkeypatch):
    shutil.copytree(workspace / "data", tmp_path / "data")
    with np.load(tmp_path / paths.prepared("train")) as npz:
        x, y = npz["x"].copy(), npz["y"]
    x[3, 10, 10, 0] = np.nan
    save_npz(tmp_path / paths.prepared("train"), {"x": x, "y": y})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="images contain NaN or infinite values"):
        train.main(["quickstart"])
    assert not paths.model("quickstart").exists()


def rewrite_config(source, target, change) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name == "config.json":
                config = json.loads(data)
                change(config["config"]["layers"])
                data = json.dumps(config).encode()
            new.writestr(name, data)


@pytest.mark.parametrize(("change", "message"), [
    (lambda layers: layers[1].update(class_name="Lambda"), "layer keras.layers.Lambda"),
    (lambda layers: layers[1].update(module="evil.layers"), "layer evil.layers.Flatten"),
    (lambda layers: layers[1].update(class_name="Conv2D"), "layer keras.layers.Conv2D, which "
                                                           "its model block does not name"),
])
def test_layers_its_block_does_not_name_are_refused_in_a_model_file(trained, tmp_path, change,
                                                                  message):
    from stages.modeling import saving

    target = tmp_path / "quickstart.keras"
    rewrite_config(trained / paths.model("quickstart"), target, change)
    with pytest.raises(UserError, match=message):
        saving.load(target, {"Flatten", "Dense", "Dropout"})


def test_a_corrupt_model_file_is_refused_with_a_fix(tmp_path):
    from stages.modeling import saving

    target = tmp_path / "quickstart.keras"
    target.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match=r"not a readable \.keras model.*retrain"):
        saving.load(target, {"Dense"})
