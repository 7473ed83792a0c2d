"""One digit, saved the ways people really save images (issue 19's table).

Each function takes an MNIST-style digit (uint8 (28, 28), bright on dark: the
project's own synthetic digits) and returns the bytes of a file as a person
would hand it over.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _page(digit: np.ndarray, size: tuple[int, int] = (140, 140), paper: int = 235,
          at: tuple[int, int] = (70, 10)) -> Image.Image:
    """Dark ink on light paper, off-centre with a wide margin."""
    ink = Image.fromarray(255 - digit).resize((56, 56), Image.BILINEAR)
    page = Image.new("L", size, paper)
    page.paste(ink, at)
    return page


def _bytes(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def png(digit: np.ndarray) -> bytes:
    """Dark ink on a light page, off-centre, 100x100 (the README's case)."""
    return _bytes(_page(digit).resize((100, 100), Image.BILINEAR), "PNG")


def gif(digit: np.ndarray) -> bytes:
    """The same page as a palette GIF."""
    return _bytes(_page(digit).convert("P", palette=Image.ADAPTIVE, colors=16), "GIF")


def big_jpeg(digit: np.ndarray) -> bytes:
    """The same page as a 3000x2400 JPEG."""
    return _bytes(_page(digit, (175, 140), at=(90, 40)).resize((3000, 2400), Image.BICUBIC),
                  "JPEG", quality=90)


def canvas(digit: np.ndarray) -> bytes:
    """Drawn on a screen: RGBA, a transparent background and black strokes, as an HTML
    canvas and most drawing apps export it (280x280)."""
    alpha = Image.fromarray(digit).resize((200, 200), Image.BILINEAR)
    layer = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    layer.paste(Image.new("RGBA", (200, 200), (0, 0, 0, 255)), (50, 30), alpha)
    return _bytes(layer, "PNG")


def phone_photo(digit: np.ndarray, seed: int = 0) -> bytes:
    """Photographed on paper: light falling off across the page (from 0.95 to 0.45 of
    full), sensor noise, JPEG, stored sideways with an EXIF orientation tag."""
    rng = np.random.default_rng(seed)
    page = np.asarray(_page(digit, (400, 300), paper=255, at=(200, 60)).resize(
        (1200, 900), Image.BICUBIC), np.float32) / 255
    light = np.linspace(0.95, 0.45, page.shape[1])[np.newaxis, :] * np.linspace(
        1.0, 0.8, page.shape[0])[:, np.newaxis]
    shot = np.clip(page * light + rng.normal(0, 0.04, page.shape), 0, 1)
    sideways = Image.fromarray(np.uint8(shot * 255)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to show
    return _bytes(sideways.convert("RGB"), "JPEG", quality=85, exif=exif)


def scan_16bit(digit: np.ndarray) -> bytes:
    """A 16-bit grayscale PNG, as scanners save."""
    values = np.asarray(_page(digit), np.uint16) * 257
    return _bytes(Image.fromarray(values), "PNG")  # uint16: mode I;16


def blank() -> bytes:
    """A blank white page."""
    return _bytes(Image.new("RGB", (300, 400), (250, 250, 248)), "JPEG", quality=90)


WAYS = {"png": (png, "png"), "gif": (gif, "gif"), "big jpeg": (big_jpeg, "jpg"),
        "canvas rgba": (canvas, "png"), "phone photo": (phone_photo, "jpg"),
        "16-bit scan": (scan_16bit, "png")}
