/* olmoe.h — the public C API of libolmoe, and the only seam between the
 * engine and its users (the `olmoe` CLI, tests, future servers and bindings).
 *
 * Conventions
 *  - Handles are opaque. Every fallible call returns an olmoe_status; on
 *    failure olmoe_last_error() holds a one-line reason naming the file,
 *    tensor or field at fault (kept per thread).
 *  - The library never prints, never calls exit(), and keeps no global
 *    mutable state besides that per-thread message.
 *  - Buffers the library allocates for the caller are released with
 *    olmoe_free().
 */
#ifndef OLMOE_H
#define OLMOE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum {
    OLMOE_OK = 0,
    OLMOE_ERR_IO,           /* missing/unreadable file */
    OLMOE_ERR_FORMAT,       /* malformed file, JSON, tensor shape or dtype */
    OLMOE_ERR_UNSUPPORTED,  /* valid input this engine does not implement */
    OLMOE_ERR_ARG,          /* bad argument from the caller */
    OLMOE_ERR_NOMEM,        /* allocation failed */
    OLMOE_ERR_CONTEXT_FULL, /* tokens do not fit the context window */
} olmoe_status;

const char *olmoe_last_error(void);
const char *olmoe_status_name(olmoe_status s);
void olmoe_free(void *p);

/* Progress of long work (preparing, writing, converting): done and total
 * are in the task's own unit (elements or bytes). */
typedef void (*olmoe_progress_fn)(double done, double total, void *user);

/* ---------------------------------------------------------------- models */

typedef struct olmoe_model olmoe_model;

typedef struct {
    int n_threads; /* threads for compute; <= 0 means all cores */
} olmoe_model_params;

olmoe_model_params olmoe_model_default_params(void);

/* Loads a Hugging Face model folder (config.json, safetensors weights,
 * tokenizer.json, optional tokenizer_config.json / generation_config.json).
 * Weights stay memory-mapped. */
olmoe_status olmoe_model_load(const char *path, const olmoe_model_params *params,
                              olmoe_model **out);
void olmoe_model_free(olmoe_model *model);

typedef struct {
    const char *architecture; /* "OlmoeForCausalLM" or "Olmo2ForCausalLM" */
    const char *dtype;        /* storage type of the matrices: "f32", "bf16", "f16", mixed */
    int n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff;
    int n_experts, n_experts_active; /* 0 and 0 for dense models */
    int vocab_size, max_context;
    double rope_theta;
    int64_t n_params_total;   /* every weight */
    int64_t n_params_active;  /* weights used for one token */
    uint64_t weight_bytes;    /* bytes of weights on disk / mapped */
    uint64_t bytes_per_token; /* weight bytes read to generate one token: every
                                 matrix but the embedding table and the unused
                                 experts, plus one embedding row */
} olmoe_model_info;

void olmoe_model_get_info(const olmoe_model *model, olmoe_model_info *info);

/* Readies every matrix for products now instead of at its first use:
 * rearranges those that have a faster layout of their own (Q4_0 rows
 * interleaved by eight, where an AVX2 or NEON kernel reads them) and maps
 * the pages of the others, as llama.cpp does while it loads (CPU repack,
 * MAP_POPULATE). A benchmark or a server then does not pay it mid-run;
 * resident memory grows to the size of those matrices. progress (may be
 * NULL) counts bytes. */
void olmoe_model_prepare(olmoe_model *model, olmoe_progress_fn progress, void *user);

/* ------------------------------------------------------------- tokenizer */

int olmoe_vocab_size(const olmoe_model *model);  /* rows of the logits */
int32_t olmoe_token_eos(const olmoe_model *model);
int32_t olmoe_token_bos(const olmoe_model *model); /* -1 if none */
/* 1 if generation ends at this id (config.json and generation_config.json). */
int olmoe_token_is_eos(const olmoe_model *model, int32_t id);

/* Text -> ids, exactly as Hugging Face `tokenizers` encodes (special tokens
 * in the text are recognised; nothing is prepended). *ids is allocated. */
olmoe_status olmoe_tokenize(const olmoe_model *model, const char *text, size_t len,
                            int32_t **ids, size_t *n_ids);

