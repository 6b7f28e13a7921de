/* gguf.h — reading GGUF files (ggml's container for language models and their tokenizers).
 * defines: dt_gguf, a file mapped read-only (or read whole where mapping is unavailable) whose
 * header, key/value metadata and tensor table were checked against its real size when it was
 * opened; typed getters for metadata values; array views; tensor lookup with pointers into the
 * file's bytes.
 *
 * Format (GGUF v2 and v3; little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value
 * count; each key/value is a string key, a u32 value type and the value; each tensor info is a
 * string name, u32 n_dims, u64 ne[n_dims] (ne[0] innermost, the row length), u32 ggml type and a
 * u64 offset into the data section, which starts at the end of the tensor infos rounded up to
 * the alignment (`general.alignment`, default 32). A string is a u64 length and that many bytes
 * (no NUL); an array is a u32 element type, a u64 count and the elements.
 * Not here: what the keys and tensors mean (models and tokenizers decide that), writing GGUF,
 * big-endian files (v3 allows them; they are refused by their version field).
 */
#ifndef DT_GGUF_H
#define DT_GGUF_H

#include "../core/dt.h"

/* GGUF value types */
enum {
    DT_GGUF_U8 = 0,
    DT_GGUF_I8 = 1,
    DT_GGUF_U16 = 2,
    DT_GGUF_I16 = 3,
    DT_GGUF_U32 = 4,
    DT_GGUF_I32 = 5,
    DT_GGUF_F32 = 6,
    DT_GGUF_BOOL = 7,
    DT_GGUF_STRING = 8,
    DT_GGUF_ARRAY = 9,
    DT_GGUF_U64 = 10,
    DT_GGUF_I64 = 11,
    DT_GGUF_F64 = 12,
};

#define DT_GGUF_MAX_DIMS 4
#define DT_GGUF_MAX_NAME 63             /* bytes in a tensor name (ggml's limit, 64 with the NUL) */
#define DT_GGUF_MAX_ALIGN (1u << 20)    /* the largest general.alignment accepted */

typedef struct dt_gguf dt_gguf;

/* One tensor, as the file describes it; lives as long as the dt_gguf. */
typedef struct dt_gguf_tensor {
    char name[DT_GGUF_MAX_NAME + 1];    /* NUL-terminated */
    uint32_t type;                      /* ggml type id (core/quant.h) */
    int n_dims;                         /* 1..4 */
    int64_t ne[DT_GGUF_MAX_DIMS];       /* ne[0] innermost; 1 past n_dims */
    uint64_t offset;                    /* file offset of its first byte */
    const void *data;                   /* into the file's bytes */
    size_t nbytes;
} dt_gguf_tensor;

/* A view of an array value: elements of `type`, `n` of them, starting at p (offset `off` in the
 * file). Scalars are unaligned little-endian: read them with dt_gguf_arr_i64 / _f64. */
typedef struct dt_gguf_arr {
    uint32_t type;
    uint64_t n;
    const unsigned char *p;
    uint64_t off;
} dt_gguf_arr;

/* Walks a string array or an array of arrays, element by element. */
typedef struct dt_gguf_iter {
    const unsigned char *p; /* the next element */
    uint64_t off;           /* its file offset */
    uint64_t i, n;
    uint32_t type;
} dt_gguf_iter;

/* --- lifecycle ---------------------------------------------------------------------------------- */

/* Maps path read-only and validates it. EIO when it cannot be opened or read, EFORMAT with
 * "path: offset N: what" when it is not a well-formed GGUF file, ENOMEM. *out is NULL on failure. */
int dt_gguf_open(duet_ctx *ctx, const char *path, dt_gguf **out, duet_err *err);
/* The same over buf[0..len), which is not copied and must outlive *out; `name` is used in
 * messages. */
int dt_gguf_open_mem(duet_ctx *ctx, const char *name, const void *buf, size_t len, dt_gguf **out,
                     duet_err *err);
void dt_gguf_close(dt_gguf *f);

const char *dt_gguf_name(const dt_gguf *f);
uint32_t dt_gguf_version(const dt_gguf *f);
uint32_t dt_gguf_alignment(const dt_gguf *f);
uint64_t dt_gguf_data_offset(const dt_gguf *f); /* where the data section starts */
size_t dt_gguf_size(const dt_gguf *f);          /* bytes in the file */

/* --- key/values --------------------------------------------------------------------------------- */

int64_t dt_gguf_n_kv(const dt_gguf *f);
/* Key/value i (0..n_kv-1), in file order: its key (NUL-terminated) and value type. */
const char *dt_gguf_kv_key(const dt_gguf *f, int64_t i);
uint32_t dt_gguf_kv_type(const dt_gguf *f, int64_t i);
/* The index of key, or -1 when absent. */
int64_t dt_gguf_find_key(const dt_gguf *f, const char *key);

/* Typed getters. Each is EFORMAT ("path: key 'k' is missing" or "path: offset N: key 'k' is a
 * string, not ...") when the key is absent or of the wrong kind, and ERANGE when an integer does
 * not fit. Integer getters accept any integer type whose value fits; the float getter accepts
 * f32, f64 and integers. */
int dt_gguf_get_u32(const dt_gguf *f, const char *key, uint32_t *out, duet_err *err);
int dt_gguf_get_i32(const dt_gguf *f, const char *key, int32_t *out, duet_err *err);
int dt_gguf_get_u64(const dt_gguf *f, const char *key, uint64_t *out, duet_err *err);
int dt_gguf_get_i64(const dt_gguf *f, const char *key, int64_t *out, duet_err *err);
int dt_gguf_get_f32(const dt_gguf *f, const char *key, float *out, duet_err *err);
int dt_gguf_get_bool(const dt_gguf *f, const char *key, int *out, duet_err *err);
/* A string value: *s points into the file (not NUL-terminated; it may hold NULs), *len bytes. */
int dt_gguf_get_str(const dt_gguf *f, const char *key, const char **s, size_t *len, duet_err *err);
int dt_gguf_get_arr(const dt_gguf *f, const char *key, dt_gguf_arr *out, duet_err *err);

/* Element i of an array of integers (any width; a u64 above INT64_MAX is refused) or of numbers
 * (integers, f32, f64, bool). 0 when the element type does not fit or i >= n. */
int dt_gguf_arr_i64(const dt_gguf_arr *a, uint64_t i, int64_t *out);
int dt_gguf_arr_f64(const dt_gguf_arr *a, uint64_t i, double *out);

/* Iteration over an array of strings or of arrays: dt_gguf_iter_str gives the next string (1, or
 * 0 at the end or when the array holds something else), dt_gguf_iter_arr the next array. */
void dt_gguf_arr_iter(const dt_gguf_arr *a, dt_gguf_iter *it);
int dt_gguf_iter_str(dt_gguf_iter *it, const char **s, size_t *len);
int dt_gguf_iter_arr(dt_gguf_iter *it, dt_gguf_arr *sub);

/* --- tensors ------------------------------------------------------------------------------------ */

int64_t dt_gguf_n_tensors(const dt_gguf *f);
/* Tensor i (0..n-1) in file order. */
const dt_gguf_tensor *dt_gguf_tensor_at(const dt_gguf *f, int64_t i);
/* The tensor of that name, or NULL. */
const dt_gguf_tensor *dt_gguf_find_tensor(const dt_gguf *f, const char *name);

#endif /* DT_GGUF_H */
