/* olmoe: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", cmd_generate, "continue a prompt (sampling or greedy), streaming the text"},
    {"chat", cmd_chat, "interactive chat with the model's chat template"},
    {"tokenize", cmd_tokenize, "text -> token ids"},
    {"logits", cmd_logits, "per-position log-sum-exp and top logits as JSON"},
    {"template", cmd_template, "apply the chat template to a JSON list of messages"},
    {"info", cmd_info, "architecture, parameter counts, dtype and memory of a model"},
    {"convert", cmd_convert, "write a model as GGUF (f32, bf16, q8_0, q4_0, q4_k_m) for llama.cpp"},
    {"bench", cmd_bench, "prompt-processing and generation speed (llama-bench style)"},
    {"random-init", cmd_random_init, "write a full-size model folder with random weights"},
    {"index", cmd_index, "build and query corpus indexes (infini-gram format): count, ntd, docs"},
    {"trace", cmd_trace, "spans of a text found in corpus indexes, and their documents (OLMoTrace)"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server with a web page (llama.cpp conventions)"},
    {"decon", cmd_decon, "n-gram contamination of evaluation items (JSONL) by corpus indexes"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: olmoe COMMAND [options]   (olmoe COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "olmoe: unknown command '%s' (olmoe --help lists the commands)\n", argv[1]);
    return 2;
}