/* Ids -> text as Hugging Face `decode(ids, skip_special_tokens)`; ids the
 * tokenizer does not know (padding rows of the embedding) are skipped.
 * *text is allocated and NUL-terminated. */
olmoe_status olmoe_detokenize(const olmoe_model *model, const int32_t *ids, size_t n_ids,
                              int skip_special, char **text);

/* Raw bytes one token stands for (special tokens: their text), for
 * streaming output. Bytes may be a partial UTF-8 sequence. Returns NULL and
 * *len = 0 for an id out of range. */
const char *olmoe_token_bytes(const olmoe_model *model, int32_t id, size_t *len);
int olmoe_token_is_special(const olmoe_model *model, int32_t id);

/* ----------------------------------------------------------- chat format */

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} olmoe_chat_message;

/* Renders the model's chat template (tokenizer_config.json `chat_template`)
 * like transformers' apply_chat_template(tokenize=False). */
olmoe_status olmoe_chat_apply_template(const olmoe_model *model, const olmoe_chat_message *msgs,
                                       size_t n_msgs, int add_generation_prompt, char **text);

/* --------------------------------------------------------------- context */

typedef struct olmoe_context olmoe_context;

typedef struct {
    int n_ctx;          /* KV-cache positions; <= 0: the model's max_position_embeddings */
    int n_threads;      /* <= 0: the model's setting */
    int record_routing; /* keep the experts chosen for the last batch (tests, tracing) */
} olmoe_context_params;

olmoe_context_params olmoe_context_default_params(void);
olmoe_status olmoe_context_new(const olmoe_model *model, const olmoe_context_params *params,
                               olmoe_context **out);
void olmoe_context_free(olmoe_context *ctx);

/* Runs `tokens` through the model at positions n_past .. n_past+n-1,
 * appending to the KV cache. With all_logits, logits for every token of the
 * batch are kept; otherwise only the last token's. Fails with
 * OLMOE_ERR_CONTEXT_FULL (and changes nothing) if the tokens do not fit. */
olmoe_status olmoe_decode(olmoe_context *ctx, const int32_t *tokens, size_t n_tokens,
                          int all_logits);

/* Continuous batching: decodes several sequences in one pass over the
 * weights. Sequence i appends tokens[i][0 .. n_tokens[i]) to ctxs[i] (as
 * olmoe_decode with all_logits = 0 would: afterwards olmoe_get_logits(ctxs[i],
 * -1) holds its last token's logits, bit for bit the same). All contexts
 * must be distinct and of one model; the call runs on the threads of the one
 * with the largest n_ctx. A mix of long prompts and single generated tokens
 * is fine. Fails (changing nothing) if any sequence does not fit. */
olmoe_status olmoe_decode_batch(olmoe_context *const *ctxs, const int32_t *const *tokens,
                                const size_t *n_tokens, int n_seqs);

/* Logits of token i of the last batch (i = -1: its last token), vocab_size
 * floats, or NULL if they were not kept. */
const float *olmoe_get_logits(const olmoe_context *ctx, int i);

int olmoe_context_n_past(const olmoe_context *ctx);
int olmoe_context_n_ctx(const olmoe_context *ctx);
/* Forgets cached positions >= n_past (to reuse a shared prefix or drop history). */
void olmoe_context_truncate(olmoe_context *ctx, int n_past);

/* With record_routing: the experts chosen in `layer` for token i of the last
 * batch, in descending router probability; returns how many were written
 * (top-k), or 0 if unavailable. */
int olmoe_get_routing(const olmoe_context *ctx, int layer, int i, int32_t *experts, int cap);

/* --------------------------------------------------------------- sampling */

typedef struct olmoe_sampler olmoe_sampler;

typedef struct {
    float temperature;    /* 0: greedy */
    int top_k;            /* 0: off */
    float top_p;          /* 1: off */
    float min_p;          /* 0: off */
    float repeat_penalty; /* 1: off (llama.cpp/CTRL style) */
    int repeat_last_n;    /* tokens considered by the penalty; -1: all */
    uint64_t seed;
} olmoe_sampler_params;

