"""Models, explanations and results: the Python face of the string API (see _lib)."""
import ctypes
import os

import numpy as np

from ._lib import error_buffer, lib, words


class Error(Exception):
    """A failure of darknet-explain: str(e) is the line the command line prints after its
    "darknet-explain: " prefix; exit_code is the command line's status for it (1: bad input or a
    failure while computing, 2: a bad option)."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def _raise(err, exit_code=1):
    raise Error(err.value.decode(errors="replace"), exit_code)


def methods():
    """The method names, in the CLI's order (`darknet-explain -h`)."""
    return [lib.dx_method_name(k).decode() for k in range(lib.dx_method_count())]


def _value_word(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(_value_word(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # the shortest text that reads back as the same number
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def option_words(options):
    """Keyword arguments as the command line's words: layer=5 -> -layer 5, boxes="all" ->
    -boxes all, eigen_smooth=True -> -eigen_smooth (False or None: left out), layer=[3, 5] ->
    -layer 3,5, region=(x, y, w, h) -> -region x,y,w,h; class_=3 -> -class 3 (a trailing _
    for Python's keywords)."""
    out = []
    for key, value in options.items():
        if value is None:
            continue
        flag = "-" + (key[:-1] if key.endswith("_") else key)
        if lib.dx_option_takes_value(flag.encode()) == 0:  # a bare flag
            if value:
                out.append(flag)
        else:  # a value, or no such option (the parser names it)
            out += [flag, _value_word(value)]
    return out


def _number(getter, handle, name):
    value = ctypes.c_double()
    if getter(handle, name.encode(), ctypes.byref(value)) != 0:
        raise KeyError(name)
    return value.value


def _floats(pointer, h, w):
    """A copy of the h x w floats at pointer, as a float32 array"""
    out = np.empty((h, w), np.float32)
    if out.size:
        ctypes.memmove(out.ctypes.data, pointer, out.nbytes)
    return out


def _planes(pixels):
    """An RGB array (H x W x 3, or H x W gray) as Darknet's image: 3 x H x W float32 planes in
    [0, 1]. uint8 values v become v / 255. computed in double and stored as float, as Darknet's
    loader does, so the pixels of a PNG give the same planes as the PNG's file."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise Error(f"an image array is H x W x 3 (RGB) or H x W (gray), not {a.shape}")
    if a.dtype == np.uint8:
        f = (a.astype(np.float64) / 255.0).astype(np.float32)
    elif a.dtype.kind == "f":
        f = a.astype(np.float32)
    else:
        raise Error(f"an image array holds uint8 or floats in [0, 1], not {a.dtype}")
    return np.ascontiguousarray(f.transpose(2, 0, 1))


class _Photo:
    """An image path or array as the library's photo (freed with the object)."""

    def __init__(self, image, name):
        err = error_buffer()
        if isinstance(image, (str, bytes, os.PathLike)):
            self.handle = lib.dx_photo_load(os.fsencode(image), err)
        else:
            planes = _planes(image)
            pointer = planes.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            self.handle = lib.dx_photo_from_planes(pointer, *planes.shape, os.fsencode(name), err)
        if not self.handle:
            _raise(err)

    def __del__(self):
        if getattr(self, "handle", None):
            lib.dx_photo_free(self.handle)
            self.handle = None


class _Request:
    """A method's options parsed by the command line's own parser (freed with the object)."""

    def __init__(self, method, options):
        argc, argv = words(option_words(options))
        handle, err = ctypes.c_void_p(), error_buffer()
        if lib.dx_request_parse(os.fsencode(method), argc, argv, ctypes.byref(handle), err) != 0:
            _raise(err, 2)
        self.handle = handle

    def __del__(self):
        if getattr(self, "handle", None):
            lib.dx_request_free(self.handle)
            self.handle = None


class Model:
    """A Darknet model opened by darknet-explain (cfg checked, weights size-checked).

    names: a names list or a .data file with names=; verbose: let Darknet print its layer table;
    timing: add each layer's forward time to the JSON (the CLI's -names, -verbose, -timing)."""

    def __init__(self, cfg, weights, names=None, verbose=False, timing=False):
        self.handle = None
        argc, argv = words(option_words({"names": names, "verbose": verbose, "timing": timing}))
        err = error_buffer()
        handle = lib.dx_open_args(os.fsencode(cfg), os.fsencode(weights) if weights is not None else None,
                                  argc, argv, err)
        if not handle:
            _raise(err)
        self.handle = handle
        self.cfg, self.weights = os.fspath(cfg), weights and os.fspath(weights)
        self.warnings = lib.dx_warnings(handle).decode().splitlines()
        self.num_classes = lib.dx_class_count(handle)
        self.classes = [lib.dx_class_name(handle, k).decode() for k in range(self.num_classes)]
        self.is_detector = bool(lib.dx_is_detector(handle))
        self.default_layer = lib.dx_default_layer(handle)

    def close(self):
        if getattr(self, "handle", None):
            lib.dx_close(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _open_handle(self):
        if not self.handle:
            raise Error(f"{self.cfg}: the model is closed")
        return self.handle

    def class_name(self, cls):
        """The class's name ("class N" without names, or for an index outside them)."""
        return lib.dx_class_name(self._open_handle(), cls).decode()

    def layer_type(self, layer):
        name = lib.dx_layer_type(self._open_handle(), layer)
        return name and name.decode()

    def explain(self, image, method="gradcam", name="<array>", **options):
        """Explains image (a path, or an RGB array: H x W x 3 uint8, or floats in [0, 1]) with
        method, as `darknet-explain METHOD cfg weights image -option value ...` does; options are
        the command line's, as keywords (see option_words). name stands for an array's path in
        the JSON. Returns an Explanation: a classifier's one result, a detector's boxes."""
        request = _Request(method, options)
        photo = _Photo(image, name)
        handle, err = ctypes.c_void_p(), error_buffer()
        if lib.dx_explain_photo(self._open_handle(), photo.handle, request.handle, ctypes.byref(handle), err) != 0:
            _raise(err)
        return Explanation(self, handle, request)

    def detect(self, image, name="<array>", **options):
        """A detector's boxes above -thresh after NMS (options thresh, hier, nms), highest score
        first, each a dict with the keys of a box in the CLI's JSON."""
        request = _Request("gradcam", options)
        photo = _Photo(image, name)
        handle, err = ctypes.c_void_p(), error_buffer()
        if lib.dx_detect_photo(self._open_handle(), photo.handle, request.handle, ctypes.byref(handle), err) != 0:
            _raise(err)
        try:
            return [self._box(lib.dx_detections_at(handle, k)) for k in range(lib.dx_detections_count(handle))]
        finally:
            lib.dx_detections_free(handle)

    def _box(self, detection):
        """A dx_detection as the members of a box in the CLI's JSON"""
        n = {k: _number(lib.dx_detection_number, detection, k)
             for k in ("x", "y", "w", "h", "cls", "score", "objectness", "class_prob", "layer", "anchor", "row", "col")}
        cls, layer = int(n["cls"]), int(n["layer"])
        return {"x": n["x"], "y": n["y"], "w": n["w"], "h": n["h"], "class": cls, "name": self.class_name(cls),
                "score": n["score"], "objectness": n["objectness"], "class_probability": n["class_prob"],
                "head": {"layer": layer, "type": self.layer_type(layer), "anchor": int(n["anchor"]),
                         "row": int(n["row"]), "col": int(n["col"])}}


class Result:
    """One map: a classifier's class, or one box of a detector. Everything is a copy: it
    outlives its Explanation.

    map: float32 H x W over the photo's pixels (the .npy); native: float32, where the method
    computes it (the .raw.npy: a layer's grid, or the network input); layer: the native map's
    layer (None: the input); class_id, name, prob, logit, score ("logit" or "probability"),
    top (the predictions), stats (the JSON's method_stats), signed, relu, map_min, map_max,
    timings_ms; for a detector's box: id ("box0", "region"), box (a dict as the JSON's)."""

    def __init__(self, model, explanation, k):
        r = lib.dx_explanation_result(explanation, k)

        def num(key):
            return _number(lib.dx_result_number, r, key)

        self.method = lib.dx_method_name(int(num("method"))).decode()
        self.map = _floats(lib.dx_result_map(r), int(num("h")), int(num("w")))
        self.native = _floats(lib.dx_result_native(r), int(num("native_h")), int(num("native_w")))
        layer = int(num("layer"))
        self.layer = layer if layer >= 0 else None
        self.class_id = int(num("class_id"))
        self.name = model.class_name(self.class_id)
        self.prob, self.logit = num("prob"), num("logit")
        self.score = "probability" if int(num("score_kind")) == 1 else "logit"  # DX_SCORE_PROB
        self.signed, self.relu = bool(num("signed_map")), bool(num("relu"))
        self.map_min, self.map_max = num("map_min"), num("map_max")
        self.timings_ms = {"forward": num("ms_forward"), "backward": num("ms_backward"), "method": num("ms_method")}
        cls, prob = ctypes.c_int(), ctypes.c_float()
        self.top = []
        for j in range(int(num("ntop"))):
            lib.dx_result_top(r, j, ctypes.byref(cls), ctypes.byref(prob))
            self.top.append({"class": cls.value, "name": model.class_name(cls.value), "probability": prob.value})
        value = ctypes.c_double()
        self.stats = {lib.dx_result_stat_at(r, j, ctypes.byref(value)).decode(): value.value
                      for j in range(int(num("n_stats")))}
        box = lib.dx_result_box(r)
        self.box = model._box(box) if box else None
        buf = ctypes.create_string_buffer(32)
        stem = lib.dx_explanation_box_id(explanation, k, buf, len(buf))
        self.id = stem.decode() if stem else None

    def as_dict(self):
        """A detector's box as its entry in the CLI's JSON (plus "map" and "native"); a
        classifier's result as its "target" with the maps."""
        if self.box is None:
            return {"class": self.class_id, "name": self.name, "score": self.score, "logit": self.logit,
                    "probability": self.prob, "layer": self.layer, "predictions": self.top,
                    "method_stats": self.stats, "map": self.map, "native": self.native}
        d = {"id": self.id, **self.box, "target_value": self.logit, "map_layer": self.layer,
             "map_min": self.map_min, "map_max": self.map_max, "signed": self.signed,
             "map_blank": self.map_min == self.map_max}
        if self.stats:
            d["method_stats"] = self.stats
        d.update(map=self.map, native=self.native)
        return d

    def __repr__(self):
        what = f"{self.id} {self.name} {100 * self.prob:.2f}%" if self.box else f"{self.name} {100 * self.prob:.2f}%"
        return f"<Result {self.method}: {what}, map {self.map.shape[0]}x{self.map.shape[1]}>"


class Explanation:
    """What `darknet-explain METHOD ...` computes for one image: results[0] for a classifier,
    one Result per box for a detector (none when no box is above -thresh; best_score and
    best_class then say how far the best guess was). A classifier's map, native and the
    other Result attributes are also the Explanation's."""

    def __init__(self, model, handle, request):
        self.model, self.handle = model, handle
        self._request = request  # the C explanation's copy of the request points into its words
        self.is_boxes = bool(lib.dx_explanation_is_boxes(handle))
        self.results = [Result(model, handle, k) for k in range(lib.dx_explanation_count(handle))]
        cls = ctypes.c_int()
        self.best_score = lib.dx_explanation_best_score(handle, ctypes.byref(cls)) if self.is_boxes else None
        self.best_class = cls.value if self.is_boxes else None

    @property
    def boxes(self):
        """A detector's boxes as dicts: the members of the CLI's JSON entry, "map" and "native"."""
        return [r.as_dict() for r in self.results] if self.is_boxes else []

    def __len__(self):
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    def __getitem__(self, k):
        return self.results[k]

    def __getattr__(self, key):  # a classifier's single result
        results = self.__dict__.get("results")
        if results and not self.__dict__["is_boxes"] and hasattr(results[0], key):
            return getattr(results[0], key)
        raise AttributeError(key)

    def write_outputs(self, prefix, **options):
        """The CLI's files: PREFIX.png, .npy, .raw.npy, .json (a detector's: PREFIX_boxK.png,
        .npy, PREFIX_boxes.png, PREFIX.json); options png_width, png_opacity, png_clip. All or
        nothing, as the CLI."""
        argc, argv = words(option_words(options))
        opt, err = ctypes.c_void_p(), error_buffer()
        if lib.dx_output_options_parse(argc, argv, ctypes.byref(opt), err) != 0:
            _raise(err, 2)
        try:
            if lib.dx_explanation_write(self.model._open_handle(), self.handle, os.fsencode(prefix), opt, err) != 0:
                _raise(err)
        finally:
            lib.dx_output_options_free(opt)

    def close(self):
        if self.__dict__.get("handle"):
            lib.dx_explanation_free(self.handle)
            self.handle = None

    def __del__(self):
        self.close()
