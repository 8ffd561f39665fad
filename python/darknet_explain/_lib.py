"""The C library behind darknet_explain: libdarknet-explain.so through ctypes.

Only the string API of plugin/explain.h ("for bindings") is used: options travel as the command
line's words and results are read through accessors, so no C struct's layout is mirrored here.
"""
import ctypes
import os

c_int, c_float, c_double, c_char_p, c_void_p = ctypes.c_int, ctypes.c_float, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p
P = ctypes.POINTER
c_float_p = P(c_float)

# Each C prototype used: name -> (result type, argument types).
_PROTOTYPES = {
    "dx_open_args": (c_void_p, [c_char_p, c_char_p, c_int, P(c_char_p), c_char_p]),
    "dx_close": (None, [c_void_p]),
    "dx_warnings": (c_char_p, [c_void_p]),
    "dx_class_count": (c_int, [c_void_p]),
    "dx_class_name": (c_char_p, [c_void_p, c_int]),
    "dx_is_detector": (c_int, [c_void_p]),
    "dx_default_layer": (c_int, [c_void_p]),
    "dx_layer_type": (c_char_p, [c_void_p, c_int]),
    "dx_method_count": (c_int, []),
    "dx_method_name": (c_char_p, [c_int]),
    "dx_option_takes_value": (c_int, [c_char_p]),
    "dx_request_parse": (c_int, [c_char_p, c_int, P(c_char_p), P(c_void_p), c_char_p]),
    "dx_request_free": (None, [c_void_p]),
    "dx_output_options_parse": (c_int, [c_int, P(c_char_p), P(c_void_p), c_char_p]),
    "dx_output_options_free": (None, [c_void_p]),
    "dx_photo_load": (c_void_p, [c_char_p, c_char_p]),
    "dx_photo_from_planes": (c_void_p, [c_float_p, c_int, c_int, c_int, c_char_p, c_char_p]),
    "dx_photo_free": (None, [c_void_p]),
    "dx_explain_photo": (c_int, [c_void_p, c_void_p, c_void_p, P(c_void_p), c_char_p]),
    "dx_explanation_count": (c_int, [c_void_p]),
    "dx_explanation_is_boxes": (c_int, [c_void_p]),
    "dx_explanation_result": (c_void_p, [c_void_p, c_int]),
    "dx_explanation_box_id": (c_char_p, [c_void_p, c_int, c_char_p, c_int]),
    "dx_explanation_best_score": (c_float, [c_void_p, P(c_int)]),
    "dx_explanation_write": (c_int, [c_void_p, c_void_p, c_char_p, c_void_p, c_char_p]),
    "dx_explanation_free": (None, [c_void_p]),
    "dx_result_number": (c_int, [c_void_p, c_char_p, P(c_double)]),
    "dx_result_map": (c_float_p, [c_void_p]),
    "dx_result_native": (c_float_p, [c_void_p]),
    "dx_result_top": (c_int, [c_void_p, c_int, P(c_int), P(c_float)]),
    "dx_result_stat_at": (c_char_p, [c_void_p, c_int, P(c_double)]),
    "dx_result_box": (c_void_p, [c_void_p]),
    "dx_detect_photo": (c_int, [c_void_p, c_void_p, c_void_p, P(c_void_p), c_char_p]),
    "dx_detections_count": (c_int, [c_void_p]),
    "dx_detections_at": (c_void_p, [c_void_p, c_int]),
    "dx_detections_free": (None, [c_void_p]),
    "dx_detection_number": (c_int, [c_void_p, c_char_p, P(c_double)]),
    "dx_cli_run": (c_int, [c_char_p, c_int, P(c_char_p)]),
    "dx_blas_best_kernel": (c_char_p, []),
}

# dx_error is one line of at most 511 bytes (plugin/explain.h); a larger buffer is always safe.
ERROR_BYTES = 4096


def _find_library():
    """$DX_LIB, else the build/ of the source tree this package sits in, else the loader's path."""
    if os.environ.get("DX_LIB"):
        return os.environ["DX_LIB"]
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, os.pardir, os.pardir, "build", "libdarknet-explain.so")
    return os.path.normpath(built) if os.path.exists(built) else "libdarknet-explain.so"


def _load():
    lib = ctypes.CDLL(_find_library())
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    # OpenBLAS's best kernels for this CPU before its first call, as the command line does
    lib.dx_blas_best_kernel()
    return lib


lib = _load()
libc = ctypes.CDLL(None)


def words(strings):
    """A C array of NUL-terminated byte strings (argv), and the count."""
    encoded = [os.fsencode(s) for s in strings]
    return len(encoded), (c_char_p * (len(encoded) + 1))(*encoded, None)


def error_buffer():
    return ctypes.create_string_buffer(ERROR_BYTES)
