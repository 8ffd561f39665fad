/* A small streaming JSON writer: the caller says what comes next (object, key, value) and the
 * writer places commas, indentation and escapes, and notices misuse. */
#ifndef DX_IO_JSON_H
#define DX_IO_JSON_H
#include <stdio.h>

#define DX_JSON_MAX_DEPTH 32

typedef struct {
    FILE *f;
    int depth;                           /* open containers */
    char open[DX_JSON_MAX_DEPTH];        /* '{' or '[' for each open container */
    int count[DX_JSON_MAX_DEPTH];        /* members written so far in each open container */
    int key_pending;                     /* a key was written; its value comes next */
    int top_written;                     /* the top-level value has been started */
    int err;                             /* misuse or a failed write; later calls do nothing */
} dx_json;

void dx_json_begin(dx_json *j, FILE *f);    /* starts a document on f (the caller owns f) */
void dx_json_obj_begin(dx_json *j);         /* { */
void dx_json_obj_end(dx_json *j);           /* } */
void dx_json_arr_begin(dx_json *j);         /* [ */
void dx_json_arr_end(dx_json *j);           /* ] */
void dx_json_key(dx_json *j, const char *k);  /* an object member's name; its value follows */
void dx_json_str(dx_json *j, const char *s);  /* a string, escaped; NULL writes null */
void dx_json_num(dx_json *j, double v);     /* NaN/inf: null; integers exactly; else %.9g */
void dx_json_int(dx_json *j, long v);
void dx_json_u64(dx_json *j, unsigned long long v); /* exactly, beyond 2^53 too (seeds) */
void dx_json_bool(dx_json *j, int v);
void dx_json_null(dx_json *j);
/* Ends the document with a newline and flushes f: 0 if exactly one complete, balanced value
 * was written and every write succeeded, else -1. */
int dx_json_end(dx_json *j);
#endif
