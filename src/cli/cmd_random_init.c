/* olmoe random-init: a full-size model folder with random weights, for
 * benchmarks without downloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"

int cmd_random_init(int argc, char **argv) {
    olmoe_random_init_params p = {.preset = NULL, .dtype = "bf16", .seed = 1};
    const char *out = NULL;
    arg_iter it = {argc, 0, argv, "random-init"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--help -h", &name, &value)) > 0) {
        long v;
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe random-init --preset olmoe-1b-7b|olmo2-1b|olmoe-mini [--dtype bf16|f16|f32]\n"
                   "                          [--seed S] [--tokenizer tokenizer.json] -o DIR\n"
                   "Writes a Hugging Face folder with the preset's exact shapes and random weights.\n");
            return 0;
        }
        if (!strcmp(name, "--preset")) p.preset = value;
        else if (!strcmp(name, "--dtype")) p.dtype = value;
        else if (!strcmp(name, "--tokenizer")) p.tokenizer_json = value;
        else if (!strcmp(name, "-o") || !strcmp(name, "--output")) out = value;
        else if (!strcmp(name, "--seed")) {
            if (parse_int("random-init", name, value, 0, 0x7fffffff, &v)) return EXIT_USAGE;
            p.seed = (uint64_t)v;
        } else return unknown_option("random-init", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!p.preset || !out) {
        fprintf(stderr, "olmoe random-init: --preset and -o DIR are required\n");
        return EXIT_USAGE;
    }
    progress_line pl;
    progress_init(&pl, "random-init", "G params", 1e-9);
    p.progress = progress_update;
    p.user = &pl;
    olmoe_status st = olmoe_random_init(&p, out);
    progress_done(&pl);
    if (st) return report("random-init");
    fprintf(stderr, "olmoe: wrote %s (%s, %s)\n", out, p.preset, p.dtype);
    return 0;
}