olmoe_sampler_params olmoe_sampler_default_params(void);
olmoe_status olmoe_sampler_new(const olmoe_sampler_params *params, olmoe_sampler **out);
void olmoe_sampler_free(olmoe_sampler *s);
/* Picks the next token from `logits` given the ids so far (for the penalty);
 * -1 if there are no logits. */
int32_t olmoe_sampler_sample(olmoe_sampler *s, const float *logits, int n_vocab,
                             const int32_t *history, size_t n_history);

/* --------------------------------------------------------- model files */

/* ------------------------------------------------------------- benchmark */

/* This machine's sustained memory read bandwidth into n_threads threads
 * (<= 0: all), in bytes/s: the best of five passes over 128 MiB, read with
 * the widest loads the CPU has. 0 if the buffer cannot be allocated. */
double olmoe_read_bandwidth(int n_threads);

/* The same, but reading the model's own weights where they lie: every
 * matrix products read (all the experts, not only the ones a token uses),
 * best of three passes. This is the rate at which these very bytes come
 * from memory, as opposed to a fresh buffer's; call olmoe_model_prepare
 * first so the pages are mapped and laid out as generation reads them. */
double olmoe_model_read_bandwidth(const olmoe_model *model, int n_threads);

typedef struct {
    const char *preset;         /* "olmoe-1b-7b", "olmo2-1b" or "olmoe-mini" */
    const char *dtype;          /* "bf16" (default), "f16", "f32" */
    uint64_t seed;
    const char *tokenizer_json; /* copied into the folder if given */
    olmoe_progress_fn progress;
    void *user;
} olmoe_random_init_params;

/* Writes a Hugging Face folder (config.json, model.safetensors, and the
 * tokenizer if given) with the exact shapes of the preset's model and
 * seeded random weights. */
olmoe_status olmoe_random_init(const olmoe_random_init_params *params, const char *out_dir);

/* Writes the model as a GGUF file llama.cpp loads (architecture olmoe or
 * olmo2, llama.cpp's metadata keys, tensor names and stacked experts) with
 * `type` one of "f32", "bf16", "q8_0", "q4_0", "q4_k_m" (llama.cpp's per-tensor
 * type choices for that file type; quantization bit-exact with ggml's). */
olmoe_status olmoe_convert(const olmoe_model *model, const char *out_path, const char *type,
                           olmoe_progress_fn progress, void *user);

/* ---- corpus indexes (infini-gram format): building (src/trace/index_build.c) ---- */

/* Builds an index of a corpus in infini-gram's v4 layout (tokenized, table,
 * offset, metadata, metaoff and unigram files per shard) plus a manifest,
 * olmoe-index.json, written last: a directory without it is an unfinished
 * build. Inputs are Dolma-style JSONL files with a "text" field (.jsonl,
 * .jsonl.gz, .jsonl.zst), folders of them (every file whose name contains
 * ".json", recursively, in path order) and plain-text files (one document
 * each). Token ids are 2 bytes if the vocabulary has at most 65535 ids,
 * else 4; the separator is the all-0xFF token. */
typedef struct {
    const char *tokenizer;     /* tokenizer.json, a model folder holding one, or a GGUF file */
    const char *out_dir;       /* created if missing */
    const char *const *inputs; /* files and folders, indexed in this order */
    int n_inputs;
    uint64_t shard_tokens;     /* most tokens per shard, separators counted (a longer document
                                  gets a shard of its own); 0: sized from available memory */
    int n_threads;             /* <= 0: all cores */
    int force;                 /* replace an index already in out_dir (else an error) */
    /* Optional, called from one thread at a time: stage("tokenize"), then
     * progress(input bytes read, total input bytes) (bytes on disk); then
     * stage("sort") and progress(tokens sorted, total tokens). */
    void (*stage)(const char *name, void *user);
    olmoe_progress_fn progress;
    void *user;
} olmoe_index_build_params;

typedef struct {
    uint64_t n_docs;
    uint64_t n_tokens;      /* separators counted, as in the manifest */
    int n_shards;
    int token_width;        /* bytes per token id: 2 or 4 */
    uint64_t input_bytes;   /* on disk, as read */
    uint64_t bytes_written; /* every file of the index */
    double seconds;
} olmoe_index_build_stats;

