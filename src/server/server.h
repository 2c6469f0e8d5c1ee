/* olmoe serve: an OpenAI-compatible HTTP server (llama.cpp's conventions)
 * on libmicrohttpd. The pieces:
 *   server.c  the daemon, routing, auth, limits and error replies
 *   api.c     request parsing and response JSON (OpenAI's shapes)
 *   slots.c   the scheduler: slots, the waiting queue, prompt prefix reuse
 *   metrics.c counters for GET /metrics (Prometheus text)
 * It uses only the public API (olmoe.h). */
#ifndef OLMOE_SERVER_H
#define OLMOE_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "olmoe.h"

/* ------------------------------------------------------------- jobs */

/* One generation request, shared by the HTTP thread that waits for it and
 * the scheduler that decodes it. Inputs are fixed before submission; the
 * outputs are read and written under the scheduler's lock. */
typedef struct job {
    /* inputs */
    int32_t *prompt;
    size_t n_prompt;
    olmoe_sampler_params sampling;
    int max_tokens;       /* generated tokens at most */
    char **stops;         /* stop strings: generation ends before them */
    int n_stops;
    /* outputs */
    char *text;           /* generated text, special tokens skipped */
    size_t len, cap;
    size_t safe_len;      /* bytes of text no stop string can still cut */
    int n_generated;      /* completion tokens (the end-of-sequence token not counted) */
    int prompt_n;         /* prompt tokens decoded (the rest came from the slot's cache) */
    double prompt_ms, predicted_ms;
    const char *finish_reason; /* "stop" or "length" once done; NULL while running */
    char *error;          /* set when decoding failed or the server stops */
    /* bookkeeping */
    int cancelled;        /* the client is gone: free the slot */
    int refs;             /* the client and, while queued or running, the scheduler */
    struct job *next;     /* in the queue */
} job;

job *job_new(void);

/* ------------------------------------------------------------ slots */

/* One sequence the scheduler decodes: its own KV cache, the ids in it
 * (kept after a request ends, for prefix reuse) and its current job. */
typedef struct {
    olmoe_context *ctx;
    int32_t *ids;
    size_t n_ids, cap;
    job *job;
    olmoe_sampler *sampler;
    size_t fed;           /* prompt tokens of the job in the cache */
    int32_t next;         /* the token sampled last, decoded next step */
    int has_next;         /* the prompt is read: the slot is generating */
} slot;

/* What one scheduler step decodes: per sequence, its slot, context and
 * the tokens it feeds (arrays of n_slots). */
typedef struct {
    slot **slots;
    olmoe_context **ctxs;
    const int32_t **tokens;
    size_t *n;
} step_batch;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* the scheduler: a job arrived, was cancelled, or stop */
    pthread_cond_t progress; /* the HTTP threads: text appended or a job finished */
    const olmoe_model *model;
    slot *slots;
    int n_slots, n_ctx;
    step_batch batch;
    job *queue_head, *queue_tail;
    int queue_len, queue_max;
    int stop;
    int started;
    pthread_t thread;
} scheduler;

olmoe_status sched_start(scheduler *sc, const olmoe_model *m, int n_slots, int n_ctx, int threads,
                         int queue_max);
/* Queues a job (taking a reference); -1 if the queue is full. */
int sched_submit(scheduler *sc, job *j);
/* Waits up to timeout_ms for the job's text to grow past `seen` bytes or
 * for it to finish. Call with sc->lock held. */
void sched_wait(scheduler *sc, job *j, size_t seen, int timeout_ms);
/* The client drops its reference; an unfinished job is cancelled. */
void sched_release(scheduler *sc, job *j);
void sched_counts(scheduler *sc, int *busy, int *queued);
/* Finishes every job, stops the thread and frees the slots. */
void sched_stop(scheduler *sc);

/* ---------------------------------------------------------- metrics */

typedef struct {
    char endpoint[40];
    int status;
    uint64_t count;
} request_count;

#define METRICS_MAX_ROWS 64
#define METRICS_TPS_WINDOW 8

typedef struct {
    pthread_mutex_t lock;
    request_count rows[METRICS_MAX_ROWS];
    int n_rows;
    uint64_t prompt_tokens, generated_tokens;
    double tps[METRICS_TPS_WINDOW]; /* generation speed of the last requests */
    int n_tps, tps_next;
} metrics;

void metrics_init(metrics *mt);
void metrics_free(metrics *mt);
void metrics_request(metrics *mt, const char *endpoint, int status);
void metrics_tokens(metrics *mt, int prompt, int generated, double tokens_per_second);
/* Prometheus text exposition; malloc'ed. */
char *metrics_render(metrics *mt, int busy, int queued, int n_slots);

/* ----------------------------------------------------------- server */

typedef struct {
    /* options */
    const char *model_path;
    char model_id[256];       /* the model path's basename */
    const char *const *index_dirs;
    int n_index;
    const char *host;
    int port;
    int n_slots, n_ctx, threads;
    int queue_max;            /* requests waiting for a slot at most */
    const char *api_key, *cors;
    /* state */
    olmoe_model *model;       /* NULL until loaded in the background */
    olmoe_index *index;
    int ready;                /* under ready_lock: 1 once the model and slots are up */
    pthread_mutex_t ready_lock;
    pthread_mutex_t tok_lock; /* tokenizer calls from HTTP threads, one at a time */
    int n_ctx_slot;           /* context per slot */
    scheduler sched;
    metrics metrics;
    uint64_t next_id;         /* completion ids */
} server;

int server_is_ready(server *s);

/* ------------------------------------------------------------- api */

typedef struct {
    int status;               /* HTTP status */
    char message[512];
    const char *type;         /* "invalid_request_error", ... */
    const char *param;        /* the field at fault, or NULL */
} api_error;

/* A parsed /v1/chat/completions or /v1/completions request. */
typedef struct {
    int chat;
    int stream, include_usage;
    job *job;
    char id[48];
    long long created;
} gen_request;

/* Parses and tokenizes a generation request into a new job; on failure
 * fills err and returns -1. */
int api_parse_generation(server *s, const char *body, int chat, gen_request *out, api_error *err);
char *api_error_json(const api_error *err);
char *api_generation_json(server *s, const gen_request *r, const job *j);
/* One SSE event "data: {...}\n\n": a delta (text may be NULL), with
 * finish_reason when given; role chunk when first. */
char *api_stream_chunk(server *s, const gen_request *r, const char *text, size_t len,
                       const char *finish_reason, int first);
char *api_stream_usage(server *s, const gen_request *r, const job *j);
char *api_models_json(server *s);
int api_tokenize(server *s, const char *body, char **out, api_error *err);
int api_detokenize(server *s, const char *body, char **out, api_error *err);
int api_trace(server *s, const char *body, char **out, api_error *err);
void api_set_error(api_error *err, int status, const char *param, const char *fmt, ...);

/* Runs the server until SIGTERM or SIGINT; returns the exit status. */
int server_run(server *s);

extern const unsigned char web_index_html[];
extern const size_t web_index_html_len;

#endif
