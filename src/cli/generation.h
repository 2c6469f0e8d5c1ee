/* The generation loop shared by `generate` and `chat`, and the sampling
 * options both accept (llama.cpp's flag names). */
#ifndef OLMOE_CLI_GENERATION_H
#define OLMOE_CLI_GENERATION_H

#include "olmoe.h"

typedef struct {
    olmoe_sampler_params sampling;
    int seed_given;
    int n_predict;   /* -n; < 0: until EOS or the context is full */
    int ignore_eos;
} gen_opts;

void gen_opts_init(gen_opts *g);
/* 1: consumed, 0: not a sampling option, -1: bad value (message printed). */
int gen_opt(gen_opts *g, const char *cmd, const char *name, const char *value);
extern const char *const GEN_FLAGS; /* value-less options of gen_opt */
void gen_usage(void);

typedef void (*token_fn)(int32_t id, void *user);

typedef struct {
    int n_prompt, n_generated;
    double prompt_seconds, gen_seconds;
    int stopped_at_eos, context_full;
} gen_stats;

/* seq[0..n_seq) is the whole sequence; its first n_cached tokens are
 * already in ctx. Decodes the rest, then samples up to n_predict tokens,
 * calling on_token for each and appending them to *seq (grown with
 * realloc). */
olmoe_status generate(olmoe_context *ctx, const olmoe_model *m, olmoe_sampler *s, int32_t **seq,
                      size_t *n_seq, size_t n_cached, const gen_opts *g, token_fn on_token,
                      void *user, gen_stats *stats);

#endif
