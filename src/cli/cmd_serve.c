/* olmoe serve: the OpenAI-compatible HTTP server (src/server/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "server/server.h"

#define MAX_INDEXES 16

static void usage(void) {
    printf("usage: olmoe serve -m MODEL [options]\n"
           "  -m, --model DIR       Hugging Face model folder or GGUF file\n"
           "  --index DIR           corpus index for POST /v1/trace (repeatable)\n"
           "  --host ADDR           IPv4 address to bind (default 127.0.0.1)\n"
           "  --port N              port (default 8080; 0 picks a free one)\n"
           "  -np, --parallel N     slots: requests decoded together (default 4)\n"
           "  -c, --ctx-size N      context per slot (default 2048, or the model's if smaller)\n"
           "  --queue N             requests that may wait for a slot; more get 503 (default 64)\n"
           "  -t, --threads N       compute threads (default: all cores)\n"
           "  --api-key KEY         require Authorization: Bearer KEY (not for /health)\n"
           "  --cors ORIGIN         allow browser requests from ORIGIN\n"
           "Endpoints: GET /health /v1/models /metrics /, POST /v1/chat/completions\n"
           "/v1/completions /tokenize /detokenize /v1/trace.\n");
}

int cmd_serve(int argc, char **argv) {
    common_opts o = {0};
    server s;
    memset(&s, 0, sizeof s);
    s.host = "127.0.0.1";
    s.port = 8080;
    s.n_slots = 4;
    s.queue_max = 64;
    const char *indexes[MAX_INDEXES];
    arg_iter it = {argc, 0, argv, "serve"};
    const char *name, *value;
    long v;
    int r;
    while ((r = arg_next(&it, "--help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) { usage(); return 0; }
        if (!strcmp(name, "--index")) {
            if (s.n_index == MAX_INDEXES) {
                fprintf(stderr, "olmoe serve: at most %d --index options\n", MAX_INDEXES);
                return EXIT_USAGE;
            }
            indexes[s.n_index++] = value;
        } else if (!strcmp(name, "--host")) s.host = value;
        else if (!strcmp(name, "--port")) {
            if (parse_int("serve", name, value, 0, 65535, &v)) return EXIT_USAGE;
            s.port = (int)v;
        } else if (!strcmp(name, "-np") || !strcmp(name, "--parallel")) {
            if (parse_int("serve", name, value, 1, 64, &v)) return EXIT_USAGE;
            s.n_slots = (int)v;
        } else if (!strcmp(name, "--queue")) {
            if (parse_int("serve", name, value, 0, 4096, &v)) return EXIT_USAGE;
            s.queue_max = (int)v;
        } else if (!strcmp(name, "--api-key")) s.api_key = value;
        else if (!strcmp(name, "--cors")) s.cors = value;
        else {
            int c = common_opt(&o, name, value);
            if (c < 0) return EXIT_USAGE;
            if (c == 0 || o.text || o.file || o.json) return unknown_option("serve", name);
        }
    }
    if (r < 0) return EXIT_USAGE;
    if (!o.model) {
        fprintf(stderr, "olmoe serve: -m MODEL_DIR is required\n");
        return EXIT_USAGE;
    }
    s.model_path = o.model;
    s.threads = o.threads;
    s.n_ctx = o.n_ctx;
    s.index_dirs = indexes;
    return server_run(&s);
}
