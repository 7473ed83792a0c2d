"""Which of the marks on a page is the digit.

A page holds more than the answer: a photo shows the sheet's edges and the desk
around it; a person circles the answer, boxes it, underlines it, leaves a stray
dash or a stain beside it. `the_digit` takes the ink map of a page
(`images.ink`) and keeps the marks that make the digit, by what tells a digit
from the rest:

- the surface round the sheet is thick and runs along the picture's edge (a
  digit's strokes are thin; a tight crop's touch the edge at points): the sheet
  alone is kept, turned upright by its own edges;
- a ring or a box holds another mark in its hole, or is a thin line round it;
  an underline is far wider than tall; a stain is a solid blot; a mark that runs
  from one edge of the picture to the other is the desk's grain or a margin;
- the digit is the heaviest mark left, with the pieces near it (a pencil's
  broken stroke, a 5's detached bar); a mark further off is not it.

Where nothing is to be taken out, or nothing looks like a digit, the ink map is
left as it is: every page that read well before this step reads the same bytes
(tests/unit/test_reading.py). Not handled: a ring drawn so close that it touches
the digit, and a mark within a quarter of the digit's size of it (a tick right
beside the answer), which are read as part of it.
"""

from __future__ import annotations

import cv2
import numpy as np

PAPER = 0.15        # ink below this share of the darkest is paper
MARK = 0.5          # a mark is where ink is at least half the darkest
SURFACE_EDGE = 0.4  # the thick ink touching this share of the picture's edge is its surround
RING_HOLDS = 0.15   # a ring's box holds a box at least this share of its own
RING_THIN = 0.1     # a ring's stroke is at most this share of its size (a digit's: 0.1-0.2)
SPECK = 0.05        # a mark lighter than this share of the heaviest is a speck
BLOT = 0.4          # stroke width over longer side: a blot's from here, strokes' below
BLOT_FILL = 0.6     # and a blot covers at least this share of its box
BLOT_SIZE = 0.33    # and is at least this share of the largest mark's size (not a stroke's stub)
LINE = 3.0          # an underline is at least this many times wider than tall
NEAR = 0.25         # pieces within this share of the digit's longer side belong to it


def _border(mask: np.ndarray) -> np.ndarray:
    return np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])


def _off_the_sheet(found: np.ndarray) -> np.ndarray:
    """Where the picture shows not the sheet but what it lies on: thick ink that runs
    along the picture's edge (a desk, a sheet's shadow), widened over the sheet's border."""
    side = max(3, round(min(found.shape) / 25))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    thick = cv2.morphologyEx(np.uint8(found > PAPER * found.max()), cv2.MORPH_OPEN, kernel)
    if _border(thick).mean() < SURFACE_EDGE:  # the thick ink on the edge is the surround's
        return np.zeros(found.shape, bool)
    _, labels = cv2.connectedComponents(thick, connectivity=8)
    touching = np.unique(_border(labels))
    surround = np.isin(labels, touching[touching > 0])
    return cv2.dilate(np.uint8(surround), kernel) > 0


def _sheet(found: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, float]:
    """The sheet: the largest stretch of paper on it, with the marks it holds (its outline
    filled, less a margin where its edge meets the desk), and how far it is turned, in
    degrees (within 45 either way): the mean direction of the outline's straight edges,
    the picture's own border left out, each counted by its length (directions a
    quarter-turn apart are one)."""
    height, width = found.shape
    paper = np.uint8((found <= PAPER * found.max()) & ~off)
    contours, _ = cv2.findContours(paper, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    sheet = np.zeros(found.shape, np.uint8)
    if not contours:
        return sheet > 0, 0.0
    outline = max(contours, key=cv2.contourArea)
    cv2.drawContours(sheet, [outline], 0, 1, thickness=cv2.FILLED)
    sheet = cv2.erode(sheet, np.ones((5, 5), np.uint8))
    corners = cv2.approxPolyDP(outline, 0.01 * cv2.arcLength(outline, True), True)[:, 0, :]
    total = 0j
    for (x, y), (u, v) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        if (x == u and x in (0, width - 1)) or (y == v and y in (0, height - 1)):
            continue  # the picture's edge, where the sheet runs out of the frame
        total += np.hypot(u - x, v - y) * np.exp(4j * np.arctan2(v - y, u - x))
    return sheet > 0, float(np.degrees(np.angle(total) / 4)) if total else 0.0


def _upright(found: np.ndarray, turn: float) -> np.ndarray:
    """The ink map turned back by `turn` degrees, on a canvas that holds all of it."""
    height, width = found.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), turn, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(np.ceil(width * cos + height * sin)), int(np.ceil(width * sin + height * cos)))
    matrix[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    return cv2.warpAffine(found.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR)


def _measure(found: np.ndarray):
    """The marks: labels, and per mark its box (x, y, w, h), ink, stroke width and fill
    (the share of its box it covers). (OpenCV's block-based labelling gives the same labels
    and statistics as its default, in less than half the time; a mark's ink is summed over
    the marks' pixels alone, in the same order: the same sums.)"""
    mask = np.uint8(found > MARK * found.max())
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        mask, 8, cv2.CV_32S, cv2.CCL_BBDT)
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)))
    edge = np.bincount(labels[(mask > 0) & (inner == 0)], minlength=count)
    marked = np.flatnonzero(mask)
    ink = np.bincount(labels.ravel()[marked], found.ravel()[marked], minlength=count)
    area = stats[:, cv2.CC_STAT_AREA]
    boxes = stats[:, :4]
    return labels, boxes, ink, 2 * area / np.maximum(edge, 1), area / boxes[:, 2] / boxes[:, 3]


