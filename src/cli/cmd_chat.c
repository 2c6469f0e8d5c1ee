/* olmoe chat: an interactive REPL over the model's chat template. The
 * conversation is re-rendered each turn; the KV cache is kept for the
 * longest shared token prefix, and the oldest turns are dropped when the
 * conversation no longer fits the context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/generation.h"

typedef struct {
    olmoe_chat_message *msgs;
    size_t n, cap;
} history;

static int push(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        olmoe_chat_message *g = realloc(h->msgs, cap * sizeof *g);
        if (!g) return -1;
        h->msgs = g;
        h->cap = cap;
    }
    char *r = strdup(role), *c = strdup(content);
    if (!r || !c) { free(r); free(c); return -1; }
    h->msgs[h->n++] = (olmoe_chat_message){r, c};
    return 0;
}

/* Drops the oldest message after the system prompt (if any). */
static void drop_oldest(history *h, int has_system) {
    size_t i = has_system ? 1 : 0;
    if (i >= h->n) return;
    free((char *)h->msgs[i].role);
    free((char *)h->msgs[i].content);
    memmove(h->msgs + i, h->msgs + i + 1, (h->n - i - 1) * sizeof *h->msgs);
    h->n--;
}

static void history_free(history *h) {
    while (h->n) drop_oldest(h, 0);
    free(h->msgs);
}

/* Renders and tokenizes the conversation with a generation prompt, dropping
 * old turns until it leaves room for at least `reserve` new tokens. */
static int render(const olmoe_model *m, history *h, int has_system, int n_ctx, int reserve,
                  int32_t **ids, size_t *n) {
    for (;;) {
        char *text;
        if (olmoe_chat_apply_template(m, h->msgs, h->n, 1, &text)) return report("template");
        olmoe_status st = olmoe_tokenize(m, text, strlen(text), ids, n);
        olmoe_free(text);
        if (st) return report("tokenize");
        if ((int)*n + reserve <= n_ctx) return 0;
        if (h->n <= (size_t)(has_system ? 2 : 1)) {
            fprintf(stderr, "olmoe chat: the message (%zu tokens) does not fit the context of %d\n",
                    *n, n_ctx);
            olmoe_free(*ids);
            *ids = NULL;
            return EXIT_RUNTIME;
        }
        olmoe_free(*ids);
        drop_oldest(h, has_system);
    }
}

static int chat_loop(olmoe_model *m, olmoe_context *ctx, olmoe_sampler *s, const gen_opts *g,
                     const char *system) {
    history h = {0};
    int has_system = system != NULL, rc = 0;
    if (system && push(&h, "system", system)) return report("memory");
    int32_t *cached = NULL; /* tokens whose keys/values are in ctx */
    size_t n_cached = 0;
    int tty = isatty(0);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (tty) { printf("> "); fflush(stdout); }
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0) break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            while (h.n > (size_t)has_system) drop_oldest(&h, has_system);
            continue;
        }
        if (push(&h, "user", line)) { rc = report("memory"); break; }
        int32_t *seq;
        size_t n_seq;
        int reserve = g->n_predict > 0 ? g->n_predict : 1;
        if (reserve > olmoe_context_n_ctx(ctx) / 2) reserve = olmoe_context_n_ctx(ctx) / 2;
        if ((rc = render(m, &h, has_system, olmoe_context_n_ctx(ctx), reserve, &seq, &n_seq))) {
            drop_oldest(&h, 0); /* forget the turn that did not fit */
            h.n = h.n; /* keep going: the user may send something shorter */
            rc = 0;
            continue;
        }
        /* Reuse the cache for the shared prefix (at least one token must be
         * decoded to get fresh logits). */
        size_t keep = 0;
        while (keep < n_cached && keep + 1 < n_seq && cached[keep] == seq[keep]) keep++;
        olmoe_context_truncate(ctx, (int)keep);
        size_t n_prompt = n_seq;
        token_printer ss = {m, {{0}, 0}, 0};
        gen_stats st;
        if (generate(ctx, m, s, &seq, &n_seq, keep, g, print_token, &ss, &st)) {
            rc = report("generate");
            olmoe_free(seq);
            break;
        }
        utf8_stream_flush(&ss.out, stdout);
        printf("\n");
        fflush(stdout);
        char *reply;
        size_t n_reply = n_seq - n_prompt;
        if (n_reply && olmoe_token_is_eos(m, seq[n_seq - 1])) n_reply--;
        if (olmoe_detokenize(m, seq + n_prompt, n_reply, 1, &reply) || push(&h, "assistant", reply)) {
            rc = report("decode");
            olmoe_free(seq);
            break;
        }
        olmoe_free(reply);
        free(cached);
        cached = seq;
        /* The last sampled token was never decoded into the cache. */
        n_cached = (size_t)olmoe_context_n_past(ctx);
    }
    free(line);
    free(cached);
    history_free(&h);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    common_opts o = {0};
    gen_opts g;
    gen_opts_init(&g);
    g.n_predict = -1;
    const char *system = NULL;
    arg_iter it = {argc, 0, argv, "chat"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--ignore-eos --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe chat -m MODEL_DIR [--system TEXT] [options]\n"
                   "  type a message and press enter; /reset forgets the conversation, /exit quits\n"
                   "  -t N, -c N            threads, context length\n");
            gen_usage();
            return 0;
        }
        int c = common_opt(&o, name, value);
        if (c == 0 && !strcmp(name, "--system")) { system = value; c = 1; }
        if (c == 0) c = gen_opt(&g, "chat", name, value);
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("chat", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!g.seed_given) g.sampling.seed = (uint64_t)time(NULL);
    olmoe_model *m = load_model("chat", &o);
    if (!m) return EXIT_RUNTIME;
    olmoe_context *ctx = NULL;
    olmoe_sampler *s = NULL;
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.threads;
    int rc;
    if (olmoe_context_new(m, &cp, &ctx)) rc = report("context");
    else if (olmoe_sampler_new(&g.sampling, &s)) rc = report("sampler");
    else rc = chat_loop(m, ctx, s, &g, system);
    olmoe_sampler_free(s);
    olmoe_context_free(ctx);
    olmoe_model_free(m);
    return rc;
}
