#ifndef OLMOE_CLI_COMMANDS_H
#define OLMOE_CLI_COMMANDS_H

/* Each takes the arguments after the subcommand name; returns the exit status. */
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_random_init(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_convert(int argc, char **argv);
/* `olmoe index SUB ...`: corpus index queries; `index build` goes on to cmd_index_build. */
int cmd_index(int argc, char **argv);
/* `olmoe index build ...` (reached through cmd_index). */
int cmd_index_build(int argc, char **argv);
/* `olmoe index bench ...`: count latency, warm and cold (reached through cmd_index). */
int cmd_index_bench(int argc, char **argv);
/* `olmoe trace`: OLMoTrace spans and documents of a text in corpus indexes. */
int cmd_trace(int argc, char **argv);
/* `olmoe decon`: n-gram contamination of evaluation items by corpus indexes. */
int cmd_decon(int argc, char **argv);
/* `olmoe serve`: the OpenAI-compatible HTTP server (src/server/). */
int cmd_serve(int argc, char **argv);

#endif
