/* Counters for GET /metrics, in Prometheus' text format: requests by
 * endpoint and status, token totals, recent generation speed, and the
 * scheduler's load (busy slots, queue depth). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

void metrics_init(metrics *mt) {
    memset(mt, 0, sizeof *mt);
    pthread_mutex_init(&mt->lock, NULL);
}

void metrics_free(metrics *mt) { pthread_mutex_destroy(&mt->lock); }

void metrics_request(metrics *mt, const char *endpoint, int status) {
    pthread_mutex_lock(&mt->lock);
    int i = 0;
    while (i < mt->n_rows && (mt->rows[i].status != status || strcmp(mt->rows[i].endpoint, endpoint)))
        i++;
    if (i == mt->n_rows && i < METRICS_MAX_ROWS) { /* a new (endpoint, status) pair */
        snprintf(mt->rows[i].endpoint, sizeof mt->rows[i].endpoint, "%s", endpoint);
        mt->rows[i].status = status;
        mt->rows[i].count = 0;
        mt->n_rows++;
    }
    if (i < mt->n_rows) mt->rows[i].count++;
    pthread_mutex_unlock(&mt->lock);
}

void metrics_tokens(metrics *mt, int prompt, int generated, double tokens_per_second) {
    pthread_mutex_lock(&mt->lock);
    mt->prompt_tokens += (uint64_t)prompt;
    mt->generated_tokens += (uint64_t)generated;
    if (generated > 0) {
        mt->tps[mt->tps_next] = tokens_per_second;
        mt->tps_next = (mt->tps_next + 1) % METRICS_TPS_WINDOW;
        if (mt->n_tps < METRICS_TPS_WINDOW) mt->n_tps++;
    }
    pthread_mutex_unlock(&mt->lock);
}

char *metrics_render(metrics *mt, int busy, int queued, int n_slots) {
    size_t cap = 4096 + METRICS_MAX_ROWS * 128;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t n = 0;
#define EMIT(...) n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__)
    pthread_mutex_lock(&mt->lock);
    EMIT("# HELP olmoe_requests_total HTTP requests by endpoint and status.\n"
         "# TYPE olmoe_requests_total counter\n");
    for (int i = 0; i < mt->n_rows; i++)
        EMIT("olmoe_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", mt->rows[i].endpoint,
             mt->rows[i].status, (unsigned long long)mt->rows[i].count);
    double tps = 0;
    for (int i = 0; i < mt->n_tps; i++) tps += mt->tps[i] / mt->n_tps;
    EMIT("# HELP olmoe_prompt_tokens_total Prompt tokens of finished requests.\n"
         "# TYPE olmoe_prompt_tokens_total counter\nolmoe_prompt_tokens_total %llu\n"
         "# HELP olmoe_generated_tokens_total Tokens generated.\n"
         "# TYPE olmoe_generated_tokens_total counter\nolmoe_generated_tokens_total %llu\n"
         "# HELP olmoe_tokens_per_second Generation speed, mean of the last %d requests.\n"
         "# TYPE olmoe_tokens_per_second gauge\nolmoe_tokens_per_second %.3f\n",
         (unsigned long long)mt->prompt_tokens, (unsigned long long)mt->generated_tokens,
         METRICS_TPS_WINDOW, tps);
    pthread_mutex_unlock(&mt->lock);
    EMIT("# HELP olmoe_queue_depth Requests waiting for a slot.\n"
         "# TYPE olmoe_queue_depth gauge\nolmoe_queue_depth %d\n"
         "# HELP olmoe_slots_busy Slots decoding a request.\n"
         "# TYPE olmoe_slots_busy gauge\nolmoe_slots_busy %d\n"
         "# HELP olmoe_slots_total Slots.\n"
         "# TYPE olmoe_slots_total gauge\nolmoe_slots_total %d\n",
         queued, busy, n_slots);
#undef EMIT
    return out;
}
