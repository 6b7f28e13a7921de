/* safetensors.h — reading and writing safetensors files, duet's model format.
 * defines: dt_st_writer (collects tensors and string metadata, writes atomically) and
 * dt_st_file (a whole file read and validated: every tensor's dtype, shape and offsets are
 * checked against the header and the real file size before anything is trusted).
 *
 * Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length n,
 * n bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 * "__metadata__": {"key": "string", ...}}, then the byte buffer. duet pads the header with
 * spaces so that the buffer starts 64-byte aligned.
 */
#ifndef DT_SAFETENSORS_H
#define DT_SAFETENSORS_H

#include "../core/dt.h"

enum { DT_F32 = 1, DT_F64, DT_I32, DT_I64, DT_U8 };

/* Bytes per element of a dtype; 0 for an unknown one. */
size_t dt_dtype_size(int dtype);

/* --- writing ------------------------------------------------------------------------------------ */

typedef struct dt_st_writer dt_st_writer;

int dt_st_writer_new(duet_ctx *ctx, dt_st_writer **out, duet_err *err);
void dt_st_writer_free(dt_st_writer *w);
/* Adds a tensor; copies the data. shape has ndim entries (ndim 0..8). */
int dt_st_add(dt_st_writer *w, const char *name, int dtype, int ndim, const int64_t *shape,
              const void *data, duet_err *err);
/* Shorthand for a 1-D tensor of n elements. */
int dt_st_add1(dt_st_writer *w, const char *name, int dtype, int64_t n, const void *data,
               duet_err *err);
/* Adds or replaces a metadata entry; copies key and value. */
int dt_st_meta(dt_st_writer *w, const char *key, const char *value, duet_err *err);
int dt_st_metaf(dt_st_writer *w, duet_err *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes the file atomically: path.tmp, fsync, rename. */
int dt_st_write(dt_st_writer *w, const char *path, duet_err *err);
/* The bytes the file would take (header, padding and tensors), without writing it. */
int dt_st_size(dt_st_writer *w, size_t *bytes, duet_err *err);

/* --- reading ------------------------------------------------------------------------------------ */

typedef struct dt_st_file dt_st_file;

/* Reads and validates a whole file. Messages start with the path. */
int dt_st_open(duet_ctx *ctx, const char *path, dt_st_file **out, duet_err *err);
/* Same, from memory (copied); `name` is used in messages. */
int dt_st_open_mem(duet_ctx *ctx, const char *name, const void *buf, size_t len,
                   dt_st_file **out, duet_err *err);
void dt_st_close(dt_st_file *f);
const char *dt_st_name(const dt_st_file *f);
/* A metadata value, or NULL when the key is absent. */
const char *dt_st_meta_get(const dt_st_file *f, const char *key);
/* Metadata entry i (0..count-1), for listing. */
int dt_st_meta_count(const dt_st_file *f);
const char *dt_st_meta_key(const dt_st_file *f, int i);
const char *dt_st_meta_value(const dt_st_file *f, int i);
/* Looks up a tensor and checks its dtype and shape: shape[i] < 0 matches any size, and
 * shape_out (may be NULL) receives the real one. *data points into the file's buffer (aligned
 * to the element size) and lives as long as f. EFORMAT with "path: tensor 'name' ..." when
 * absent or mismatched. */
int dt_st_get(const dt_st_file *f, const char *name, int dtype, int ndim, const int64_t *shape,
              const void **data, int64_t *shape_out, duet_err *err);
/* 1 when a tensor of that name exists. */
int dt_st_has(const dt_st_file *f, const char *name);

/* Parses an integer/double metadata value with range checks; EFORMAT when absent or bad. */
int dt_st_meta_i64(const dt_st_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   duet_err *err);
int dt_st_meta_f64(const dt_st_file *f, const char *key, double *out, duet_err *err);

#endif /* DT_SAFETENSORS_H */
