/* quant.h — ggml's tensor types as they appear in GGUF files.
 * defines: the type table (dt_qtype: id, name, elements per block, bytes per block, whether
 * duet can decode it), fp16 and bf16 to f32, and dt_dequant_row, the plain reference that turns
 * one row of any supported type into floats.
 *
 * Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K. The other types
 * ggml defines (Q8_1, Q2_K, Q3_K, Q8_K, the IQ family, integer and F64 types, TQ1_0, TQ2_0,
 * MXFP4) are known by name and size, so a file holding them can be read and its sizes checked,
 * but they cannot be decoded. Not here: fast kernels or dot products on quantized data.
 */
#ifndef DT_QUANT_H
#define DT_QUANT_H

#include "dt.h"

/* ggml type ids (the numbers GGUF stores); gaps are ids ggml retired. */
enum {
    DT_Q_F32 = 0,
    DT_Q_F16 = 1,
    DT_Q_Q4_0 = 2,
    DT_Q_Q4_1 = 3,
    DT_Q_Q5_0 = 6,
    DT_Q_Q5_1 = 7,
    DT_Q_Q8_0 = 8,
    DT_Q_Q8_1 = 9,
    DT_Q_Q2_K = 10,
    DT_Q_Q3_K = 11,
    DT_Q_Q4_K = 12,
    DT_Q_Q5_K = 13,
    DT_Q_Q6_K = 14,
    DT_Q_Q8_K = 15,
    DT_Q_BF16 = 30,
};

typedef struct dt_qtype {
    uint32_t id;
    const char *name;  /* "Q4_K" */
    int block;         /* elements per block (1 for plain types) */
    int bytes;         /* bytes per block */
    int supported;     /* 1: dt_dequant_row decodes it */
} dt_qtype;

/* The table entry of a ggml type id, or NULL for an id ggml does not define. */
const dt_qtype *dt_qtype_of(uint32_t id);

/* Bytes of n elements of type t (n a multiple of the block size); 0 when n is not, or on overflow. */
size_t dt_qtype_bytes(const dt_qtype *t, uint64_t n);

/* IEEE half (binary16) and bfloat16 to float, exactly: subnormals, infinities and NaN payloads
 * included (every half and every bfloat16 is a float). */
float dt_fp16_to_f32(uint16_t h);
float dt_bf16_to_f32(uint16_t h);

/* Decodes n elements of type `type` from src (n / block blocks, read as little-endian bytes, any
 * alignment) into dst (n). DUET_EUNSUPPORTED for a type that cannot be decoded, DUET_EINVAL when
 * n is negative or not a multiple of the block size. */
int dt_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);

#endif /* DT_QUANT_H */
