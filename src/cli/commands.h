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

#endif
