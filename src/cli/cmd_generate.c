/* olmoe generate: continue a prompt, streaming tokens to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/generation.h"
#include "cli/trace_print.h"

static void usage(void) {
    printf("usage: olmoe generate -m MODEL_DIR -p TEXT [-n N] [options]\n"
           "  -m, --model DIR       Hugging Face model folder\n"
           "  -p, --prompt TEXT     prompt (or -f FILE)\n"
           "  -t, --threads N       compute threads (default: all cores)\n"
           "  -c, --ctx-size N      context length (default: the model's)\n"
           "  --json                print {\"prompt_ids\", \"ids\", \"text\"} after generating\n"
           "  --trace INDEX_DIR     then show the output's spans found in a corpus index and their\n"
           "                        documents (OLMoTrace; with --json, its JSON on a second line)\n");
    gen_usage();
}

static int print_json(const olmoe_model *m, const int32_t *seq, size_t n_prompt, size_t n_seq) {
    char *text;
    /* As transformers' tokenizer.decode(ids): special tokens kept. */
    if (olmoe_detokenize(m, seq + n_prompt, n_seq - n_prompt, 0, &text)) return report("decode");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "prompt_ids", json_id_array(seq, n_prompt));
    cJSON_AddItemToObject(o, "ids", json_id_array(seq + n_prompt, n_seq - n_prompt));
    cJSON_AddStringToObject(o, "text", text);
    json_print(o);
    cJSON_Delete(o);
    olmoe_free(text);
    return 0;
}

/* The generated text (special tokens skipped) traced to the corpus index. */
static int trace_output(const olmoe_model *m, const int32_t *ids, size_t n, const char *prompt,
                        const char *index_dir, int json) {
    char *text;
    if (olmoe_detokenize(m, ids, n, 1, &text)) return report("decode");
    if (!json) puts("\n--- traced to the corpus:");
    int rc = trace_and_print("generate", index_dir, prompt, text, json);
    olmoe_free(text);
    return rc;
}

static int run(const common_opts *o, const gen_opts *g, const char *trace_dir) {
    size_t len;
    char *prompt = input_text("generate", o, &len);
    if (!prompt) return EXIT_USAGE;
    olmoe_model *m = load_model("generate", o);
    if (!m) { free(prompt); return EXIT_RUNTIME; }
    int rc = EXIT_RUNTIME;
    int32_t *seq = NULL;
    size_t n_seq = 0;
    olmoe_context *ctx = NULL;
    olmoe_sampler *s = NULL;
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_threads = o->threads;
    if (olmoe_tokenize(m, prompt, len, &seq, &n_seq)) { report("tokenize"); goto done; }
    if (n_seq == 0) { fprintf(stderr, "olmoe generate: the prompt is empty\n"); goto done; }
    if (olmoe_context_new(m, &cp, &ctx)) { report("context"); goto done; }
    if (n_seq > (size_t)olmoe_context_n_ctx(ctx)) {
        fprintf(stderr, "olmoe generate: the prompt has %zu tokens but the context holds %d "
                "(raise -c up to the model's limit or shorten the prompt)\n", n_seq,
                olmoe_context_n_ctx(ctx));
        goto done;
    }
    if (olmoe_sampler_new(&g->sampling, &s)) { report("sampler"); goto done; }
    token_printer ss = {m, {{0}, 0}, o->json};
    if (!o->json) { fputs(prompt, stdout); fflush(stdout); }
    size_t n_prompt = n_seq;
    gen_stats st;
    if (generate(ctx, m, s, &seq, &n_seq, 0, g, print_token, &ss, &st)) { report("generate"); goto done; }
    if (o->json) {
        rc = print_json(m, seq, n_prompt, n_seq);
    } else {
        utf8_stream_flush(&ss.out, stdout);
        fputc('\n', stdout);
        rc = 0;
    }
    fprintf(stderr, "olmoe: prompt %d tokens in %.2f s (%.1f tok/s), generated %d tokens in %.2f s "
            "(%.1f tok/s)%s\n", st.n_prompt, st.prompt_seconds,
            st.n_prompt / (st.prompt_seconds > 0 ? st.prompt_seconds : 1e-9), st.n_generated,
            st.gen_seconds, st.n_generated / (st.gen_seconds > 0 ? st.gen_seconds : 1e-9),
            st.context_full ? "; stopped: context full" : "");
    if (rc == 0 && trace_dir)
        rc = trace_output(m, seq + n_prompt, n_seq - n_prompt, prompt, trace_dir, o->json);
done:
    olmoe_sampler_free(s);
    olmoe_context_free(ctx);
    olmoe_free(seq);
    olmoe_model_free(m);
    free(prompt);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    common_opts o = {0};
    gen_opts g;
    gen_opts_init(&g);
    const char *trace_dir = NULL;
    arg_iter it = {argc, 0, argv, "generate"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--json --ignore-eos --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) { usage(); return 0; }
        if (!strcmp(name, "--trace")) { trace_dir = value; continue; }
        int c = common_opt(&o, name, value);
        if (c == 0) c = gen_opt(&g, "generate", name, value);
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("generate", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!g.seed_given) g.sampling.seed = (uint64_t)time(NULL);
    return run(&o, &g, trace_dir);
}