olmoe_index_build_params olmoe_index_build_default_params(void);
/* stats may be NULL. Errors name the input file and line at fault. */
olmoe_status olmoe_index_build(const olmoe_index_build_params *params,
                               olmoe_index_build_stats *stats);

/* ---- corpus indexes: loading and queries (src/trace/index.c, query.c) ---- */

/* An open set of infini-gram indexes (one or several directories whose
 * shards are flattened in the order given). Read-only after opening: every
 * query below may run from several threads at once. Queries take token ids;
 * an n-gram never matches across a document boundary. Counts are of
 * occurrences (suffix-array ranks); `n_tokens` includes one separator per
 * document, as infini-gram counts. */
typedef struct olmoe_index olmoe_index;

typedef struct {
    int token_width;       /* 2 or 4 bytes per token; 0: the manifest's (required without one) */
    const char *tokenizer; /* tokenizer.json or .gguf for text queries; NULL: the manifest's */
} olmoe_index_open_params;

olmoe_index_open_params olmoe_index_default_open_params(void);
olmoe_status olmoe_index_open(const char *const *dirs, int n_dirs,
                              const olmoe_index_open_params *params, olmoe_index **out);
void olmoe_index_free(olmoe_index *index);

typedef struct {
    int n_shards;
    int token_width;
    uint64_t n_tokens;      /* separators included */
    uint64_t n_docs;
    const char *tokenizer;  /* resolved path, NULL if unknown */
    int32_t eos_token_id;   /* from the manifest, -1 if unknown */
    int32_t vocab_size;     /* from the manifest, 0 if unknown */
} olmoe_index_info;

void olmoe_index_get_info(const olmoe_index *index, olmoe_index_info *info);

/* Half-open range of suffix-array ranks within one shard. */
typedef struct {
    uint64_t start, end;
} olmoe_index_range;

/* Occurrences of ids[0..n) (n = 0: every token). by_shard (n_shards
 * entries, may be NULL) receives each shard's rank range. A query holding
 * the separator id (65535 for 2-byte tokens) counts 0; ids outside the
 * token width are OLMOE_ERR_ARG. */
olmoe_status olmoe_index_find(const olmoe_index *index, const int32_t *ids, size_t n,
                              uint64_t *count, olmoe_index_range *by_shard);
olmoe_status olmoe_index_count(const olmoe_index *index, const int32_t *ids, size_t n,
                               uint64_t *count);

/* P(cont | prompt) = count(prompt + cont) / count(prompt); prob = -1 when
 * prompt_cnt is 0. suffix_len: the prompt tokens used (all of them for
 * olmoe_index_prob; the longest suffix with a non-zero count for the
 * infini-gram forms, 0 meaning the unigram estimate). */
typedef struct {
    uint64_t prompt_cnt, cont_cnt;
    double prob;
    size_t suffix_len;
} olmoe_index_prob_result;

olmoe_status olmoe_index_prob(const olmoe_index *index, const int32_t *prompt, size_t n,
                              int32_t cont, olmoe_index_prob_result *out);
olmoe_status olmoe_index_infgram_prob(const olmoe_index *index, const int32_t *prompt, size_t n,
                                      int32_t cont, olmoe_index_prob_result *out);

typedef struct {
    int32_t id;     /* the next token; a document end counts as the caller's eos id */
    uint64_t count; /* occurrences followed by it (scaled when approx) */
    double prob;    /* count / prompt_cnt */
} olmoe_index_next_token;

typedef struct {
    uint64_t prompt_cnt;
    int approx;                    /* 1 if prompt_cnt > max_support: one rank per block sampled */
    size_t suffix_len;             /* as in olmoe_index_prob_result */
    olmoe_index_next_token *tokens; /* by count descending, then id; olmoe_free() it */
    size_t n_tokens;
} olmoe_index_ntd_result;

/* Next-token distribution after prompt, as infini-gram's ntd: exact when
 * prompt_cnt <= max_support (<= 0: 1000), otherwise the smallest power of
 * two `unit` with prompt_cnt <= unit * max_support ranks are represented
 * by one. */
