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
        cls.driver = webdriver.Chrome(service=Service(DRIVER), options=options)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        code, _, err = cls.server.stop()
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
