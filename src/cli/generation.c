#include "cli/generation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/common.h"

const char *const GEN_FLAGS = "--ignore-eos";

void gen_opts_init(gen_opts *g) {
    memset(g, 0, sizeof *g);
    g->sampling = olmoe_sampler_default_params();
    g->n_predict = 128;
}

void gen_usage(void) {
    printf("sampling:\n"
           "  -n, --n-predict N     tokens to generate (default 128; -1 = until EOS / context full)\n"
           "  --temp T              temperature (default 0.8; 0 = greedy)\n"
           "  --top-k K             keep the K most likely tokens (default 40; 0 = off)\n"
           "  --top-p P             nucleus sampling mass (default 0.95; 1 = off)\n"
           "  --min-p P             drop tokens below P x the top probability (default 0.05)\n"
           "  --repeat-penalty R    penalty for repeated tokens (default 1.0 = off)\n"
           "  --repeat-last-n N     tokens the penalty looks back at (default 64; -1 = all)\n"
           "  --seed S              random seed (default: from the clock)\n"
           "  --ignore-eos          keep generating past the end-of-sequence token\n");
}

int gen_opt(gen_opts *g, const char *cmd, const char *name, const char *value) {
    long v;
    double d;
    olmoe_sampler_params *s = &g->sampling;
    if (!strcmp(name, "--ignore-eos")) g->ignore_eos = 1;
    else if (!strcmp(name, "-n") || !strcmp(name, "--n-predict")) {
        if (parse_int(cmd, name, value, -1, 1 << 24, &v)) return -1;
        g->n_predict = (int)v;
    } else if (!strcmp(name, "--temp")) {
        if (parse_float(cmd, name, value, 0, 100, &d)) return -1;
        s->temperature = (float)d;
    } else if (!strcmp(name, "--top-k")) {
        if (parse_int(cmd, name, value, 0, 1 << 24, &v)) return -1;
        s->top_k = (int)v;
    } else if (!strcmp(name, "--top-p")) {
        if (parse_float(cmd, name, value, 1e-9, 1, &d)) return -1;
        s->top_p = (float)d;
    } else if (!strcmp(name, "--min-p")) {
        if (parse_float(cmd, name, value, 0, 1, &d)) return -1;
        s->min_p = (float)d;
    } else if (!strcmp(name, "--repeat-penalty")) {
        if (parse_float(cmd, name, value, 1e-6, 100, &d)) return -1;
        s->repeat_penalty = (float)d;
    } else if (!strcmp(name, "--repeat-last-n")) {
        if (parse_int(cmd, name, value, -1, 1 << 24, &v)) return -1;
        s->repeat_last_n = (int)v;
    } else if (!strcmp(name, "--seed")) {
        char *end;
        unsigned long long seed = strtoull(value, &end, 10);
        if (*end || end == value) {
            fprintf(stderr, "olmoe %s: --seed expects a non-negative integer, got '%s'\n", cmd, value);
            return -1;
        }
        s->seed = seed;
        g->seed_given = 1;
    } else return 0;
    return 1;
}

static olmoe_status append(int32_t **seq, size_t *n, int32_t id) {
    int32_t *grown = realloc(*seq, (*n + 1) * sizeof **seq);
    if (!grown) return OLMOE_ERR_NOMEM;
    grown[(*n)++] = id;
    *seq = grown;
    return OLMOE_OK;
}

olmoe_status generate(olmoe_context *ctx, const olmoe_model *m, olmoe_sampler *s, int32_t **seq,
                      size_t *n_seq, size_t n_cached, const gen_opts *g, token_fn on_token,
                      void *user, gen_stats *stats) {
    memset(stats, 0, sizeof *stats);
    stats->n_prompt = (int)(*n_seq - n_cached);
    double t0 = now_seconds();
    olmoe_status st = olmoe_decode(ctx, *seq + n_cached, *n_seq - n_cached, 0);
    if (st) return st;
    double t1 = now_seconds();
    stats->prompt_seconds = t1 - t0;
    const int V = olmoe_vocab_size(m);
    for (int i = 0; g->n_predict < 0 || i < g->n_predict; i++) {
        int32_t id = olmoe_sampler_sample(s, olmoe_get_logits(ctx, -1), V, *seq, *n_seq);
        /* The end-of-sequence token is kept in the output, as transformers'
         * generate() does; the text decoder drops it as a special token. */
        if ((st = append(seq, n_seq, id))) break;
        stats->n_generated++;
        if (on_token) on_token(id, user);
        if (olmoe_token_is_eos(m, id) && !g->ignore_eos) {
            stats->stopped_at_eos = 1;
            break;
        }
        if (g->n_predict >= 0 && i + 1 == g->n_predict) break; /* no need to decode the last */
        if (olmoe_context_n_past(ctx) >= olmoe_context_n_ctx(ctx)) {
            stats->context_full = 1;
            break;
        }
        if ((st = olmoe_decode(ctx, &id, 1, 0))) break;
    }
    stats->gen_seconds = now_seconds() - t1;
    return st;
}