olmoe_status olmoe_index_ntd(const olmoe_index *index, const int32_t *prompt, size_t n,
                             int max_support, int32_t eos_id, olmoe_index_ntd_result *out);
olmoe_status olmoe_index_infgram_ntd(const olmoe_index *index, const int32_t *prompt, size_t n,
                                     int max_support, int32_t eos_id, olmoe_index_ntd_result *out);

/* OLMoTrace's building block: the length of the longest prefix of
 * ids[start..n) that occurs in the corpus (0 if not even its first token
 * does), and that prefix's count. */
olmoe_status olmoe_index_longest_prefix(const olmoe_index *index, const int32_t *ids, size_t n,
                                        size_t start, size_t *len, uint64_t *count);

/* CNF queries: an AND of clauses, each an OR of n-grams. A match is an
 * occurrence p of the rarest clause with an occurrence of every other
 * clause starting within max_diff_tokens of p in the same document.
 * A clause with more than ceil(max_clause_freq / n_shards) occurrences in
 * a shard is subsampled there (approx = 1, counts scaled). One clause:
 * the exact number of positions where any of its n-grams starts. */
typedef struct {
    const int32_t *ids;
    size_t n;
} olmoe_index_ngram;

typedef struct {
    const olmoe_index_ngram *terms;
    size_t n_terms;
} olmoe_index_clause;

typedef struct {
    uint64_t max_clause_freq; /* 0: 50000 */
    uint64_t max_diff_tokens; /* 0: 100 */
} olmoe_index_cnf_params;

typedef struct {
    int shard;
    uint64_t ptr; /* byte offset into the shard's tokenized file */
} olmoe_index_ptr;

typedef struct {
    uint64_t count;
    int approx;
    olmoe_index_ptr *ptrs; /* the matches found (the anchor clause's positions); olmoe_free() */
    size_t n_ptrs;
} olmoe_index_cnf_result;

olmoe_status olmoe_index_find_cnf(const olmoe_index *index, const olmoe_index_clause *clauses,
                                  size_t n_clauses, const olmoe_index_cnf_params *params,
                                  olmoe_index_cnf_result *out);
olmoe_status olmoe_index_count_cnf(const olmoe_index *index, const olmoe_index_clause *clauses,
                                   size_t n_clauses, const olmoe_index_cnf_params *params,
                                   uint64_t *count, int *approx);

/* A window of one document. Arrays and strings live in the same allocation
 * as the struct: one olmoe_free() releases a whole result. */
typedef struct {
    uint64_t doc_ix;        /* global: shards in order, then directories in order */
    int shard;
    uint64_t doc_len;       /* tokens, separator excluded */
    uint64_t disp_start;    /* first token shown, counted from the document start */
    size_t disp_len;
    size_t needle_offset;   /* the match's first token within token_ids */
    int32_t *token_ids;     /* disp_len ids */
    const char *metadata;   /* the document's metadata JSON line, "" without metadata files */
} olmoe_index_doc;

/* Up to maxnum documents containing ids (distinct occurrences chosen
 * uniformly with `seed`, all of them in rank order when there are at most
 * maxnum), each shown as up to max_disp_len tokens, half before the match
 * and half from it, clipped to the document. *docs is one allocation. */
olmoe_status olmoe_index_search_docs(const olmoe_index *index, const int32_t *ids, size_t n,
                                     size_t maxnum, size_t max_disp_len, uint64_t seed,
                                     olmoe_index_doc **docs, size_t *n_docs);
olmoe_status olmoe_index_get_doc_by_rank(const olmoe_index *index, int shard, uint64_t rank,
                                         size_t max_disp_len, olmoe_index_doc **doc);
olmoe_status olmoe_index_get_doc_by_ptr(const olmoe_index *index, int shard, uint64_t ptr,
                                        size_t max_disp_len, olmoe_index_doc **doc);
/* The first max_disp_len tokens of document doc_ix. */
olmoe_status olmoe_index_get_doc_by_ix(const olmoe_index *index, uint64_t doc_ix,
                                       size_t max_disp_len, olmoe_index_doc **doc);