def _encloses(outer: int, inner: int, labels: np.ndarray, boxes: np.ndarray,
              ink: np.ndarray, stroke: np.ndarray) -> bool:
    """Whether mark `outer` is drawn round mark `inner`: a ring or a box, the other mark in
    its hole, or a thin line round it left open. Inside a digit's own box lie only its
    small pieces (a broken stroke), never a mark of its size, and a digit's loop is drawn
    thicker for its size than a ring."""
    (x, y, w, h), (u, v, s, t) = boxes[outer], boxes[inner]
    inside = x <= u and y <= v and x + w >= u + s and y + h >= v + t
    if not (inside and (s * t >= RING_HOLDS * w * h or ink[inner] >= ink[outer] / 2)):
        return False
    around = np.pad(np.uint8(labels[y:y + h, x:x + w] == outer), 1)
    outside = around.copy()
    cv2.floodFill(outside, None, (0, 0), 2)
    hole = outside[1:-1, 1:-1] == 0
    return bool(hole[labels[y:y + h, x:x + w] == inner].mean() > 0.5
                or stroke[outer] <= RING_THIN * max(w, h))  # or a ring left open: thin


def _spans(box: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether a mark runs from one edge of the picture to the opposite one: a desk's grain,
    a sheet's edge, a printed margin, not a digit on the page."""
    x, y, w, h = box
    return bool((x == 0 and x + w == shape[1]) or (y == 0 and y + h == shape[0]))


def _not_a_digit(marks: list[int], labels, boxes, ink, stroke, fill) -> set[int]:
    """The marks that are rings, boxes, underlines, blots, or run across the picture."""
    widest, largest = max(boxes[m][2] for m in marks), max(max(boxes[m][2:]) for m in marks)
    return {m for m in marks
            if _spans(boxes[m], labels.shape)
            or any(_encloses(m, other, labels, boxes, ink, stroke) for other in marks if other != m)
            or (boxes[m][2] >= LINE * boxes[m][3] and 2 * boxes[m][2] >= widest)
            or (stroke[m] >= BLOT * max(boxes[m][2:]) and fill[m] >= BLOT_FILL
                and max(boxes[m][2:]) >= BLOT_SIZE * largest)}


def _near(box: np.ndarray, other: np.ndarray, reach: float) -> bool:
    return bool(other[0] <= box[0] + box[2] + reach and other[0] + other[2] >= box[0] - reach
                and other[1] <= box[1] + box[3] + reach and other[1] + other[3] >= box[1] - reach)


def _digit_marks(labels, boxes, ink, stroke, fill) -> list[int]:
    """The labels of the marks that make the digit, or [] when none looks like one: the
    heaviest mark that is not a ring, line or blot, grown by the marks near it."""
    heaviest = max(ink[1:], default=0)
    solid = [m for m in range(1, len(ink)) if ink[m] >= SPECK * heaviest]
    rejected = _not_a_digit(solid, labels, boxes, ink, stroke, fill) if solid else set()
    candidates = [m for m in solid if m not in rejected]
    if not candidates:
        return []
    kept = [max(candidates, key=lambda m: ink[m])]
    box = boxes[kept[0]].copy()
    others = [m for m in range(1, len(ink)) if m not in rejected and m != kept[0]]
    size = max(max(boxes[m][2:]) for m in candidates)
    while grown := [m for m in others
                    if m not in kept and _near(box, boxes[m], NEAR * max(*box[2:], size))]:
        kept += grown
        left, top = min(boxes[m][0] for m in kept), min(boxes[m][1] for m in kept)
        box = np.array([left, top, max(boxes[m][0] + boxes[m][2] for m in kept) - left,
                        max(boxes[m][1] + boxes[m][3] for m in kept) - top])
    return kept if len(kept) < len(ink) - 1 else []


def the_digit(found: np.ndarray) -> np.ndarray:
    """The ink map with everything but the digit's marks taken out (the same map where
    nothing is to be taken out, or nothing looks like a digit)."""
    off = _off_the_sheet(found)
    if off.any():  # the sheet alone, turned upright, if it holds a mark
        sheet, turn = _sheet(found, off)
        if (found[sheet] > MARK * found.max()).any():
            found = _upright(np.where(sheet, found, 0), turn)
    labels, *measures = _measure(found)
    keep = _digit_marks(labels, *measures)
    if not keep:
        return found
    dropped = np.uint8((labels > 0) & ~np.isin(labels, keep))
    fringe = cv2.dilate(dropped, np.ones((5, 5), np.uint8)) > 0
    return np.where(fringe & ~np.isin(labels, keep), 0, found)
