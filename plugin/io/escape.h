/* escape.c — text written into the formats the outputs use: a CSV field, HTML text. */
#ifndef DX_IO_ESCAPE_H
#define DX_IO_ESCAPE_H
#include <stdio.h>

/* One CSV field: quoted (with "" for ") when it holds a comma, a quote or a line break. */
void dx_csv_field(FILE *f, const char *s);
/* Text for HTML, in an element or an attribute: &, <, > and " escaped. */
void dx_html_text(FILE *f, const char *s);
#endif
