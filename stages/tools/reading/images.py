"""People's digit images -> MNIST input, the way MNIST itself was built.

Images arrive as people save them: a PNG from a drawing app or an HTML canvas
(black strokes on a transparent background), a palette GIF, a phone photo
(JPEG, stored sideways with an EXIF orientation tag, light falling off across
the page, sensor noise), a 16-bit scan. `read_image` undoes the saving: EXIF
orientation applied, transparency flattened onto white paper, every mode
scaled to grey levels in [0, 1]. `to_model_input` undoes the page: the paper's
light is evened out (ink is measured against the paper around it), noise is
cut, and an image with no ink is refused. The digit is then framed as MNIST
was: cropped, scaled so its longer side is 20 pixels, and centred by centre of
mass in 28x28. `predict`, the web page and the synthetic generator all share it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from stages.common.cli import UserError
from stages.data.mnist import IMAGE_SHAPE, scale
from stages.tools.reading.marks import the_digit

FRAME = IMAGE_SHAPE[0]
BOX = 20
WORKING_SIDE = 512   # pages are evened out at this size: a 12-megapixel photo in 0.1 s
MIN_CONTRAST = 0.12  # ink this much darker (or lighter) than its paper, at least
SMALL_SIDE = 128     # a smaller image is enlarged to this before its ink is found
DARK_GROUND = 0.7    # the dark covering more than this of an image is its ground
STROKES = 0.2        # light this thin for its size is strokes (MNIST's: 0.15, a sheet's 0.3)
FLAT = 2             # grey levels: a ground varying less is a flat black, not a desk
STROKE_SCALE = 112   # a digit's longer side, in pixels, when its strokes are measured
STROKE_RANGE = (10.7, 19.4)  # MNIST's stroke widths at STROKE_SCALE: 10th, 90th percentile
MAX_PIXELS = 4_000_000  # decoded, at most: a 2000x2000 scan (a JPEG decodes reduced)
JPEG_REDUCTION = 8      # a JPEG decodes at 1/8 of its sides: 64 times fewer pixels
Image.MAX_IMAGE_PIXELS = MAX_PIXELS * JPEG_REDUCTION**2  # Pillow's own check, as it opens
cv2.setNumThreads(1)  # an image is read on one thread: the server's processes are the parallelism


def to_mnist_frame(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1], bright digit on dark -> uint8 (28, 28) MNIST digit."""
    ink = image > 0.5 * image.max() if image.max() > 0 else np.zeros_like(image, bool)
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


# Reading: undo how the image was saved ------------------------------------------------

def _grey(image: Image.Image) -> np.ndarray:
    """Grey levels in [0, 1] of any Pillow mode, transparency flattened onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in
                                               image.info):
        paper = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values / top, 0, 1).astype(np.float32)
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        return np.clip(values / max(float(values.max()), 1e-12), 0, 1)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


class ImageTooLargeError(UserError):
    """An image whose pixels, as its header gives them, are more than any digit needs."""


def _decode_small(image: Image.Image, name: str) -> None:
    """Decode no more pixels than a digit needs: a JPEG at the smallest of its built-in
    reductions (1/2 to 1/8) that still covers the working size; any image whose header
    says more than MAX_PIXELS refused before its pixels are read."""
    if image.format == "JPEG":
        image.draft("L", (WORKING_SIDE, WORKING_SIDE))
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(f"{name} is {width}x{height} pixels: more than a digit needs "
                            f"(at most {MAX_PIXELS / 1e6:g} megapixels); scale it down")
    image.load()


def decode(data: bytes, name: str) -> np.ndarray:
    """An image file's bytes as grey levels in [0, 1], upright, or a clear error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                _decode_small(image, name)
                return _grey(ImageOps.exif_transpose(image))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageTooLargeError(f"{name} is far larger than a digit needs ({error})") from None
    except UnidentifiedImageError:
        raise UserError(f"{name} is not a readable image: not a format Pillow knows "
                        "(PNG, JPEG, GIF, BMP, TIFF, WebP, ...)") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise UserError(f"{name} is not a readable image ({error})") from None


