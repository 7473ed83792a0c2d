"""Bad files and params that only show up once Keras or the data is involved:
each gives one clear message naming the file or the params key."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from harness import shipped_params_with
from stages import params, paths, train
from stages.cli import UserError
from stages.dataio import save_npz


def spec_with_layers(layers: list) -> params.ModelSpec:
    raw = shipped_params_with("models.quickstart.layers", layers)
    return params.validate(raw).model("quickstart")


def test_keras_refusing_a_layer_argument_names_the_params_key():
    from stages import zoo

    spec = spec_with_layers([{"Flatten": {}}, {"Dense": {"units": 10, "colour": "red"}}])
    with pytest.raises(UserError, match=r"models\.quickstart\.layers\[1\]: Keras refused Dense"):
        zoo.build(spec, seed=0)


def test_layers_that_do_not_fit_the_input_name_the_model():
    from stages import zoo

    spec = spec_with_layers([{"Flatten": {}}, {"Conv2D": {"filters": 4, "kernel_size": 3}}])
    with pytest.raises(UserError, match=r"models\.quickstart\.layers do not fit together"):
        zoo.build(spec, seed=0)


def test_nan_in_prepared_tensors_stops_training_before_it_starts(workspace, tmp_path,
                                                                 monkeypatch):
    shutil.copy(workspace / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(workspace / "data/prepared", tmp_path / "data/prepared")
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
])
def test_untrusted_layer_classes_in_a_model_file_are_refused(trained, tmp_path, change, message):
    from stages import zoo

    target = tmp_path / "quickstart.keras"
    rewrite_config(trained / paths.model("quickstart"), target, change)
    with pytest.raises(UserError, match=message):
        zoo.load(target)


def test_a_corrupt_model_file_is_refused_with_a_fix(tmp_path):
    from stages import zoo

    target = tmp_path / "quickstart.keras"
    target.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match=r"not a readable \.keras model.*retrain"):
        zoo.load(target)
