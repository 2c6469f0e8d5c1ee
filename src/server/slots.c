/* The scheduler: one thread owns every olmoe_context and does all the
 * decoding. Each step it admits queued jobs to free slots, then advances
 * every busy slot in one olmoe_decode_batch call (continuous batching):
 * each generating slot feeds the token it sampled last, and slots still
 * reading their prompt feed the next piece of it, up to STEP_TOKENS tokens
 * in all, so a long prompt never stalls the other streams for long. The
 * weights are read once per step for all slots.
 *
 * Prefix reuse: a slot keeps the ids in its KV cache after a job ends. A
 * new job goes to the free slot sharing the longest prefix with its prompt,
 * which keeps that prefix (olmoe_context_truncate) and decodes the rest. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "util/clock.h"

static double now_ms(void) { return monotonic_seconds() * 1e3; }

job *job_new(void) {
    job *j = calloc(1, sizeof *j);
    if (j) j->refs = 1;
    return j;
}

static void job_free(job *j) {
    free(j->prompt);
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    free(j->stops);
    free(j->text);
    free(j->error);
    free(j);
}

/* Drops one reference; call with the lock held. */
static void job_unref(job *j) {
    if (--j->refs == 0) job_free(j);
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

static int append_ids(slot *sl, const int32_t *ids, size_t n) {
    if (sl->n_ids + n > sl->cap) {
        size_t cap = (sl->n_ids + n) * 2;
        int32_t *g = realloc(sl->ids, cap * sizeof *g);
        if (!g) return -1;
        sl->ids = g;
        sl->cap = cap;
    }
    memcpy(sl->ids + sl->n_ids, ids, n * sizeof *ids);
    sl->n_ids += n;
    return 0;
}

static int append_text(job *j, const char *s, size_t n) {
    if (j->len + n + 1 > j->cap) {
        size_t cap = (j->len + n + 1) * 2;
        char *g = realloc(j->text, cap);
        if (!g) return -1;
        j->text = g;
        j->cap = cap;
    }
    memcpy(j->text + j->len, s, n);
    j->len += n;
    j->text[j->len] = 0;
    return 0;
}

/* Ends the slot's job; call with the lock held. */
static void finish(scheduler *sc, slot *sl, const char *reason, const char *error) {
    job *j = sl->job;
    if (error && !j->error) j->error = strdup(error);
    j->finish_reason = reason;
    j->safe_len = j->len;
    sl->job = NULL;
    olmoe_sampler_free(sl->sampler);
    sl->sampler = NULL;
    job_unref(j);
    pthread_cond_broadcast(&sc->progress);
}

/* Cuts the text at the first stop string; returns 1 if one matched. Text
 * that a stop string could still cut is held back from streaming. */
static int check_stops(job *j, size_t old_len) {
    size_t longest = 0;
    for (int i = 0; i < j->n_stops; i++) {
        size_t n = strlen(j->stops[i]);
        if (n > longest) longest = n;
        size_t from = old_len >= n ? old_len - n + 1 : 0;
        char *hit = strstr(j->text + from, j->stops[i]);
        if (hit) {
            j->len = (size_t)(hit - j->text);
            j->text[j->len] = 0;
            return 1;
        }
    }
    j->safe_len = j->len >= longest ? j->len - (longest ? longest - 1 : 0) : 0;
    return 0;
}

/* Tokens one step decodes at most: the generating slots' one each, then
 * pieces of prompts. */
enum { STEP_TOKENS = 256 };

/* A newly admitted job keeps the cached prefix it shares with the slot;
 * at least one prompt token is decoded, since its logits are needed. */
static void start_job(slot *sl, job *j) {
    size_t keep = common_prefix(sl->ids, sl->n_ids, j->prompt, j->n_prompt);
    if (keep == j->n_prompt) keep--;
    olmoe_context_truncate(sl->ctx, (int)keep);
    sl->n_ids = keep;
    sl->fed = keep;
    sl->has_next = 0;
    sl->job = j;
    j->prompt_n = (int)(j->n_prompt - keep);
}

/* Picks what each busy slot feeds this step. Call with the lock held;
 * returns the number of sequences in the batch. */
static int plan_step(scheduler *sc) {
    step_batch *b = &sc->batch;
    int n = 0, budget = STEP_TOKENS;
    for (int i = 0; i < sc->n_slots; i++) {
        slot *sl = &sc->slots[i];
        if (!sl->job || sl->job->cancelled || !sl->has_next) continue;
        b->slots[n] = sl;
        b->tokens[n] = &sl->next;
        b->n[n++] = 1;
        budget--;
    }
    for (int i = 0; i < sc->n_slots && budget > 0; i++) {
        slot *sl = &sc->slots[i];
        if (!sl->job || sl->job->cancelled || sl->has_next) continue;
        size_t left = sl->job->n_prompt - sl->fed;
        b->slots[n] = sl;
        b->tokens[n] = sl->job->prompt + sl->fed;
        b->n[n] = left < (size_t)budget ? left : (size_t)budget;
        budget -= (int)b->n[n++];
    }
    for (int i = 0; i < n; i++) b->ctxs[i] = b->slots[i]->ctx;
    return n;
}

/* After the slot's tokens went through: sample the next token if its
 * prompt is complete, append its text, and end the job when a stop string,
 * the end-of-sequence token or a limit is reached. The lock is not held. */
static void after_step(scheduler *sc, slot *sl, double step_ms) {
    job *j = sl->job;
    pthread_mutex_lock(&sc->lock);
    if (sl->has_next) j->predicted_ms += step_ms;
    else j->prompt_ms += step_ms;
    pthread_mutex_unlock(&sc->lock);
    if (sl->fed < j->n_prompt) return; /* more prompt to read */
    double t0 = now_ms();
    int32_t id = olmoe_sampler_sample(sl->sampler, olmoe_get_logits(sl->ctx, -1),
                                      olmoe_vocab_size(sc->model), sl->ids, sl->n_ids);
    size_t nbytes = 0;
    const char *bytes = NULL;
    int eos = olmoe_token_is_eos(sc->model, id);
    if (!eos && !olmoe_token_is_special(sc->model, id)) bytes = olmoe_token_bytes(sc->model, id, &nbytes);

    pthread_mutex_lock(&sc->lock);
    const char *reason = NULL;
    if (eos) {
        reason = "stop";
    } else {
        size_t old_len = j->len;
        j->n_generated++;
        if (bytes && append_text(j, bytes, nbytes)) reason = "stop";
        else if (check_stops(j, old_len)) reason = "stop";
        else if (j->n_generated >= j->max_tokens) reason = "length";
        else if (olmoe_context_n_past(sl->ctx) >= sc->n_ctx) reason = "length";
    }
    j->predicted_ms += now_ms() - t0;
    if (reason) {
        finish(sc, sl, reason, NULL);
    } else {
        sl->next = id;
        sl->has_next = 1;
        pthread_cond_broadcast(&sc->progress);
    }
    pthread_mutex_unlock(&sc->lock);
}

/* One step of every busy slot: one batched decode, then sampling. Called
 * and returns with the lock held; decoding runs without it. */
static void step(scheduler *sc) {
    step_batch *b = &sc->batch;
    int n = plan_step(sc);
    if (!n) return;
    pthread_mutex_unlock(&sc->lock);
    double t0 = now_ms();
    olmoe_status st = olmoe_decode_batch(b->ctxs, b->tokens, b->n, n);
    double ms = now_ms() - t0;
    for (int i = 0; i < n && !st; i++) {
        slot *sl = b->slots[i];
        if (append_ids(sl, b->tokens[i], b->n[i])) st = OLMOE_ERR_NOMEM;
        if (!sl->has_next) sl->fed += b->n[i];
    }
    if (st) { /* nothing sensible to continue from: end these jobs, drop the caches */
        const char *why = olmoe_last_error();
        pthread_mutex_lock(&sc->lock);
        for (int i = 0; i < n; i++) {
            olmoe_context_truncate(b->slots[i]->ctx, 0);
            b->slots[i]->n_ids = 0;
            finish(sc, b->slots[i], "stop", st == OLMOE_ERR_NOMEM ? "out of memory" : why);
        }
        return;
    }
    for (int i = 0; i < n; i++) after_step(sc, b->slots[i], ms);
    pthread_mutex_lock(&sc->lock);
}

/* Moves queued jobs to free slots, each to the free slot with the longest
 * cached prefix of its prompt. Call with the lock held. */
static void admit(scheduler *sc) {
    while (sc->queue_head) {
        job *j = sc->queue_head;
        if (j->cancelled) { /* gone while waiting */
            sc->queue_head = j->next;
            sc->queue_len--;
            job_unref(j);
            continue;
        }
        slot *best = NULL;
        size_t best_len = 0;
        for (int i = 0; i < sc->n_slots; i++) {
            slot *sl = &sc->slots[i];
            if (sl->job) continue;
            size_t n = common_prefix(sl->ids, sl->n_ids, j->prompt, j->n_prompt);
            if (!best || n > best_len) { best = sl; best_len = n; }
        }
        if (!best) break;
        if (olmoe_sampler_new(&j->sampling, &best->sampler)) break; /* retried next step */
        sc->queue_head = j->next;
        sc->queue_len--;
        j->next = NULL;
        start_job(best, j);
    }
    if (!sc->queue_head) sc->queue_tail = NULL;
}

static void *sched_main(void *arg) {
    scheduler *sc = arg;
    pthread_mutex_lock(&sc->lock);
    while (!sc->stop) {
        for (int i = 0; i < sc->n_slots; i++) /* clients gone: free their slots */
            if (sc->slots[i].job && sc->slots[i].job->cancelled) finish(sc, &sc->slots[i], "stop", NULL);
        admit(sc);
        int busy = 0;
        for (int i = 0; i < sc->n_slots; i++) busy += sc->slots[i].job != NULL;
        if (!busy) {
            pthread_cond_wait(&sc->wake, &sc->lock);
            continue;
        }
        step(sc);
    }
    /* Stopping: every job still running or waiting ends with an error. */
    for (int i = 0; i < sc->n_slots; i++)
        if (sc->slots[i].job) finish(sc, &sc->slots[i], "stop", "the server is shutting down");
    while (sc->queue_head) {
        job *j = sc->queue_head;
        sc->queue_head = j->next;
        if (!j->error) j->error = strdup("the server is shutting down");
        j->finish_reason = "stop";
        job_unref(j);
    }
    sc->queue_tail = NULL;
    sc->queue_len = 0;
    pthread_cond_broadcast(&sc->progress);
    pthread_mutex_unlock(&sc->lock);
    return NULL;
}

olmoe_status sched_start(scheduler *sc, const olmoe_model *m, int n_slots, int n_ctx, int threads,
                         int queue_max) {
    sc->model = m;
    sc->n_slots = n_slots;
    sc->queue_max = queue_max;
    sc->slots = calloc((size_t)n_slots, sizeof *sc->slots);
    step_batch *b = &sc->batch;
    b->slots = calloc((size_t)n_slots, sizeof *b->slots);
    b->ctxs = calloc((size_t)n_slots, sizeof *b->ctxs);
    b->tokens = calloc((size_t)n_slots, sizeof *b->tokens);
    b->n = calloc((size_t)n_slots, sizeof *b->n);
    if (!sc->slots || !b->slots || !b->ctxs || !b->tokens || !b->n) return OLMOE_ERR_NOMEM;
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = threads;
    for (int i = 0; i < n_slots; i++) {
        olmoe_status st = olmoe_context_new(m, &cp, &sc->slots[i].ctx);
        if (st) return st;
    }
    sc->n_ctx = olmoe_context_n_ctx(sc->slots[0].ctx);
    if (pthread_create(&sc->thread, NULL, sched_main, sc)) return OLMOE_ERR_NOMEM;
    sc->started = 1;
    return OLMOE_OK;
}

int sched_submit(scheduler *sc, job *j) {
    pthread_mutex_lock(&sc->lock);
    int ok = !sc->stop && sc->queue_len < sc->queue_max;
    if (ok) {
        j->refs++;
        j->next = NULL;
        if (sc->queue_tail) sc->queue_tail->next = j;
        else sc->queue_head = j;
        sc->queue_tail = j;
        sc->queue_len++;
        pthread_cond_signal(&sc->wake);
    }
    pthread_mutex_unlock(&sc->lock);
    return ok ? 0 : -1;
}

void sched_wait(scheduler *sc, job *j, size_t seen, int timeout_ms) {
    if (j->finish_reason || j->safe_len > seen) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)timeout_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&sc->progress, &sc->lock, &ts);
}

