"""Synthetic MNIST-format digits, for tests, benchmarks and the offline demo.

Renders 0-9 in the fonts that ship with matplotlib, with a random affine
transform, stroke width, blur and noise, then frames each digit like MNIST
(`images.to_mnist_frame`). Deterministic for a seed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from stages.data.mnist import NUM_CLASSES
from stages.tools.reading.images import to_mnist_frame

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf",
    "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
)
CANVAS = 64


def render(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One randomly styled digit as a uint8 (28, 28) MNIST-style image."""
    font = ImageFont.truetype(str(FONT_DIR / FONTS[rng.integers(len(FONTS))]),
                              int(rng.integers(34, 46)))
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), str(digit), fill=255, font=font,
                                anchor="mm", stroke_width=int(rng.integers(0, 3)),
                                stroke_fill=255)
    angle = np.deg2rad(rng.uniform(-15, 15))
    shear, zoom = rng.uniform(-0.3, 0.3), rng.uniform(0.85, 1.15)
    matrix = np.array([[np.cos(angle), -np.sin(angle) + shear], [np.sin(angle), np.cos(angle)]])
    matrix /= zoom
    centre = np.array([CANVAS / 2, CANVAS / 2])
    offset = centre - matrix @ centre
    canvas = canvas.transform(canvas.size, Image.AFFINE,
                              (*matrix[0], offset[0], *matrix[1], offset[1]),
                              resample=Image.BILINEAR)
    canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    framed = to_mnist_frame(np.asarray(canvas, np.float32) / 255).astype(np.float32)
    framed += rng.normal(0, 12, framed.shape) * (rng.random() < 0.5)
    return np.uint8(np.clip(np.rint(framed), 0, 255))


def generate(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits with balanced labels in random order."""
    labels = rng.permutation(np.arange(count) % NUM_CLASSES).astype(np.uint8)
    images = np.stack([render(int(label), rng) for label in labels])
    return images, labels


def make_dataset(train: int, test: int, seed: int) -> dict[str, np.ndarray]:
    """A Keras-layout MNIST-format dataset of synthetic digits."""
    rng = np.random.default_rng(seed)
    x_train, y_train = generate(train, rng)
    x_test, y_test = generate(test, rng)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
