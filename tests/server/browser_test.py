"""The page in a real headless Chromium (Debian's chromium + chromium-driver,
driven by python3-selenium): open a fixture image, click a point, wait for
the mask canvas, compare its pixels with the API's mask for the same prompt;
then personalise two targets. Saves a screenshot into the meson log folder
(and docs/serve-screenshot.png with PERSAM_SCREENSHOT_TO_DOCS=1)."""
import base64
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import unittest

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util as su  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def setUpModule():
    su.require_fixtures()
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise unittest.SkipTest("python3-selenium not installed (scripts/setup.sh installs it)")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        raise unittest.SkipTest("chromium / chromium-driver not installed (scripts/setup.sh installs them)")


def wait_for(driver, script, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}; page status: " +
                         str(driver.execute_script("return document.getElementById('seg-status').textContent")))


def canvas_pixels(driver, canvas_id):
    url = driver.execute_script(f"return document.getElementById('{canvas_id}').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


class Page(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        cls.server = su.Server()
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-proxy-server", "--window-size=1500,1000"]:
            options.add_argument(arg)
        # Downloads (the saved concept) go to a temporary folder.
        cls.downloads = tempfile.TemporaryDirectory(prefix="persam-browser-")
        options.add_experimental_option("prefs", {"download.default_directory": cls.downloads.name})
        cls.driver = webdriver.Chrome(service=Service(DRIVER), options=options)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        code, _, err = cls.server.stop()
        cls.downloads.cleanup()
        assert code == 0, err

    def test_segment_then_personalize(self):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        d = self.driver
        d.get(self.server.url + "/")
        self.assertEqual(d.title, "persam serve")
        image = su.image_path("cat", "01.png")
        d.find_element(By.ID, "seg-file").send_keys(os.path.abspath(image))
        wait_for(d, "return window.persamSegment.image !== null")
        self.assertEqual(int(canvas_pixels(d, "mask-canvas")[..., 3].sum()), 0)

        canvas = d.find_element(By.ID, "prompt-canvas")
        latencies = []
        # Clicks at offsets from the canvas centre (Selenium 4); each waits for its mask.
        for i, (dx, dy, negative) in enumerate([(-60, -30, False), (80, 40, False), (0, 120, True),
                                                 (-120, 60, False), (40, -100, False), (100, 100, True)]):
            before = d.execute_script("return window.persamSegment.predictions")
            chain = ActionChains(d).move_to_element_with_offset(canvas, dx, dy)
            (chain.context_click() if negative else chain.click()).perform()
            wait_for(d, f"return window.persamSegment.predictions > {before} && !window.persamSegment.busy")
            latencies.append(d.execute_script("return window.persamSegment.lastLatencyMs"))
            if i == 0:
                self.check_mask_matches_api()
        self.check_mask_matches_api()
        print(f"browser click round trip (fetch + decoder + PNG + canvas), {len(latencies)} clicks: "
              f"p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
        # Undo drops the last prompt and re-predicts.
        n = d.execute_script("return window.persamSegment.prompts.length")
        before = d.execute_script("return window.persamSegment.predictions")
        d.find_element(By.ID, "seg-undo").click()
        wait_for(d, f"return window.persamSegment.predictions > {before} && !window.persamSegment.busy")
        self.assertEqual(d.execute_script("return window.persamSegment.prompts.length"), n - 1)
        self.check_mask_matches_api()
        self.save_screenshot("serve-screenshot.png", docs=True)

        # Personalise: the Segment tab's mask as reference, two targets, PerSAM.
        d.find_element(By.ID, "tab-personalize").click()
        d.find_element(By.ID, "ref-from-segment").click()
        wait_for(d, "return window.persamPersonalize.reference !== null")
        targets = [su.image_path("cat", "02.png"), su.image_path("duck_toy", "00.png")]
        d.find_element(By.ID, "targets").send_keys("\n".join(os.path.abspath(t) for t in targets))
        wait_for(d, "return window.persamPersonalize.targets.length === 2")
        d.find_element(By.ID, "run-personalize").click()
        wait_for(d, "return document.querySelectorAll('#results figure').length === 2")
        self.assertIn("persam: 2 image(s)", d.find_element(By.ID, "run-status").text)
        self.save_screenshot("serve-screenshot-personalize.png", docs=False)

    def test_scribble_and_concept(self):
        """A scribbled reference: strokes drawn with the mouse become the
        reference; the saved concept is the API's for the same request; the
        concept file uploaded back personalises a target."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        d = self.driver
        d.get(self.server.url + "/")
        d.find_element(By.ID, "tab-personalize").click()
        d.find_element(By.ID, "ref-scribble-image").send_keys(os.path.abspath(su.image_path("cat", "00.png")))
        wait_for(d, "return window.persamPersonalize.scribble !== null")
        canvas = d.find_element(By.ID, "ref-preview")
        # Two strokes over the cat (offsets from the canvas centre), then a
        # third undone.
        for start, moves in [((-40, -20), [(30, 10), (30, 5)]), ((10, 40), [(-20, 15)]), ((-90, -90), [(5, 5)])]:
            chain = ActionChains(d).move_to_element_with_offset(canvas, *start).click_and_hold()
            for dx, dy in moves:
                chain = chain.move_by_offset(dx, dy)
            chain.release().perform()
        wait_for(d, "const r = window.persamPersonalize.reference; return r && r.strokes && r.strokes.length === 3")
        d.find_element(By.ID, "scribble-undo").click()
        ref = d.execute_script("return window.persamPersonalize.reference")
        self.assertEqual(len(ref["strokes"]), 2)
        info = d.execute_script("const s = window.persamPersonalize.scribble; return [s.width, s.height]")
        for stroke in ref["strokes"]:
            self.assertGreaterEqual(len(stroke["points"]), 2)
            self.assertGreaterEqual(stroke["width"], 1)
            for x, y in stroke["points"]:
                self.assertTrue(0 <= x < info[0] and 0 <= y < info[1], (x, y))
        # The preview shows the strokes: the first stroke's first point is
        # tinted with the mask colour.
        x, y = ref["strokes"][0]["points"][0]
        shown = canvas_pixels(d, "ref-preview")[int(y), int(x)]
        plain = np.asarray(Image.open(su.image_path("cat", "00.png")).convert("RGB"))[int(y), int(x)]
        self.assertGreater(int(shown[2]) - int(plain[2]), 20, (shown, plain))
        self.save_screenshot("serve-screenshot-scribble.png", docs=True)

        # Save the concept: the page's bytes are the API's for its request.
        d.find_element(By.ID, "save-concept").click()
        wait_for(d, "return window.persamPersonalize.savedConcept !== null")
        saved = d.execute_script("""const c = window.persamPersonalize.savedConcept;
            return {request: c.request, bytes: Array.from(c.bytes)};""")
        status, data = self.server.request("POST", "/api/concept", saved["request"])
        self.assertEqual(status, 200, data)
        self.assertEqual(bytes(saved["bytes"]), data)
        self.assertIn("saved a persam concept", d.find_element(By.ID, "run-status").text)

        # Personalise from the strokes, then from the concept file uploaded back.
        d.find_element(By.ID, "targets").send_keys(os.path.abspath(su.image_path("cat", "01.png")))
        wait_for(d, "return window.persamPersonalize.targets.length === 1")
        d.find_element(By.ID, "run-personalize").click()
        wait_for(d, "return document.querySelectorAll('#results figure').length === 1 && "
                    "document.getElementById('run-status').textContent.startsWith('persam:')")
        by_strokes = d.execute_script("return window.persamPersonalize.result.targets[0].mask")
        concept_path = os.path.join(self.downloads.name, "uploaded.concept")
        with open(concept_path, "wb") as f:
            f.write(data)
        d.find_element(By.ID, "ref-concept").send_keys(concept_path)
        wait_for(d, "return window.persamPersonalize.concept !== null")
        self.assertIn("concept: uploaded.concept (persam", d.find_element(By.ID, "ref-status").text)
        d.execute_script("window.persamPersonalize.result = null")
        d.find_element(By.ID, "run-personalize").click()
        wait_for(d, "return window.persamPersonalize.result !== null")
        by_concept = d.execute_script("return window.persamPersonalize.result")
        self.assertEqual(by_concept["reference"]["concept"], d.execute_script("return window.persamPersonalize.concept"))
        # The concept segments the target as its strokes do.
        self.assertTrue(np.array_equal(su.decode_png(by_concept["targets"][0]["mask"]), su.decode_png(by_strokes)))

    def check_mask_matches_api(self):
        d = self.driver
        state = d.execute_script("""
            const s = window.persamSegment;
            return {image: s.image.id, chosen: s.chosen, request: promptRequest()};""")
        shown = canvas_pixels(d, "mask-canvas")[..., 3] > 0
        self.assertGreater(int(shown.sum()), 0, "the mask canvas is empty")
        status, body = self.server.request("POST", f"/api/images/{state['image']}/predict", state["request"])
        self.assertEqual(status, 200, body)
        expected = su.decode_png(body["masks"][state["chosen"]]) > 0
        self.assertEqual(shown.shape, expected.shape)
        self.assertTrue(np.array_equal(shown, expected),
                        f"canvas and API mask differ in {int(np.sum(shown != expected))} pixels")

    def save_screenshot(self, name, docs):
        os.makedirs(su.LOG_DIR, exist_ok=True)
        path = os.path.join(su.LOG_DIR, name)
        self.assertTrue(self.driver.save_screenshot(path))
        print(f"screenshot: {path}")
        if docs and os.environ.get("PERSAM_SCREENSHOT_TO_DOCS") == "1":
            shutil.copy(path, os.path.join(su.REPO, "docs", name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
