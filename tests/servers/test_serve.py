"""The page to draw on (`python -m stages.serve`), started on a free port of 127.0.0.1
and driven in headless Chromium: digits drawn with the mouse get, from every model,
the answer `python -m stages.predict` gives for the same image; the page fetches
nothing from anywhere else; bad uploads get a 4xx and a message; fifty requests at
once are all answered."""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import itertools
import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import saved_digits
from browser import CHROMIUM_FLAGS, chromium
from harness import ENV, ROOT, UNIT_MODELS, run_module
from services import free_port, wait_for_port

ARTIFACTS = Path(os.environ.get("MNIST_ZOO_ARTIFACTS", ROOT / "test-artifacts"))
# Strokes as a person draws them, in fractions of the pad: one list of points a stroke.
STROKES = {
    1: [[(0.52, 0.15), (0.5, 0.85)]],
    7: [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]],
    0: [[(0.5 + 0.22 * math.sin(t / 12 * math.pi), 0.5 - 0.32 * math.cos(t / 12 * math.pi))
         for t in range(25)]],
    4: [[(0.6, 0.15), (0.25, 0.6), (0.78, 0.6)], [(0.6, 0.35), (0.6, 0.87)]],
    2: [[(0.3, 0.3), (0.4, 0.18), (0.6, 0.18), (0.7, 0.3), (0.65, 0.45), (0.3, 0.82),
         (0.75, 0.82)]],
}


@pytest.fixture(scope="module")
def page(trained):
    """`python -m stages.serve` in the trained workspace, on a free port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "stages.serve", "--port", str(port)],
                               cwd=trained, env={**ENV, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    wait_for_port(port, process)
    print(f"\n[serve] listening {time.perf_counter() - started:.1f}s after start")
    yield f"http://127.0.0.1:{port}/"
    process.terminate()
    process.wait(timeout=10)


def post(url: str, body: bytes, kind: str = "image/png") -> tuple[int, dict]:
    request = urllib.request.Request(url + "api/predict", data=body, method="POST",
                                     headers={"Content-Type": kind})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def draw(tab, strokes) -> None:
    box = tab.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        tab.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        tab.mouse.down()
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            for step in range(1, 9):  # a hand moves in small steps
                t = step / 8
                tab.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"],
                               box["y"] + (y0 + t * (y1 - y0)) * box["height"])
        tab.mouse.up()


@pytest.mark.slow
def test_drawn_digits_get_the_answers_predict_gives(page, trained, tmp_path):
    from playwright.sync_api import sync_playwright

    elsewhere, timings, shown, drawn = [], [], {}, {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1100, "height": 650})
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith(page) else
                      (elsewhere.append(route.request.url), route.abort()))
        tab = context.new_page()
        tab.goto(page)
        tab.wait_for_selector("body[data-ready=yes]", timeout=120_000)
        for digit, strokes in STROKES.items():
            tab.click("#clear")
            before = tab.evaluate("window.mnistZoo.answered")
            draw(tab, strokes)
            tab.wait_for_function(f"window.mnistZoo.answered > {before} && "
                                  "window.mnistZoo.idle()", timeout=30_000)
            timings.append(tab.evaluate("window.mnistZoo.lastMilliseconds"))
            shown[digit] = {row.get_attribute("data-model"): int(row.locator(".digit")
                                                                 .inner_text())
                            for row in tab.locator("#answers tr").all()}
            drawn[digit] = tmp_path / f"drawn-{digit}.png"  # the image the page sent
            drawn[digit].write_bytes(base64.b64decode(tab.evaluate(
                "async () => { const b = new Uint8Array(await window.mnistZoo.upload"
                ".arrayBuffer()); let s = ''; b.forEach(c => s += String.fromCharCode(c));"
                " return btoa(s); }")))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "serve-page.png"))
        browser.close()
    assert elsewhere == [], f"the page fetched from elsewhere: {elsewhere}"
    right = 0
    for model in UNIT_MODELS:  # what predict gets right, the page gets right too
        result = run_module(trained, "stages.predict", "--model", model, "--json",
                            *drawn.values(), check=True)
        for digit, record in zip(drawn, json.loads(result.stdout), strict=True):
            assert set(shown[digit]) == set(UNIT_MODELS)
            if record["predicted"] == digit:
                right += 1
                assert shown[digit][model] == digit, (model, digit)
    assert right > 0, "no model read any drawn digit: the check above checked nothing"
    print(f"\n[serve] from the end of a stroke to every model's answer: "
          f"{', '.join(f'{t:.0f}' for t in timings)} ms; {right} of "
          f"{len(STROKES) * len(UNIT_MODELS)} answers right")


def test_a_dropped_file_takes_the_predict_path(page, trained, tmp_path):
    from playwright.sync_api import sync_playwright

    from stages.tools.reading.font_digits import make_dataset

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(saved_digits.phone_photo(make_dataset(10, 1, seed=4)["x_train"][3]))
    expected = {record["model"]: record["predicted"] for model in UNIT_MODELS for record in
                json.loads(run_module(trained, "stages.predict", "--model", model, "--json",
                                      photo, check=True).stdout)}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        tab = browser.new_page()
        tab.goto(page)
        tab.wait_for_selector("body[data-ready=yes]", timeout=120_000)
        tab.set_input_files("#file", str(photo))
        tab.wait_for_function("window.mnistZoo.answered > 0", timeout=30_000)
        shown = {row.get_attribute("data-model"): int(row.locator(".digit").inner_text())
                 for row in tab.locator("#answers tr").all()}
        browser.close()
    assert shown == expected


def test_bad_requests_get_a_4xx_and_a_message(page):
    status, body = post(page, b"\x00" * (5 * 2**20))
    assert status == 413 and "the limit is 4 MB" in body["error"]
    status, body = post(page, b"not an image at all", "text/plain")
    assert status == 415 and "is not a readable image" in body["error"]
    status, body = post(page, saved_digits.blank(), "image/jpeg")
    assert status == 422 and body["error"].startswith("no digit found")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(page + "nowhere", timeout=10)
    assert missing.value.code == 404
    host, port = page.split("//")[1].strip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/api/predict")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    assert connection.getresponse().status == 411


def test_fifty_requests_at_once_are_all_answered(page):
    from stages.tools.reading.font_digits import make_dataset

    image = saved_digits.png(make_dataset(10, 1, seed=4)["x_train"][3])
    post(page, image)  # the models are in
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(lambda _: post(page, image), range(50)))
    assert [status for status, _ in replies] == [200] * 50
    assert len({json.dumps(body["models"]) for _, body in replies}) == 1  # the same answers