/* The pointer (byte offset into the shard's tokenized file) at a rank. */
olmoe_status olmoe_index_rank_ptr(const olmoe_index *index, int shard, uint64_t rank,
                                  uint64_t *ptr);
/* A match of needle_len tokens at ptr with up to ctx_len tokens on each
 * side (infini-gram's get_doc_by_ptr_2, for OLMoTrace). */
olmoe_status olmoe_index_get_doc_context(const olmoe_index *index, int shard, uint64_t ptr,
                                         size_t needle_len, size_t ctx_len,
                                         olmoe_index_doc **doc);

/* Occurrences of one token id (separators excluded): from the unigram
 * files, or one scan of the corpus on the first call. */
olmoe_status olmoe_index_unigram_count(const olmoe_index *index, int32_t id, uint64_t *count);

/* Text <-> ids with the index's tokenizer (loaded on first use). */
olmoe_status olmoe_index_tokenize(const olmoe_index *index, const char *text, size_t len,
                                  int32_t **ids, size_t *n_ids);
olmoe_status olmoe_index_detokenize(const olmoe_index *index, const int32_t *ids, size_t n_ids,
                                    char **text);
/* The raw bytes one token stands for (e.g. to find word starts). */
olmoe_status olmoe_index_token_bytes(const olmoe_index *index, int32_t id, const char **bytes,
                                     size_t *len);

/* ---- tracing answers to the corpus (src/trace/olmotrace.c) and contamination (decon.c) ---- */

/* OLMoTrace: the longest spans of a text (e.g. a model's answer) that occur
 * verbatim in the corpus, and documents holding them, ranked by relevance.
 *  1. The text is tokenized with the index's tokenizer. At every word start
 *     (position 0 and tokens whose bytes begin with a space or newline) the
 *     longest match in the corpus is found; it is cut after its first "."
 *     or "\n" token that is not its last, then shortened to end at a word
 *     boundary. Spans shorter than min_len or seen more than max_count
 *     times are dropped, then every span not reaching past the end of an
 *     earlier one.
 *  2. Of those, the ceil(span_density x tokens) spans with the lowest sum of
 *     unigram log-probabilities (rarest first) are kept.
 *  3. Each span's occurrences give up to max_docs_per_span documents (a
 *     sample drawn with `seed` when there are more), each a window of
 *     context_tokens on either side; documents are ranked by BM25 Okapi of
 *     that window against (prompt + " " + text), and relevance =
 *     clamp(bm25 / (0.18 x query words), 0, 1) as the OLMo playground shows.
 *  4. Overlapping spans are merged (sorted by start, then length; a span
 *     starting before the current one ends joins it). A merged span keeps
 *     the count of its longest member and the union of the documents.
 * Offsets are into the traced text: the caller's text, or its NFC form when
 * the tokenizer (which normalizes to NFC) does not reproduce the text's
 * bytes otherwise (result->normalized = 1). Already-NFC text, the usual
 * case, is traced as given. */
typedef struct {
    const char *prompt;       /* joined to the text for BM25 (NULL: the text alone) */
    size_t max_docs_per_span; /* 10 */
    size_t context_tokens;    /* 250: document tokens each side of a span, for BM25 */
    size_t snippet_tokens;    /* 40: the same in the snippet (at most context_tokens) */
    double span_density;      /* 0.05 */
    uint64_t max_count;       /* 1000000 */
    size_t min_len;           /* 1: shortest span, in tokens */
    uint64_t seed;            /* 42: sampling of documents for frequent spans */
    int n_threads;            /* <= 0: all cores */
} olmoe_trace_params;

typedef struct {
    size_t start, end;           /* Unicode code points into the traced text, end exclusive */
    size_t byte_start, byte_end; /* the same in bytes */
    size_t token_start, token_end; /* tokens of the traced text */
    const char *text;            /* the span's text */
    uint64_t count;              /* occurrences in the corpus (merged: of the longest member) */
    const size_t *docs;          /* indexes into olmoe_trace_result.docs, most relevant first */
    size_t n_docs;
} olmoe_trace_span;