void sched_release(scheduler *sc, job *j) {
    pthread_mutex_lock(&sc->lock);
    if (!j->finish_reason) {
        j->cancelled = 1;
        pthread_cond_signal(&sc->wake);
    }
    job_unref(j);
    pthread_mutex_unlock(&sc->lock);
}

void sched_counts(scheduler *sc, int *busy, int *queued) {
    pthread_mutex_lock(&sc->lock);
    *busy = 0;
    for (int i = 0; i < sc->n_slots; i++) *busy += sc->slots[i].job != NULL;
    *queued = sc->queue_len;
    pthread_mutex_unlock(&sc->lock);
}

void sched_stop(scheduler *sc) {
    pthread_mutex_lock(&sc->lock);
    sc->stop = 1;
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->lock);
    if (sc->started) pthread_join(sc->thread, NULL);
    sc->started = 0;
    for (int i = 0; sc->slots && i < sc->n_slots; i++) {
        olmoe_context_free(sc->slots[i].ctx);
        olmoe_sampler_free(sc->slots[i].sampler);
        free(sc->slots[i].ids);
    }
    free(sc->slots);
    sc->slots = NULL;
    free(sc->batch.slots);
    free(sc->batch.ctxs);
    free(sc->batch.tokens);
    free(sc->batch.n);
    memset(&sc->batch, 0, sizeof sc->batch);
    sc->n_slots = 0;
}
