"""darknet_explain (python/) against the command line (build/darknet-explain) on the embedded
models: the same maps bit for bit, the same boxes, the same messages, the same files.

Run by tests/test_python.c (one Criterion test per class) with DX_CLI, DX_ROOT and DX_LIB set;
by hand: DX_CLI=$PWD/build/darknet-explain DX_ROOT=$PWD PYTHONPATH=python:tests/python \
/usr/bin/python3 -m unittest -v test_darknet_explain
"""
import doctest
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

import numpy as np

import darknet_explain as dx

CLI = os.environ["DX_CLI"]
ROOT = os.environ["DX_ROOT"]
CLASSIFIER = [os.path.join(ROOT, "cfg", f"shapes-classifier.{ext}") for ext in ("cfg", "weights")]
DETECTOR = [os.path.join(ROOT, "cfg", f"shapes-detector.{ext}") for ext in ("cfg", "weights")]
NAMES = os.path.join(ROOT, "cfg", "shapes.names")


def run(args, cwd, program=None):
    """The command (the CLI, or program's argv before args) in cwd: (status, stdout, stderr)."""
    p = subprocess.run((program or [CLI]) + args, cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def gen_shapes(dirname, split, seed, n, size, objects):
    """gen-shapes (beside the CLI) images: their paths, sorted"""
    subprocess.run([os.path.join(os.path.dirname(CLI), "gen-shapes"), dirname, split, str(seed), str(n),
                    str(size), str(objects)], check=True)
    folder = os.path.join(dirname, split)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".png"))


def json_number(v):
    """v as the library's JSON writer prints it (io/json.c: integers exactly, else %.9g)"""
    return int(v) if float(v).is_integer() else float(f"{v:.9g}")


