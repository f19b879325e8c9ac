"""persam.generate_masks against `persam everything --output-mode uncompressed_rle`."""
import math
import os
import unittest

import numpy as np

import _common as C
import persam

# The fixture model is tiny (near-random weights): its masks overlap so much
# that any NMS keeps one; 1.0 keeps every record (exercising the order).
OPTIONS = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0,
               min_mask_region_area=20)


def setUpModule():
    C.require_fixtures()


class GenerateMasksVsCli(unittest.TestCase):
    def test_small_image(self):
        C.require_cli()
        from PIL import Image
        d = C.tmpdir("amg")
        image_path = os.path.join(d, "small.png")
        small = np.asarray(Image.fromarray(C.load_rgb(C.CAT_01)).resize((160, 122), Image.BILINEAR))
        Image.fromarray(small).save(image_path)
        args = []
        for k, v in OPTIONS.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        C.run_cli("everything", "--model", C.MODEL, "--image", image_path, "--out", d,
                  "--output-mode", "uncompressed_rle", *args)
        expected = C.read_json(os.path.join(d, "masks.json"))

        records = persam.generate_masks(C.model(), small, **OPTIONS)
        self.assertGreater(len(records), 3)
        self.assertEqual(len(records), len(expected))
        for i, (r, e) in enumerate(zip(records, expected)):
            self.assertEqual(set(r), {"segmentation", "area", "bbox", "predicted_iou", "point_coords",
                                      "stability_score", "crop_box"})
            seg = r["segmentation"]
            self.assertEqual((seg.shape, seg.dtype), ((122, 160), np.bool_))
            self.assertEqual(persam.mask_to_rle(seg), e["segmentation"], f"record {i}")
            self.assertTrue(np.array_equal(persam.rle_to_mask(e["segmentation"]), seg))
            self.assertEqual(r["area"], int(seg.sum()))
            stability = r["stability_score"]
            if e["stability_score"] is None:
                self.assertTrue(math.isnan(stability))
            else:
                self.assertEqual(stability, e["stability_score"])
            for key in ("area", "bbox", "predicted_iou", "point_coords", "crop_box"):
                self.assertEqual(r[key], e[key], f"record {i} {key}")

        rle = persam.SamAutomaticMaskGenerator(C.model(), output_mode="uncompressed_rle", **OPTIONS).generate(
            image_path)
        self.assertEqual([r["segmentation"] for r in rle], [e["segmentation"] for e in expected])


class RleHelpers(unittest.TestCase):
    def test_round_trip(self):
        rng = np.random.default_rng(0)
        for shape in ((1, 1), (3, 5), (7, 4)):
            for fill in (0.0, 0.5, 1.0):
                m = rng.random(shape) < fill
                rle = persam.mask_to_rle(m)
                self.assertEqual(sum(rle["counts"]), m.size)
                self.assertTrue(np.array_equal(persam.rle_to_mask(rle), m))
        self.assertEqual(persam.mask_to_rle(np.array([[True, False]]))["counts"], [0, 1, 1])


if __name__ == "__main__":
    unittest.main()
