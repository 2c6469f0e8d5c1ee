/* Runs the olmoe CLI from a test as a user would: fork + exec, stdin fed
 * from a string, stdout (and optionally stderr) captured. */
#ifndef OLMOE_TEST_CLI_RUN_H
#define OLMOE_TEST_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char *out;  /* stdout */
    char *err;  /* stderr if captured, else NULL (it went to ours) */
    int status; /* exit status, or 128+signal */
} run_result;

/* Reads a descriptor to its end into a NUL-terminated malloc'ed string. */
static char *run_read_all(int fd) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    ssize_t got;
    while (s && (got = read(fd, s + n, cap - n - 1)) > 0) {
        n += (size_t)got;
        if (n + 1 == cap) s = realloc(s, cap *= 2);
    }
    if (s) s[n] = 0;
    return s;
}

/* 1 when the CLI binary cannot be started from this test: scripts/test-arm
 * sets OLMOE_TEST_NO_CLI when the kernel cannot run aarch64 executables
 * directly (no binfmt_misc); the x86-64 run always exercises the CLI. */
static inline int cli_unavailable(const char *test) {
    if (!getenv("OLMOE_TEST_NO_CLI")) return 0;
    printf("%s: CLI checks skipped (OLMOE_TEST_NO_CLI: the CLI cannot be started here)\n", test);
    return 1;
}

/* Runs cli with args (NULL-terminated), feeding `input` on stdin. */
static run_result run_cli(const char *cli, const char *input, const char *const *args,
                          int capture_err) {
    run_result r = {NULL, NULL, -1};
    int out_pipe[2], in_pipe[2];
    FILE *err = capture_err ? tmpfile() : NULL; /* a file: no pipe to deadlock on */
    if (pipe(out_pipe) || pipe(in_pipe) || (capture_err && !err)) return r;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_pipe[1], 1);
        dup2(in_pipe[0], 0);
        if (err) dup2(fileno(err), 2);
        close(out_pipe[0]);
        close(in_pipe[1]);
        const char *argv[64];
        int n = 0;
        argv[n++] = cli;
        for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    close(out_pipe[1]);
    close(in_pipe[0]);
    if (input) {
        ssize_t w = write(in_pipe[1], input, strlen(input));
        (void)w;
    }
    close(in_pipe[1]);
    r.out = run_read_all(out_pipe[0]);
    close(out_pipe[0]);
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (err) {
        lseek(fileno(err), 0, SEEK_SET);
        r.err = run_read_all(fileno(err));
        fclose(err);
    }
    return r;
}

#endif
