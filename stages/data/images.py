"""People's digit images -> MNIST input, the way MNIST itself was built.

The digit (bright on dark) is cropped to its bounding box, scaled so its
longer side is 20 pixels, and placed in a 28x28 frame with its centre of mass
at the centre. The synthetic generator, `predict` and the web page all use
this, so a user's photo reaches a model looking like the training data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from stages.common.cli import UserError
from stages.data.mnist import IMAGE_SHAPE, scale

FRAME = IMAGE_SHAPE[0]
BOX = 20


def to_mnist_frame(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1], bright digit on dark -> uint8 (28, 28) MNIST digit."""
    ink = image > 0.2 * image.max() if image.max() > 0 else np.zeros_like(image, bool)
    if not ink.any():
        return np.zeros((FRAME, FRAME), np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = crop.shape
    factor = BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    pil = Image.fromarray(np.uint8(np.clip(crop, 0, 1) * 255)).resize(size, Image.LANCZOS)
    digit = np.asarray(pil, dtype=np.float32)
    total = digit.sum()
    if total == 0:
        return np.zeros((FRAME, FRAME), np.uint8)
    ys, xs = np.indices(digit.shape)
    com_y, com_x = (ys * digit).sum() / total, (xs * digit).sum() / total
    top = int(np.clip(round(FRAME / 2 - com_y), 0, FRAME - digit.shape[0]))
    left = int(np.clip(round(FRAME / 2 - com_x), 0, FRAME - digit.shape[1]))
    frame = np.zeros((FRAME, FRAME), np.float32)
    frame[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return np.uint8(np.clip(np.rint(frame), 0, 255))


def read_image(path: Path) -> np.ndarray:
    """Grayscale pixels in [0, 1], or a clear error for a missing or non-image file."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"), dtype=np.float32) / 255
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable PNG or JPEG image ({error})") from None


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def to_model_input(gray: np.ndarray) -> np.ndarray:
    """A photo or scan -> float32 (28, 28, 1) MNIST-style input."""
    if np.median(_border(gray)) > 0.5:  # light paper: make the ink the bright part
        gray = 1.0 - gray
    gray = np.clip(gray - np.median(_border(gray)), 0, 1)  # paper grey -> black
    return scale(to_mnist_frame(gray))
