/* The harness's own stb_image: Debian's header compiled with the harness's instrumentation, so
 * that afl-fuzz sees the decoders' coverage and ASan their memory accesses (Debian's libstb.a is
 * neither). Linked before libstb.a, whose stb_image.o member it replaces. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
