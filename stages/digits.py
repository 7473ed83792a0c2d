"""Put a digit into the MNIST frame, the way MNIST itself was built.

The digit (bright on dark) is cropped to its bounding box, scaled so its
longer side is 20 pixels, and placed in a 28x28 frame with its centre of mass
at the centre. The synthetic generator and `predict` both use this, so a
user's photo reaches a model looking like the training data.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FRAME = 28
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
