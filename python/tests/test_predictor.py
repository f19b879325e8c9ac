"""persam.SamPredictor against `persam segment` on the fixture model: masks,
scores and low-res logits must be identical (same engine, same floats)."""
import os
import unittest

import numpy as np

import _common as C
import persam


def setUpModule():
    C.require_fixtures()


class PredictorVsCli(unittest.TestCase):
    POINT = (600.0, 500.0)
    BOXES = np.array([[300, 200, 900, 800], [100, 100, 500, 600]], dtype=np.float32)

    @classmethod
    def setUpClass(cls):
        C.require_cli()
        cls.predictor = C.cat01_predictor()

    def cli_segment(self, name, *prompt):
        out = C.tmpdir(name)
        C.run_cli("segment", "--model", C.MODEL, "--image", C.CAT_01, *prompt, "--out", out, "--save-logits")
        scores = np.array(C.read_json(os.path.join(out, "scores.json"))["scores"], dtype=np.float64)
        low_res = np.load(os.path.join(out, "low_res.npy"))
        high_res = np.load(os.path.join(out, "high_res.npy"))
        masks = np.stack([C.read_png(os.path.join(out, f"mask_{k}.png")) > 0 for k in range(len(scores))])
        return out, masks, scores, low_res, high_res

    def assert_same(self, got, cli):
        masks, scores, low_res = got
        _, cli_masks, cli_scores, cli_low_res, _ = cli
        self.assertEqual(masks.shape, cli_masks.shape)
        self.assertTrue(np.array_equal(masks, cli_masks), "masks differ from the CLI's")
        # The CLI writes each float32 score as %.17g of its double: exact.
        self.assertEqual(scores.tolist(), cli_scores.astype(np.float32).tolist())
        self.assertTrue(np.array_equal(scores, cli_scores.astype(np.float32)))
        self.assertEqual(low_res.dtype, np.float32)
        self.assertTrue(np.array_equal(low_res, cli_low_res), "low-res logits differ from the CLI's")

    def test_point_multimask(self):
        x, y = self.POINT
        cli = self.cli_segment("seg-point", "--point", f"{x},{y}", "--multimask")
        got = self.predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]),
                                     multimask_output=True)
        masks, scores, low_res = got
        h, w = self.predictor.original_size
        self.assertEqual((masks.shape, masks.dtype), ((3, h, w), np.bool_))
        self.assertEqual((scores.shape, scores.dtype), ((3,), np.float32))
        self.assertEqual((low_res.shape, low_res.dtype), ((3, 256, 256), np.float32))
        self.assert_same(got, cli)
        logits, _, _ = self.predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]),
                                              return_logits=True)
        self.assertEqual((logits.shape, logits.dtype), ((3, h, w), np.float32))
        self.assertTrue(np.array_equal(logits, cli[4]), "high-res logits differ from the CLI's")
        self.assertTrue(np.array_equal(logits > 0, masks))

    def test_point_and_mask_input(self):
        # The official refinement loop: the best low-res map as mask_input.
        x, y = self.POINT
        _, scores, low_res = self.predictor.predict(np.array([[x, y]]), np.array([1]))
        best = int(np.argmax(scores))
        lowres_file = os.path.join(C.tmpdir("mask-input"), "low_res.npy")
        np.save(lowres_file, low_res)
        cli = self.cli_segment("seg-mask-input", "--point", f"{x},{y}", "--point", "400,300,0",
                               "--mask-input", f"{lowres_file}:{best}")
        got = self.predictor.predict(np.array([[x, y], [400, 300]]), np.array([1, 0]),
                                     mask_input=low_res[best][None, :, :], multimask_output=False)
        self.assertEqual(got[0].shape, (1,) + self.predictor.original_size)
        self.assert_same(got, cli)

    def test_box_and_batch_of_boxes(self):
        clis = [self.cli_segment(f"seg-box{i}", "--box", ",".join(str(v) for v in box.tolist()))
                for i, box in enumerate(self.BOXES)]
        # One box, (4,) and (1, 4): the official single-prompt shapes.
        for box in (self.BOXES[0], self.BOXES[:1]):
            got = self.predictor.predict(box=box, multimask_output=False)
            self.assertEqual(got[0].shape, (1,) + self.predictor.original_size)
            self.assert_same(got, clis[0])
        # (B, 4): a batch, one result per box.
        masks, scores, low_res = self.predictor.predict(box=self.BOXES, multimask_output=False)
        h, w = self.predictor.original_size
        self.assertEqual(masks.shape, (2, 1, h, w))
        self.assertEqual(scores.shape, (2, 1))
        self.assertEqual(low_res.shape, (2, 1, 256, 256))
        for b in range(2):
            self.assert_same((masks[b], scores[b], low_res[b]), clis[b])


class PredictorApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.predictor = C.cat01_predictor()
        cls.point = (np.array([[600, 500]]), np.array([1]))

    def test_embedding_save_load_and_get(self):
        path = os.path.join(C.tmpdir("embedding"), "cat01.npy")
        self.predictor.save_embedding(path)
        emb = self.predictor.get_image_embedding()
        self.assertEqual((emb.shape, emb.dtype), ((1, 256, 64, 64), np.float32))
        self.assertTrue(np.array_equal(emb, np.load(path)))
        expected = self.predictor.predict(*self.point)
        with persam.SamPredictor(C.model()) as other:
            for size in (None, self.predictor.original_size):
                other.load_embedding(path, size)
                self.assertEqual(other.original_size, self.predictor.original_size)
                for a, b in zip(other.predict(*self.point), expected):
                    self.assertTrue(np.array_equal(a, b))
            with self.assertRaises(persam.EngineError):  # a size other than the recorded one
                h, w = self.predictor.original_size
                other.load_embedding(path, (w, h))
            self.assertFalse(other.is_image_set)

    def test_bgr_array_equals_rgb_file(self):
        rgb = C.load_rgb(C.CAT_01)
        bgra = np.concatenate([rgb[:, :, ::-1], np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
        with persam.SamPredictor(C.model()) as p:
            p.set_image(bgra, image_format="BGR")
            self.assertEqual(p.original_size, rgb.shape[:2])
            self.assertEqual(p.input_size, (783, 1024))
            for a, b in zip(p.predict(*self.point), self.predictor.predict(*self.point)):
                self.assertTrue(np.array_equal(a, b))

    def test_reset_image(self):
        with persam.SamPredictor(C.model()) as p:
            self.assertFalse(p.is_image_set)
            with self.assertRaises(persam.PersamError):
                p.predict(*self.point)


if __name__ == "__main__":
    unittest.main()