def read_image(path: Path) -> np.ndarray:
    """An image file as grey levels in [0, 1], upright, or a clear error."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    return decode(data, str(path))


# Finding the ink: undo the page ---------------------------------------------------------

def _working_size(grey: np.ndarray) -> Image.Image:
    """The page at a size its filters suit: a large one reduced to WORKING_SIDE, a small
    one (MNIST's own 28x28) enlarged to at least SMALL_SIDE, so that a 3x3 filter that
    takes out camera speckle leaves a stroke one or two pixels wide alone."""
    image = Image.fromarray(np.uint8(np.rint(grey * 255)))
    factor = WORKING_SIDE / max(image.size)
    if factor < 1:
        image = image.resize((max(1, round(image.width * factor)),
                              max(1, round(image.height * factor))), Image.LANCZOS)
    elif max(image.size) < SMALL_SIDE:
        factor = -(-SMALL_SIDE // max(image.size))
        image = image.resize((image.width * factor, image.height * factor), Image.BICUBIC)
    return image


def otsu(values: np.ndarray) -> int:
    """Otsu's split of uint8 levels into two tones: the level that separates them best."""
    counts = _counts(values).astype(np.float64)
    below, mass = np.cumsum(counts), np.cumsum(counts * np.arange(256))
    total, everything = below[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (everything * below - total * mass) ** 2 / (below * (total - below))
    return int(np.nanargmax(between[:-1])) if np.isfinite(between[:-1]).any() else 127


def _light_on_dark(values: np.ndarray) -> bool:
    """Whether the digit is light on a dark ground (MNIST's own images, chalk) rather than
    dark ink on paper: the darker of the image's two tones (Otsu's split) covers most of
    it, and the lighter is strokes, or lies on a flat black (a sheet of paper photographed
    on a dark desk is neither: thick, on a textured ground). The ground is the larger part
    even when thick ink fills a tight crop, and the rule does not care how bright the
    paper is (a dim photo's is dark grey)."""
    light = np.uint8(values > otsu(values))
    if float(np.mean(light == 0)) <= DARK_GROUND:
        return False
    if not light.any():  # all of it the dark: a ground with nothing on it
        return True
    _, labels, stats, _ = cv2.connectedComponentsWithStats(light, connectivity=8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    side = max(stats[largest, cv2.CC_STAT_WIDTH], stats[largest, cv2.CC_STAT_HEIGHT])
    ground = values[light == 0]
    flat = np.median(np.abs(ground - np.median(ground))) < FLAT
    return flat or stroke_width(labels == largest) < STROKES * side


def _paper(values: np.ndarray) -> np.ndarray:
    """The paper's brightness under each pixel: a smooth surface (a quadratic in x and y)
    fitted to the pixels that are paper, found by starting from the lighter of the page's
    two tones (so ink that fills most of a tight crop is not taken for paper) and leaving
    out, round by round, those darker than the fit. Light falling off across a
    photographed page is such a surface; strokes are not, whatever their width."""
    height, width = values.shape
    step = max(1, max(height, width) // 32)  # fit on a sample; evaluate everywhere
    ys, xs = np.linspace(-1, 1, height), np.linspace(-1, 1, width)
    y, x = np.meshgrid(ys[::step], xs[::step], indexing="ij")
    sample = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    target = values[::step, ::step].ravel()
    keep = target > otsu(np.uint8(np.rint(target * 255))) / 255
    if keep.sum() < 6:
        keep = np.ones(target.shape, bool)
    for _ in range(5):  # or until the same pixels are kept: the same fit would follow
        c = np.linalg.lstsq(sample[keep], target[keep], rcond=None)[0]
        residual = target - sample @ c
        spread = max(0.02, 2.5 * float(np.std(residual[keep])))
        kept, keep = keep, residual > -spread
        if np.array_equal(kept, keep):
            break
    rows, columns = ys[:, np.newaxis], xs[np.newaxis, :]
    by_row = c[0] + c[2] * rows + c[5] * rows**2  # the terms of one row, then of each column
    surface = by_row + (c[1] + c[4] * rows) * columns + c[3] * columns**2
    return np.maximum(surface, 1e-3)


def ink(grey: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1], whatever the paper and its light.

    Dark ink on light paper, or, when the dark covers most of the image, light ink on
    a dark ground (MNIST's own images). Ink is darkness relative to the paper
    under it, so light falling off across the page cancels out; speckle from a
    camera sensor is smoothed away and what is left below the paper's own noise
    is cut.
    """
    image = _working_size(grey)
    if _light_on_dark(np.asarray(image)):
        image = ImageOps.invert(image)
    values = np.asarray(image, np.float32) / 255
    level = np.uint8(np.rint(np.clip(1 - values / _paper(values), 0, 1) * 255))
    if level[level <= otsu(level)].std() > 0:  # speckle on the page: smooth it away
        level = cv2.medianBlur(level, 3)  # Pillow's MedianFilter(3), bit for bit, 60x faster
    smooth = level.astype(np.float32) / 255
    tones = np.arange(256, dtype=np.float32) / 255  # each level as `smooth` holds it
    counts = _counts(level) * (tones <= otsu(level) / 255)  # the page, not the ink
    centre = _median(tones, counts)
    floor = centre + 4 * _median(np.abs(tones - centre), counts) + 0.02
    return np.clip((smooth - floor) / max(1 - floor, 1e-3), 0, 1)


def _counts(values: np.ndarray) -> np.ndarray:
    """How many of the uint8 `values` hold each level."""
    return cv2.calcHist([values], [0], None, [256], [0, 256]).ravel().astype(np.int64)


def _median(values: np.ndarray, counts: np.ndarray) -> np.floating:
    """`np.median` of `values[i]` repeated `counts[i]` times, to the bit, without the
    repeating (a page's levels: 256 values, not its 78,000 pixels; ten times faster): its
    middle one or two, then `np.median` of those. None taken: NaN, as `np.median` says."""
    order = np.argsort(values, kind="stable")
    ends = np.cumsum(counts[order])
    if not ends.size or ends[-1] == 0:
        return values.dtype.type(np.nan)
    total = int(ends[-1])
    return np.median(values[order][np.searchsorted(ends, [(total - 1) // 2, total // 2],
                                                   side="right")])


def _cropped(found: np.ndarray) -> np.ndarray:
    """The digit alone (where its ink is at least half its darkest), its longer side
    resampled to STROKE_SCALE pixels, in [0, 1]."""
    rows, cols = (np.flatnonzero((found > 0.5).any(axis=axis)) for axis in (1, 0))
    crop = found[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    factor = STROKE_SCALE / max(crop.shape)
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    return np.asarray(Image.fromarray(np.uint8(np.rint(crop * 255))).resize(
        size, Image.BICUBIC), np.float32) / 255


def stroke_width(digit: np.ndarray) -> float:
    """A digit's stroke width in pixels: twice its ink's area over its edge's length (for
    a stroke of width w and length l, 2wl / 2l)."""
    ink_mask = np.pad(digit > 0.5, 1)
    inner = (ink_mask[1:-1, 1:-1] & ink_mask[:-2, 1:-1] & ink_mask[2:, 1:-1]
             & ink_mask[1:-1, :-2] & ink_mask[1:-1, 2:])
    edge = int((ink_mask[1:-1, 1:-1] & ~inner).sum())
    return 2 * float(ink_mask.sum()) / max(edge, 1)


def _as_mnist_writes(digit: np.ndarray) -> np.ndarray:
    """Strokes as wide as MNIST's: a fine pencil's thickened, a broad marker's thinned, to
    the nearer end of MNIST's own range of widths (10th to 90th percentile of its digits,
    STROKE_RANGE); widths within it are left as they are."""
    width = stroke_width(digit)
    low, high = STROKE_RANGE
    if low <= width <= high:
        return digit
    radius = max(1, round((low - width if width < low else width - high) / 2))
    grow = ImageFilter.MaxFilter if width < low else ImageFilter.MinFilter
    image = Image.fromarray(np.uint8(np.rint(digit * 255))).filter(grow(2 * radius + 1))
    return np.asarray(image, np.float32) / 255


def to_model_input(grey: np.ndarray, name: str = "the image") -> np.ndarray:
    """An image's grey levels -> float32 (28, 28, 1) MNIST-style input; an image with
    no ink is refused."""
    found = the_digit(ink(grey))
    if not found.max() >= MIN_CONTRAST:  # (and not a NaN from a page with no paper at all)
        raise UserError(f"no digit found in {name}: nothing on it stands out from the paper")
    return scale(to_mnist_frame(_as_mnist_writes(_cropped(found / found.max()))))
