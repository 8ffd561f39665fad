"""darknet_explain: explanations of Darknet models from Python.

ctypes over libdarknet-explain.so (as Darknet's own darknet.py over libdarknet.so), NumPy arrays
in and out. Options are the command line's, as keywords; errors are the command line's lines:

    import darknet_explain as dx
    model = dx.Model("cfg/shapes-classifier.cfg", "cfg/shapes-classifier.weights",
                     names="cfg/shapes.names")
    e = model.explain("photo.png", "gradcam", layer=16)
    e.map            # float32, the photo's height x width
    e.write_outputs("photo_gradcam")

`python3 -m darknet_explain ...` is the command line itself. See docs/python.md.
"""
from ._model import Error, Explanation, Model, Result, methods, option_words

__all__ = ["Error", "Explanation", "Model", "Result", "methods", "option_words"]
