"""persam.Personalizer against `persam personalize` (PerSAM) on perseg-mini."""
import os
import unittest

import numpy as np

import _common as C
import persam


def setUpModule():
    C.require_fixtures()


class PersonalizerVsCli(unittest.TestCase):
    def test_cat(self):
        C.require_cli()
        cli = C.cli_personalize("cat")
        ref_mask = os.path.join(C.MASKS, "cat", "00.png")
        # The reference as an array (image) and a file (mask), targets as
        # arrays and paths: all the same to the engine.
        with persam.Personalizer(C.model(), C.load_rgb(os.path.join(C.IMAGES, "cat", "00.png")), ref_mask) as p:
            for i, stem in enumerate(sorted(cli)):
                path = os.path.join(C.IMAGES, "cat", f"{stem}.png")
                mask, point = p.segment(path if i % 2 else C.load_rgb(path))
                self.assertEqual(mask.dtype, np.bool_)
                self.assertEqual(mask.shape, cli[stem].shape)
                self.assertTrue(mask.any())
                self.assertTrue(np.array_equal(mask, cli[stem]), f"cat/{stem}: mask differs from the CLI's")
                x, y = point
                self.assertTrue(0 <= x < mask.shape[1] and 0 <= y < mask.shape[0], point)

    def test_reference_mask_forms(self):
        m = persam.personalizer.reference_mask_array(os.path.join(C.MASKS, "cat", "00.png"))
        self.assertEqual(m.dtype, np.uint8)
        self.assertEqual(set(np.unique(m).tolist()), {0, 1})
        rgb = np.zeros((2, 3, 3), np.uint8)
        rgb[1, 2, 1] = 5
        self.assertEqual(persam.personalizer.reference_mask_array(rgb).tolist(), [[0, 0, 0], [0, 0, 1]])


if __name__ == "__main__":
    unittest.main()
