"""evaluate, report and predict on a small synthetic run."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import saved_digits
from harness import UNIT_MODELS, run_module
from stages.common import paths
from stages.data.mnist import load_prepared
from stages.modeling import scoring
from stages.tools.reading.images import to_model_input

METRIC_KEYS = {"test_accuracy", "test_loss", "macro_f1", "trainable_params", "epochs",
               "test_images_per_second"}


@pytest.mark.parametrize("name", UNIT_MODELS)
def test_metrics_have_the_documented_keys_and_sane_values(trained, name):
    metrics = json.loads((trained / paths.of_model("test_metrics", name)).read_text())
    assert set(metrics) == METRIC_KEYS
    assert all(isinstance(value, int | float) for value in metrics.values())  # flat scalars
    assert 0.5 < metrics["test_accuracy"] <= 1 and 0 < metrics["macro_f1"] <= 1
    assert 0 < metrics["test_loss"] < 2.5 and metrics["test_images_per_second"] > 0
    assert metrics["epochs"] == 1


@pytest.mark.parametrize("name", UNIT_MODELS)
def test_per_class_scores_agree_with_the_confusion_data(trained, name, monkeypatch):
    monkeypatch.chdir(trained)
    with (trained / paths.of_model("confusion", name)).open() as handle:
        rows = list(csv.DictReader(handle))
    actual = np.array([int(r["actual"]) for r in rows])
    predicted = np.array([int(r["predicted"]) for r in rows])
    _, y_test = load_prepared("test")
    np.testing.assert_array_equal(actual, y_test)
    per_class = json.loads((trained / paths.of_model("per_class", name)).read_text())
    metrics = json.loads((trained / paths.of_model("test_metrics", name)).read_text())
    for digit in range(10):
        hits = np.sum((actual == digit) & (predicted == digit))
        assert per_class[str(digit)]["support"] == np.sum(actual == digit)
        if np.sum(predicted == digit):
            assert per_class[str(digit)]["precision"] == pytest.approx(
                hits / np.sum(predicted == digit), abs=1e-6)
        assert per_class[str(digit)]["recall"] == pytest.approx(
            hits / np.sum(actual == digit), abs=1e-6)
    assert metrics["test_accuracy"] == pytest.approx(np.mean(actual == predicted), abs=1e-6)
    assert metrics["macro_f1"] == pytest.approx(
        np.mean([c["f1"] for c in per_class.values()]), abs=1e-6)


@pytest.mark.parametrize("name", ["quickstart", "cnn_sgd"])  # logits and softmax outputs
def test_test_loss_matches_keras_on_probabilities(trained, name, monkeypatch):
    from stages.modeling import saving
    from stages.modeling.backend import keras

    monkeypatch.chdir(trained)
    model = saving.load_trained(name)
    x, y = load_prepared("test")
    probabilities = saving.predict_proba(model, x, 100)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    target = keras.utils.to_categorical(y, 10) if name == "cnn_sgd" else y
    keras_loss = model.evaluate(x, target, verbose=0)[0]
    metrics = json.loads(paths.of_model("test_metrics", name).read_text())
    assert metrics["test_loss"] == pytest.approx(keras_loss, rel=1e-3)
    assert scoring.cross_entropy(probabilities, y) == pytest.approx(keras_loss, rel=1e-3)


def test_report_sorts_the_leaderboard_by_test_accuracy(trained):
    summary = json.loads((trained / paths.SUMMARY).read_text())
    accuracies = [row["test_accuracy"] for row in summary["leaderboard"]]
    assert accuracies == sorted(accuracies, reverse=True)
    assert summary["best_model"] == summary["leaderboard"][0]["model"]
    table = (trained / paths.LEADERBOARD).read_text().splitlines()
    rows = [line for line in table if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(UNIT_MODELS) and f"`{summary['best_model']}`" in rows[0]
    points = (trained / paths.LEADERBOARD_CSV).read_text().splitlines()
    assert points[0] == "model,train_seconds,test_accuracy"
    # The chart's rows keep the order of params.yaml, as the learning curves' do: Vega
    # gives each model the same colour in both.
    assert [line.split(",")[0] for line in points[1:]] == list(UNIT_MODELS)


def photo_of(digit_image: np.ndarray) -> Image.Image:
    """A synthetic digit as a user might photograph it: dark ink on light paper,
    off-centre with a wide margin, at 100x100."""
    ink = Image.fromarray(255 - digit_image).resize((56, 56), Image.BILINEAR)
    page = Image.new("L", (140, 140), 235)
    page.paste(ink, (70, 10))
    return page.resize((100, 100), Image.BILINEAR)


def test_predict_reads_an_inverted_off_centre_resized_png(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(trained)
    x, y = load_prepared("test")
    images = []
    for index in range(10):
        path = tmp_path / f"digit{index}.png"
        photo_of(np.uint8(np.rint(x[index, ..., 0] * 255))).save(path)
        images.append(path)
    result = run_module(trained, "stages.predict", "--model", "cnn_sgd", "--json", *images)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    predicted = [record["predicted"] for record in records]
    assert sum(p == t for p, t in zip(predicted, y[:10], strict=True)) >= 9, (predicted, y[:10])
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-3 for r in records)


def test_predict_frames_a_photo_like_the_training_data():
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    framed = to_model_input(np.asarray(photo_of(digit), np.float32) / 255)[..., 0]
    assert framed.shape == (28, 28) and framed.max() > 0.9
    ys, xs = np.indices(framed.shape)
    assert abs((framed * ys).sum() / framed.sum() - 14) < 1
    assert abs((framed * xs).sum() / framed.sum() - 14) < 1


def test_predict_test_index_reports_the_true_label(trained):
    result = run_module(trained, "stages.predict", "--model", "quickstart", "--test-index", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("test image 3: ") and "(true label " in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "quickstart", "notes.txt"], "notes.txt is not a readable image: not a "
                                             "format Pillow knows"),
    (["--model", "quickstart", "missing.png"], "no such file"),
    (["--model", "quickstartt", "notes.txt"],
     "unknown model 'quickstartt' (did you mean 'quickstart'?); the pipeline has: cnn_sgd, "
     "quickstart, simple_dense"),
    (["--model", "quickstart"], "give image paths or --test-index"),
])
def test_predict_refuses_bad_input_with_one_message(trained, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("not an image")
    result = run_module(trained, "stages.predict", *[str(tmp_path / a) if "." in a else a
                                                     for a in args])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_predict_refuses_a_model_before_the_pipeline_ran(tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    result = run_module(tmp_path, "stages.predict", "--model", "cnn_sgd", "digit.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the pipeline has not run here yet: run `dvc repro` first" in result.stderr


def test_predict_refuses_a_validated_model_that_was_not_trained(trained, tmp_path):
    shutil.copytree(trained / "data/validated", tmp_path / "data/validated")
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    (tmp_path / "digit.png").write_bytes(saved_digits.png(digit))
    result = run_module(tmp_path, "stages.predict", "--model", "cnn_sgd", "digit.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "models/cnn_sgd.keras does not exist: train it first" in result.stderr
