/* tokenizer.h — text <-> token ids for language models.
 * defines: dt_tok, one opaque type for four kinds of tokenizer:
 *   DT_TOK_CHAR     the sorted set of Unicode code points of a training text;
 *   DT_TOK_BPE      byte-level BPE learned on a text (256 byte tokens + merges, GPT-2 pre-tokens);
 *   DT_TOK_GPT2     OpenAI's GPT-2 encoder (encoder.json + vocab.bpe), byte for byte;
 *   DT_TOK_LLAMA2C  llama2.c's tokenizer.bin (SentencePiece-style BPE by scores).
 * and their save/load under the prefix "tok." of a duet model file (safetensors).
 *
 * A dt_tok is immutable once built: encode, piece and decode may run concurrently on one
 * tokenizer. The ctx passed to train/load must outlive the tokenizer (the regex of byte-level
 * tokenizers allocates through it) and is the one to pass to dt_tok_free.
 */
#ifndef DT_TOKENIZER_H
#define DT_TOKENIZER_H

#include "../core/dt.h"
#include "../io/safetensors.h"

typedef struct dt_tok dt_tok;
enum { DT_TOK_CHAR = 1, DT_TOK_BPE, DT_TOK_GPT2, DT_TOK_LLAMA2C };

/* Character level: the vocabulary is the sorted set of Unicode code points in text (valid UTF-8
 * required; invalid UTF-8 -> DUET_EFORMAT "name: invalid UTF-8 at byte N"). `name` is for
 * messages. Empty text -> DUET_EINVAL. */
int dt_tok_train_char(duet_ctx *ctx, const char *name, const char *text, size_t len, dt_tok **out,
                      duet_err *err);
/* Byte-level BPE learned on text: 256 byte tokens + (vocab-256) merges, learned within pre-tokens
 * split by the GPT-2 pattern (merges never cross pre-token boundaries); any byte string
 * round-trips. vocab in [256, 65536]. Each step merges the most frequent adjacent pair; ties go
 * to the smallest (left id, right id). Stops early (smaller vocab) when no pair is left. */
int dt_tok_train_bpe(duet_ctx *ctx, const char *name, const char *text, size_t len, int vocab,
                     dt_tok **out, duet_err *err);
/* GPT-2: encoder.json (token string -> id) + vocab.bpe ("#version" line then merges "a b").
 * Encodes exactly as OpenAI's GPT-2 encoder (pre-token regex, byte->unicode table, merges lowest
 * rank first). `<|endoftext|>` is bos and eos. */
int dt_tok_load_gpt2(duet_ctx *ctx, const char *encoder_json, const char *vocab_bpe, dt_tok **out,
                     duet_err *err);
/* llama2.c tokenizer.bin / tok512.bin: int32 max_token_length, then vocab_size entries (float32
 * score, int32 len, len bytes). vocab_size is not in the file: pass it (from the model header);
 * the file must hold exactly that many entries. Encoding as llama2.c's run.c (dummy " " prefix
 * for non-empty text, byte fallback <0xXX> at id byte+3, merges by highest score).
 * BOS=1, EOS=2; encode does not add BOS. */
int dt_tok_load_llama2c(duet_ctx *ctx, const char *path, int vocab_size, dt_tok **out,
                        duet_err *err);

/* Encodes len bytes; *ids is allocated with the ctx allocator (caller dt_free's), *n set.
 * Char: a character not in the vocabulary -> DUET_EINVAL "character U+XXXX is not in the
 * tokenizer's vocabulary"; invalid UTF-8 -> DUET_EFORMAT. Byte-level kinds accept any bytes. */
int dt_tok_encode(duet_ctx *ctx, const dt_tok *t, const char *text, size_t len, int32_t **ids,
                  int64_t *n, duet_err *err);
/* The bytes of token id for streaming output: *piece points into the tokenizer (valid while t
 * lives; not NUL-terminated), *len its length. prev is the previous token id (-1 at start):
 * llama2c strips the leading space of a piece right after BOS (prev == 1) and turns "<0xXX>"
 * pieces into the single raw byte. Byte-level pieces may be partial UTF-8 sequences.
 * Out-of-range id -> DUET_EINVAL. */
int dt_tok_piece(const dt_tok *t, int prev, int32_t id, const char **piece, size_t *len,
                 duet_err *err);
/* Decodes a whole sequence into a NUL-terminated buffer allocated with the ctx allocator: the
 * concatenation of the pieces (llama2c skips BOS, and the piece after it loses its leading
 * space). */
int dt_tok_decode(duet_ctx *ctx, const dt_tok *t, const int32_t *ids, int64_t n, char **out,
                  size_t *len, duet_err *err);
int dt_tok_kind(const dt_tok *t);
const char *dt_tok_kind_name(const dt_tok *t); /* "char", "bpe", "gpt2", "llama2c" */
int32_t dt_tok_vocab(const dt_tok *t);
int32_t dt_tok_bos(const dt_tok *t); /* -1 when none (char, bpe); llama2c 1; gpt2 50256 */
int32_t dt_tok_eos(const dt_tok *t); /* -1 when none; llama2c 2; gpt2 50256 */
/* Save into / load from a duet model file. Metadata "tok.kind", "tok.vocab", "tok.bos",
 * "tok.eos" (llama2c: "tok.max_token_length"); tensors U8 "tok.pieces" (all piece bytes),
 * I64 "tok.offsets" (V+1), and per kind I32 "tok.merges" (M, 3: left, right, result),
 * I32 "tok.byte_ids" (256), F32 "tok.scores" (V). Loading validates everything ->
 * DUET_EFORMAT "PATH: tokenizer: ...". */
int dt_tok_save(const dt_tok *t, dt_st_writer *w, duet_err *err);
int dt_tok_load(duet_ctx *ctx, const dt_st_file *f, dt_tok **out, duet_err *err);
void dt_tok_free(duet_ctx *ctx, dt_tok *t);

#endif /* DT_TOKENIZER_H */
