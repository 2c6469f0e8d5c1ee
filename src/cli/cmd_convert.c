/* olmoe convert: a Hugging Face folder -> a GGUF file llama.cpp runs. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"

int cmd_convert(int argc, char **argv) {
    common_opts o = {0};
    const char *out = NULL, *type = "bf16";
    arg_iter it = {argc, 0, argv, "convert"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe convert -m MODEL -o FILE.gguf [--type f32|bf16|q8_0|q4_0|q4_k_m]\n"
                   "Writes a GGUF file with llama.cpp's layout (quantized as llama-quantize does).\n");
            return 0;
        }
        int c = common_opt(&o, name, value);
        if (c == 0 && (!strcmp(name, "-o") || !strcmp(name, "--output"))) { out = value; c = 1; }
        if (c == 0 && !strcmp(name, "--type")) { type = value; c = 1; }
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("convert", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!out) {
        fprintf(stderr, "olmoe convert: -o FILE.gguf is required\n");
        return EXIT_USAGE;
    }
    olmoe_model *m = load_model("convert", &o);
    if (!m) return EXIT_RUNTIME;
    progress_line pl;
    progress_init(&pl, "convert", "G params", 1e-9);
    olmoe_status st = olmoe_convert(m, out, type, progress_update, &pl);
    progress_done(&pl);
    olmoe_model_free(m);
    if (st) return report("convert");
    fprintf(stderr, "olmoe: wrote %s (%s)\n", out, type);
    return 0;
}
