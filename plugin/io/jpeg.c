/* JPEG files judged by the decoder Darknet's loader uses: Debian's OpenCV reads JPEGs with the
 * system's libjpeg (libjpeg62-turbo), so the same library, driven as OpenCV's JpegDecoder drives
 * it, says exactly which files imread refuses. stb's decoder disagreed both ways (it accepted
 * files libjpeg refuses, and wrote past its Huffman tables on others: found by fuzzing). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */
#include "io/jpeg.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf escape;
} jpeg_errors;

static void on_error(j_common_ptr cinfo)
{
    longjmp(((jpeg_errors *)cinfo->err)->escape, 1);
}

/* libjpeg's warnings ("Corrupt JPEG data: ...") do not stop OpenCV; they are not printed here */
static void on_message(j_common_ptr cinfo) { (void)cinfo; }

const char *dx_jpeg_check(FILE *f, int decode, int *w, int *h, char *reason, size_t len)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_errors errors;
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = on_error;
    errors.pub.output_message = on_message;
    jpeg_create_decompress(&cinfo);
    if (setjmp(errors.escape)) {
        char message[JMSG_LENGTH_MAX];
        errors.pub.format_message((j_common_ptr)&cinfo, message);
        snprintf(reason, len, "JPEG: %s", message);
        jpeg_destroy_decompress(&cinfo);
        return reason;
    }
    rewind(f);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    *w = (int)cinfo.image_width;
    *h = (int)cinfo.image_height;
    if (decode) {
        /* the colour space OpenCV asks for when it reads a colour image */
        cinfo.out_color_space = cinfo.num_components == 4 ? JCS_CMYK : JCS_RGB;
        jpeg_start_decompress(&cinfo);
        /* from libjpeg's image pool: freed by jpeg_destroy_decompress, also after an error */
        JSAMPARRAY row = cinfo.mem->alloc_sarray((j_common_ptr)&cinfo, JPOOL_IMAGE,
                                      cinfo.output_width * cinfo.output_components, 1);
        while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, row, 1);
        /* OpenCV counts the image read here, before jpeg_finish_decompress: what follows the last
         * scan cannot make it fail */
    }
    jpeg_destroy_decompress(&cinfo);
    return NULL;
}
