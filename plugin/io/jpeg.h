/* Whether Darknet's loader (OpenCV's imread, over the system's libjpeg) reads a JPEG file. */
#ifndef DX_IO_JPEG_H
#define DX_IO_JPEG_H
#include <stddef.h>
#include <stdio.h>

/* Reads the JPEG open in f (from its start) with libjpeg as OpenCV does: the header, then
 * (decode) every scanline in the colour space OpenCV asks for; warnings ignored, as OpenCV ignores
 * them. NULL with *w, *h the stored size (before any EXIF turn), or the reason it fails ("JPEG:
 * " and libjpeg's message, written into reason). */
const char *dx_jpeg_check(FILE *f, int decode, int *w, int *h, char *reason, size_t len);
#endif
