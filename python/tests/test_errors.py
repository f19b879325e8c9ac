"""C errors arrive as persam exceptions carrying persam_last_error()'s text."""
import os
import subprocess
import sys
import unittest

import numpy as np

import _common as C
import persam


class LibraryErrors(unittest.TestCase):
    def run_python(self, code, **env):
        return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": C.PYTHON_DIR, **env})

    def test_api_version(self):
        self.assertEqual(persam.load_library().persam_api_version(), persam.API_VERSION)
        self.assertTrue(persam.engine_version())

    def test_missing_library_is_a_clear_error(self):
        missing = os.path.join(C.tmpdir("nolib"), "libpersam.so")
        proc = self.run_python("import persam\ntry:\n    persam.engine_version()\n"
                               "except persam.PersamLibraryError as e:\n    print('OK', e)\n",
                               PERSAM_LIBRARY=missing)
        self.assertIn("OK cannot load libpersam.so", proc.stdout, proc.stderr)
        self.assertIn(missing, proc.stdout)

    def test_thread_count_capped(self):
        # More than 4 threads per core is refused before anything runs
        # (libgomp crashes near 100000); the count in force stays usable.
        with self.assertRaisesRegex(persam.InvalidArgumentError, "more than 4 per core"):
            persam.set_num_threads(100000)
        with self.assertRaisesRegex(persam.InvalidArgumentError, "more than 4 per core"):
            persam.Model(os.path.join(C.tmpdir("threads"), "unused.pth"), threads=100000)
        persam.set_num_threads(0)

    def test_status_names(self):
        e = persam.InvalidArgumentError("x")
        self.assertIsInstance(e, ValueError)
        self.assertEqual((e.status, e.status_name), (1, "PERSAM_ERROR_INVALID_ARGUMENT"))


class CallErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        C.require_fixtures()

    def test_missing_model_file(self):
        path = os.path.join(C.tmpdir("missing"), "no_such_model.pth")
        with self.assertRaises(persam.EngineError) as cm:
            persam.Model(path)
        self.assertIn(path, str(cm.exception))
        self.assertIn("persam_model_load", str(cm.exception))
        self.assertEqual(cm.exception.status_name, "PERSAM_ERROR_ENGINE")

    def test_bad_precision(self):
        with self.assertRaises(persam.InvalidArgumentError) as cm:
            persam.Model(C.MODEL, precision=9)
        self.assertIn("precision 9 is not a persam_precision value", str(cm.exception))

    def test_bad_label(self):
        p = C.cat01_predictor()
        with self.assertRaises(persam.InvalidArgumentError) as cm:
            p.predict(np.array([[10, 10], [20, 20]]), np.array([1, 2]))
        self.assertEqual(str(cm.exception),
                         "persam_predict: point 1 has label 2, expected 1 (foreground) or 0 (background)")

    def test_bad_box(self):
        with self.assertRaises(persam.InvalidArgumentError) as cm:
            C.cat01_predictor().predict(box=np.array([[0, 0, 10, 10], [50, 50, 40, 60]]))
        self.assertEqual(str(cm.exception), "persam_predict: box 1 needs x0 <= x1 and y0 <= y1")

    def test_wrong_shapes(self):
        p = C.cat01_predictor()
        with self.assertRaisesRegex(persam.InvalidArgumentError, r"mask_input must have shape \(1, 256, 256\)"):
            p.predict(np.array([[10, 10]]), np.array([1]), mask_input=np.zeros((3, 256, 256), np.float32))
        with self.assertRaisesRegex(persam.InvalidArgumentError, r"point_labels must have shape \(1,\)"):
            p.predict(np.array([[10, 10]]), np.array([1, 1]))
        with self.assertRaisesRegex(persam.InvalidArgumentError, "point_labels must be supplied"):
            p.predict(np.array([[10, 10]]))
        with self.assertRaisesRegex(persam.InvalidArgumentError, "box must have shape"):
            p.predict(box=np.zeros((2, 3)))

    def test_bad_images(self):
        with self.assertRaisesRegex(persam.InvalidArgumentError, "image must be uint8"):
            persam.SamPredictor(C.model()).set_image(np.zeros((8, 8, 3), np.float32))
        with self.assertRaisesRegex(persam.InvalidArgumentError, "H x W x 3"):
            persam.SamPredictor(C.model()).set_image(np.zeros((8, 8, 2), np.uint8))
        with self.assertRaisesRegex(persam.InvalidArgumentError, "image_format"):
            persam.SamPredictor(C.model()).set_image(np.zeros((8, 8, 3), np.uint8), image_format="RGBA")
        missing = os.path.join(C.tmpdir("missing"), "no_such_image.png")
        with self.assertRaises(persam.EngineError) as cm:
            persam.SamPredictor(C.model()).set_image_file(missing)
        self.assertIn(missing, str(cm.exception))
        self.assertIn("persam_image_load", str(cm.exception))

    def test_personalizer_errors(self):
        image = np.zeros((32, 48, 3), np.uint8)
        with self.assertRaisesRegex(persam.InvalidArgumentError, "ref_mask is 40 x 32"):
            persam.Personalizer(C.model(), image, np.ones((32, 40), np.uint8))
        with self.assertRaises(persam.EngineError) as cm:  # the engine refuses an empty reference
            persam.Personalizer(C.model(), image, np.zeros((32, 48), np.uint8))
        self.assertIn("is empty (no non-zero pixel)", str(cm.exception))

    def test_amg_option_errors(self):
        with self.assertRaisesRegex(TypeError, "unknown option.*points_per_sid"):
            persam.generate_masks(C.model(), np.zeros((8, 8, 3), np.uint8), points_per_sid=4)
        with self.assertRaises(persam.PersamError) as cm:  # the C library checks the values
            persam.generate_masks(C.model(), np.zeros((8, 8, 3), np.uint8), points_per_side=0)
        self.assertIn("points_per_side", str(cm.exception))
        self.assertIn("persam_generate_masks", str(cm.exception))

    def test_closed_model(self):
        m = persam.Model(C.MODEL)
        p = persam.SamPredictor(m)
        m.close()
        self.assertTrue(m.closed)
        self.assertFalse(p.is_image_set)
        with self.assertRaisesRegex(persam.PersamError, "is closed"):
            p.set_image(np.zeros((8, 8, 3), np.uint8))
        m.close()  # twice is fine


if __name__ == "__main__":
    unittest.main()