def write_png(path, rgb):
    """An 8-bit RGB PNG of rgb (H x W x 3 uint8), written without the library"""
    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Case(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dx-python-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def cli(self, args, expect=0):
        status, out, err = run(args, self.dir)
        self.assertEqual(status, expect, f"{' '.join(args)}: {err}")
        return out, err


class Maps(Case):
    """(1) Python's maps equal the CLI's .npy and .raw.npy bit for bit, on the embedded
    classifier, with options that change the maps."""
    CASES = [("gradcam", {"class_": 0}, ["-class", "0"]), ("saliency", {}, []),
             ("ig", {"baseline": "noise", "seed": 7, "steps": 16}, ["-baseline", "noise", "-seed", "7", "-steps", "16"]),
             ("lrp", {"composite": "epsilon-plus"}, ["-composite", "epsilon-plus"]),
             ("occlusion", {"window": 16, "stride": 8, "occlude": "mean"},
              ["-window", "16", "-stride", "8", "-occlude", "mean"])]

    def test_maps_equal_the_cli(self):
        image = gen_shapes(self.dir, "cls", 3, 1, 64, 1)[0]
        model = dx.Model(*CLASSIFIER, names=NAMES)
        for method, options, words in self.CASES:
            with self.subTest(method=method):
                prefix = os.path.join(self.dir, method)
                self.assertEqual(dx.option_words(options), words)
                self.cli([method, *CLASSIFIER, image, "-names", NAMES, "-out", prefix, *words])
                e = model.explain(image, method, **options)
                for mine, suffix in ((e.map, ".npy"), (e.native, ".raw.npy")):
                    theirs = np.load(prefix + suffix)
                    self.assertEqual(mine.dtype, np.float32)
                    self.assertEqual(mine.shape, theirs.shape)
                    self.assertTrue(np.array_equal(mine, theirs), f"{method}{suffix}: max difference "
                                    f"{np.abs(mine.astype(np.float64) - theirs).max()}")
                self.assertEqual(e.map.shape, (64, 64))
                self.assertLess(e.map_min, e.map_max, f"{method}: a blank map proves nothing")
                with open(prefix + ".json") as f:
                    target = json.load(f)["target"]
                self.assertEqual((e.class_id, e.name, json_number(e.logit), json_number(e.prob)),
                                 (target["class"], target["name"], target["logit"], target["probability"]))
                if method == "gradcam":
                    self.assertEqual(e.class_id, 0)  # -class reached the request
        other = model.explain(image, "ig", baseline="noise", seed=8, steps=16)
        self.assertFalse(np.array_equal(other.map, np.load(os.path.join(self.dir, "ig.npy"))),
                         "ig with another seed: the seed did not reach the request")


class Boxes(Case):
    """(2) A detector's per-box dicts are the boxes of the CLI's JSON, their maps its .npy."""

    def test_boxes_equal_the_cli_json(self):
        image = gen_shapes(self.dir, "det", 7, 1, 96, 3)[0]
        prefix = os.path.join(self.dir, "det-out")  # "det" is gen_shapes' folder: -out DIR writes into it
        self.cli(["gradcam", *DETECTOR, image, "-names", NAMES, "-boxes", "all", "-out", prefix])
        with open(prefix + ".json") as f:
            theirs = json.load(f)["boxes"]
        model = dx.Model(*DETECTOR, names=NAMES)
        self.assertTrue(model.is_detector)
        e = model.explain(image, "gradcam", boxes="all")
        mine = e.boxes
        self.assertGreaterEqual(len(theirs), 2, "too few boxes to compare")
        self.assertEqual(len(mine), len(theirs))
        output_only = {"png", "overlay_png", "map_npy", "timings_ms"}  # what writing the files decides
        for d, t in zip(mine, theirs):
            self.assertEqual(set(t) - output_only, set(d) - {"map", "native"})
            for key in set(t) - output_only:
                want, got = t[key], d[key]
                if key == "head":
                    self.assertEqual(got, want)
                elif isinstance(want, (int, float)) and not isinstance(want, bool):
                    self.assertEqual(json_number(got), want, f"{t['id']} {key}")
                else:
                    self.assertEqual(got, want, f"{t['id']} {key}")
            self.assertTrue(np.array_equal(d["map"], np.load(f"{prefix}_{t['id']}.npy")), t["id"])
        detected = model.detect(image)
        box_keys = ("x", "y", "w", "h", "class", "name", "score", "objectness", "class_probability", "head")
        self.assertEqual(detected, [{k: d[k] for k in box_keys} for d in mine])


class Arrays(Case):
    """(3) An RGB array gives the map of the same pixels saved as PNG and loaded by file."""

    def test_array_equals_png(self):
        rng = np.random.default_rng(5)
        rgb = np.full((48, 80, 3), 90, np.uint8)  # not square: rows and columns cannot swap
        rgb[10:30, 12:40] = (230, 40, 40)
        rgb += rng.integers(0, 20, rgb.shape, dtype=np.uint8)
        path = os.path.join(self.dir, "pixels.png")
        write_png(path, rgb)
        model = dx.Model(*CLASSIFIER)
        for method in ("gradcam", "saliency"):
            with self.subTest(method=method):
                by_file = model.explain(path, method)
                for pixels in (rgb, rgb / 255.0):
                    by_array = model.explain(pixels, method)
                    self.assertEqual(by_array.map.shape, (48, 80))
                    self.assertTrue(np.array_equal(by_array.map, by_file.map))
                    self.assertTrue(np.array_equal(by_array.native, by_file.native))
                self.assertLess(by_file.map_min, by_file.map_max)
        flipped = model.explain(rgb[:, ::-1], "saliency")
        self.assertFalse(np.array_equal(flipped.map, by_file.map), "the array's pixels do not reach the map")

    def test_bad_arrays(self):
        model = dx.Model(*CLASSIFIER)
        for pixels, message in ((np.zeros((8, 8, 4), np.uint8), "an image array is H x W x 3"),
                                (np.zeros((8, 8, 3), np.int32), "an image array holds uint8"),
                                (np.full((8, 8, 3), 1.5), "<array>: pixel (row 0, column 0, channel 0) is 1.5"),
                                (np.zeros((0, 8, 3)), "<array>: an image of 8 x 0 pixels")):
            with self.assertRaises(dx.Error) as caught:
                model.explain(pixels)
            self.assertTrue(str(caught.exception).startswith(message), str(caught.exception))


class Errors(Case):
    """(4) Bad input raises dx.Error whose message is the CLI's stderr line (after its
    "darknet-explain: ") and whose exit_code is the CLI's status."""

    def setUp(self):
        super().setUp()
        self.image = gen_shapes(self.dir, "cls", 3, 1, 64, 1)[0]
        self.text = os.path.join(self.dir, "text.png")
        with open(self.text, "w") as f:
            f.write("not an image\n")

    def same_error(self, cli_args, python_call):
        status, out, err = run(cli_args, self.dir)
        self.assertEqual(err.count("\n"), 1, err)
        with self.assertRaises(dx.Error) as caught:
            python_call()
        self.assertEqual("darknet-explain: " + str(caught.exception), err.rstrip("\n"))
        self.assertEqual(caught.exception.exit_code, status)

    def test_messages_equal_the_cli(self):
        model = dx.Model(*CLASSIFIER)
        image, missing = self.image, os.path.join(self.dir, "missing.png")
        cases = [("gradcam", image, {"layer": "x"}, ["-layer", "x"]), ("gradcam", image, {"foo": 1}, ["-foo", "1"]),
                 ("gradcam", image, {"boxes": "some"}, ["-boxes", "some"]),
                 ("gradcam", image, {"region": (1, 2, 3)}, ["-region", "1,2,3"]),
                 ("gradcam", image, {"score": "odds"}, ["-score", "odds"]), ("ig", image, {"steps": 0}, ["-steps", "0"]),
                 ("gradcam", image, {"layer": 999}, ["-layer", "999"]),
                 ("gradcam", image, {"class_": 99}, ["-class", "99"]), ("nomethod", image, {}, []),
                 ("gradcam", missing, {}, []), ("gradcam", self.text, {}, [])]
        for method, image, options, words in cases:
            with self.subTest(options=options, method=method, image=image):
                self.assertEqual(dx.option_words(options), words)
                self.same_error([method, *CLASSIFIER, image, *words], lambda: model.explain(image, method, **options))

    def test_open_and_write_errors(self):
        missing = os.path.join(self.dir, "missing.cfg")
        self.same_error(["gradcam", missing, CLASSIFIER[1], self.image], lambda: dx.Model(missing, CLASSIFIER[1]))
        self.same_error(["gradcam", *CLASSIFIER, self.image, "-names", missing],
                        lambda: dx.Model(*CLASSIFIER, names=missing))
        e = dx.Model(*CLASSIFIER).explain(self.image)
        self.same_error(["gradcam", *CLASSIFIER, self.image, "-png_width", "3"],
                        lambda: e.write_outputs(os.path.join(self.dir, "x"), png_width=3))
        nowhere = os.path.join(self.dir, "no", "such", "x")
        self.same_error(["gradcam", *CLASSIFIER, self.image, "-out", nowhere], lambda: e.write_outputs(nowhere))
        self.assertEqual(sorted(os.listdir(self.dir)), ["cls", "cls.list", "text.png"], "files left behind")


class Module(Case):
    """(5) python3 -m darknet_explain is the CLI: the same files, output and statuses."""
    PROGRAM = "python3 -m darknet_explain"

    def module(self):
        return [os.environ.get("DX_PYTHON", "python3"), "-m", "darknet_explain"]

    def test_same_files(self):
        image = gen_shapes(self.dir, "cls", 3, 1, 64, 1)[0]
        runs = {}
        for name, program in (("cli", None), ("py", self.module())):
            os.mkdir(os.path.join(self.dir, name))
            runs[name] = run(["gradcam", *CLASSIFIER, image, "-names", NAMES, "-png_width", "96", "-timing"],
                             os.path.join(self.dir, name), program)
            self.assertEqual(runs[name][0], 0, runs[name][2])
        self.assertEqual(runs["py"][1], runs["cli"][1])  # stdout
        files = sorted(os.listdir(os.path.join(self.dir, "cli")))
        self.assertEqual(files, sorted(f"{os.path.basename(image)[:-4]}_gradcam{s}"
                                       for s in (".json", ".npy", ".png", ".raw.npy")))
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "py"))), files)
        for f in files:
            a, b = (open(os.path.join(self.dir, d, f), "rb").read() for d in ("cli", "py"))
            if f.endswith(".json"):
                a, b = (json.loads(x) for x in (a, b))
                for key in ("blas_kernel", "blas_threads"):  # the command's OpenBLAS choice
                    self.assertEqual(b["timings_ms"][key], a["timings_ms"][key], key)
                for d in (a, b):
                    del d["timings_ms"]  # wall-clock
            self.assertEqual(a, b, f)

    def test_same_statuses_and_messages(self):
        for args in ([], ["gradcam"], ["gradcam", "a.cfg", "b.weights", "c.png", "-layer", "x"],
                     ["nomethod"], ["gradcam", "a.cfg", "b.weights", "c.png"]):
            with self.subTest(args=args):
                cli, py = run(args, self.dir), run(args, self.dir, self.module())
                self.assertEqual(py[0], cli[0])
                self.assertNotEqual(cli[0], 0)
                self.assertEqual(py[2], cli[2].replace("darknet-explain", self.PROGRAM))
        help_cli, help_py = run(["-h"], self.dir), run(["-h"], self.dir, self.module())
        self.assertEqual(help_py[1], help_cli[1].replace("darknet-explain", self.PROGRAM))


class Docs(Case):
    """The examples of docs/python.md run as written, on the images it says how to make."""

    def test_examples(self):
        gen_shapes(self.dir, "photos", 3, 1, 64, 1)
        gen_shapes(self.dir, "scenes", 7, 1, 96, 3)
        os.symlink(os.path.join(ROOT, "cfg"), os.path.join(self.dir, "cfg"))
        here = os.getcwd()
        os.chdir(self.dir)
        try:
            failed, tried = doctest.testfile(os.path.join(ROOT, "docs", "python.md"), module_relative=False,
                                             optionflags=doctest.ELLIPSIS)
        finally:
            os.chdir(here)
        self.assertGreater(tried, 10)
        self.assertEqual(failed, 0)


if __name__ == "__main__":
    unittest.main()