typedef struct {
    uint64_t doc_ix;         /* the corpus document (as olmoe_index_doc.doc_ix) */
    const char *metadata;    /* its metadata JSON line, "" without metadata files */
    const char *snippet;     /* snippet_tokens tokens either side of the span, decoded */
    size_t snippet_span_start, snippet_span_end; /* bytes of the span within the snippet */
    double bm25, relevance;  /* of the best-scoring window when found for several spans */
} olmoe_trace_doc;

typedef struct {
    const char *text;        /* the text traced (see `normalized`) */
    size_t text_len;
    int normalized;          /* 1: text is the NFC form of the caller's text */
    size_t n_tokens;
    olmoe_trace_span *spans; /* merged, by start */
    size_t n_spans;
    olmoe_trace_doc *docs;   /* one per corpus document, by relevance descending */
    size_t n_docs;
} olmoe_trace_result;

olmoe_trace_params olmoe_trace_default_params(void);
/* *out is one allocation: release it with olmoe_free(). params may be NULL.
 * Fails (OLMOE_ERR_ARG) on text that is not valid UTF-8. */
olmoe_status olmoe_trace(const olmoe_index *index, const char *text, size_t len,
                         const olmoe_trace_params *params, olmoe_trace_result **out);
/* {"spans": [{"start", "end", "text", "count", "docs": [doc_ix...]}],
 *  "documents": [{"index": doc_ix, "snippet", "metadata": {...}, "relevance", "bm25",
 *                 "snippet_span": [start, end] (code points)}]}
 * with metadata the parsed metadata line ({} without one). *json is
 * NUL-terminated; olmoe_free() it. */
olmoe_status olmoe_trace_to_json(const olmoe_trace_result *result, char **json);

/* Contamination of evaluation items: the share of an item's tokens covered
 * by n-grams that occur in the corpus (the union of every occurring n-gram
 * of the item). An item shorter than n tokens counts as covered only if
 * the whole item occurs. An empty item has coverage 0. */
typedef struct {
    int n;              /* 13 */
    double threshold;   /* 0.8: contaminated when coverage >= threshold */
    int n_threads;      /* <= 0: all cores */
    olmoe_progress_fn progress; /* optional: items done, items (one thread at a time) */
    void *user;
} olmoe_decon_params;

typedef struct {
    size_t n_tokens, n_covered;
    double coverage;    /* n_covered / n_tokens */
    int contaminated;
} olmoe_decon_result;

olmoe_decon_params olmoe_decon_default_params(void);
/* results[i] for texts[i] (lens NULL: NUL-terminated texts). */
olmoe_status olmoe_decon(const olmoe_index *index, const char *const *texts, const size_t *lens,
                         size_t n_items, const olmoe_decon_params *params,
                         olmoe_decon_result *results);

typedef struct {
    const char *id;     /* the item's "id" (string or number as text), else its line number */
    int id_is_string;   /* 1 if "id" was a JSON string */
    uint64_t line;      /* 0-based line of the file */
    const char *text;   /* the fields checked, joined with "\n" */
    olmoe_decon_result result;
} olmoe_decon_item;

typedef struct {
    olmoe_decon_item *items;
    size_t n_items, n_contaminated;
} olmoe_decon_report;

/* Checks every line of a JSONL file (.jsonl, .jsonl.gz, .jsonl.zst; blank
 * lines are skipped).
 * `fields`: comma-separated dotted paths into each object ("doc.query,
 * doc.choices"; a number steps into an array: "doc.choices.0"); strings are
 * used as they are, arrays joined with "\n", numbers and booleans as JSON
 * prints them, and the fields of an item are joined with "\n". A path that
 * no item of a non-empty file has is an error. NULL: per item, "text" if
 * present, else doc.query and doc.choices (OLMES request files) if
 * doc.query is present, else whichever of question, choices, answer it
 * has. *out is one allocation: olmoe_free() it. Errors name the file and
 * line (bad JSON) or the path. */
olmoe_status olmoe_decon_file(const olmoe_index *index, const char *path, const char *fields,
                              const olmoe_decon_params *params, olmoe_decon_report **out);

#ifdef __cplusplus
}
#endif
#endif
