/* A one-line progress display (percent, rate, ETA) for long work, redrawn
 * in place on a terminal and silent when stderr is not a terminal. */
#ifndef OLMOE_CLI_PROGRESS_H
#define OLMOE_CLI_PROGRESS_H

typedef struct {
    const char *label;
    const char *unit;   /* e.g. "GB" or "M params" */
    double scale;       /* units per counted item (1e-9 for bytes -> GB) */
    double start, last_draw;
    int tty;
} progress_line;

void progress_init(progress_line *p, const char *label, const char *unit, double scale);
/* Matches olmoe_progress_fn: pass the progress_line as `user`. */
void progress_update(double done, double total, void *user);
void progress_done(progress_line *p);

#endif
