"""Digits as people really save them: every way of saving the same digit gives the
answer the plain PNG gives (tests/helpers/saved_digits.py makes each kind from the
project's own synthetic digits), and a page with no digit is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import saved_digits
from harness import run_module
from stages.common.cli import UserError
from stages.data.mnist import load_prepared
from stages.tools.reading.images import decode, to_model_input

DIGITS = 40
# Measured: every way agrees with the PNG on at least 39 of 40 (a digit the model is
# unsure of can tip either way when it is resampled differently), the photo on 38.
AGREE = {"phone photo": DIGITS - 2}


@pytest.fixture(scope="module")
def answers(trained) -> dict[str, np.ndarray]:
    """cnn_sgd's answer for 40 test digits, saved each way, and the true labels."""
    import contextlib

    from stages.modeling import saving

    with contextlib.chdir(trained):
        x, y = load_prepared("test")
        model = saving.load_trained("cnn_sgd")
    digits = np.uint8(np.rint(x[:DIGITS, ..., 0] * 255))
    found = {"labels": y[:DIGITS]}
    for way, (save, _) in saved_digits.WAYS.items():
        inputs = np.stack([to_model_input(decode(save(digit), way)) for digit in digits])
        found[way] = saving.predict_proba(model, inputs, DIGITS).argmax(axis=1)
    rows = [f"{way:12} {int((found[way] == found['labels']).sum()):2}/{DIGITS} right, same as "
            f"the PNG on {int((found[way] == found['png']).sum())}" for way in saved_digits.WAYS]
    print("\n" + "\n".join(rows))
    return found


@pytest.mark.parametrize("way", [way for way in saved_digits.WAYS if way != "png"])
def test_every_way_of_saving_a_digit_gives_the_answer_of_the_plain_png(answers, way):
    assert (answers["png"] == answers["labels"]).sum() >= 0.8 * DIGITS  # the model can read
    assert (answers[way] == answers["png"]).sum() >= AGREE.get(way, DIGITS - 1), way


def test_the_saving_is_undone_before_the_digit_is_framed():
    """Transparency flattened onto paper, EXIF orientation applied, 16 bits scaled: the
    framed digit is the one that was saved."""
    from stages.tools.reading.font_digits import make_dataset

    digit = make_dataset(10, 1, seed=4)["x_train"][3]
    plain = to_model_input(decode(saved_digits.png(digit), "png"))
    for way, (save, _) in saved_digits.WAYS.items():
        framed = to_model_input(decode(save(digit), way))
        assert np.corrcoef(framed.ravel(), plain.ravel())[0, 1] > 0.8, way


def test_a_blank_page_is_refused():
    with pytest.raises(UserError, match=r"no digit found in blank\.jpg"):
        to_model_input(decode(saved_digits.blank(), "blank.jpg"), "blank.jpg")


@pytest.mark.parametrize("level", [0, 77, 255])
@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_a_page_of_one_grey_is_refused_with_one_line(level, kind):
    """All black, all grey, all white: no ink on paper, nor light on a ground (the
    schemathesis fuzz found an all-black JPEG giving a 500)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (5, 35), level).save(buffer, kind)
    with pytest.raises(UserError, match=r"no digit found in page"):
        to_model_input(decode(buffer.getvalue(), "page"), "page")


def test_predict_takes_every_kind_and_refuses_a_blank_page(trained, tmp_path):
    from stages.tools.reading.font_digits import make_dataset

    digit = make_dataset(10, 1, seed=4)["x_train"][3]
    files = []
    for way, (save, suffix) in saved_digits.WAYS.items():
        files.append(tmp_path / f"{way.replace(' ', '-')}.{suffix}")
        files[-1].write_bytes(save(digit))
    result = run_module(trained, "stages.predict", "--model", "cnn_sgd", "--json", *files)
    assert result.returncode == 0, result.stderr
    assert len({record["predicted"] for record in json.loads(result.stdout)}) == 1
    (tmp_path / "blank.jpg").write_bytes(saved_digits.blank())
    result = run_module(trained, "stages.predict", "--model", "cnn_sgd",
                        tmp_path / "blank.jpg")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"no digit found in {tmp_path / 'blank.jpg'}" in result.stderr
