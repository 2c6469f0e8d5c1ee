#include "cli/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "cli/common.h"

void progress_init(progress_line *p, const char *label, const char *unit, double scale) {
    p->label = label;
    p->unit = unit;
    p->scale = scale;
    p->start = p->last_draw = now_seconds();
    p->tty = isatty(2);
}

void progress_update(double done, double total, void *user) {
    progress_line *p = user;
    double now = now_seconds();
    if (!p->tty || (now - p->last_draw < 0.2 && done < total)) return;
    p->last_draw = now;
    double elapsed = now - p->start, rate = elapsed > 0 ? done / elapsed : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    fprintf(stderr, "\r%s: %5.1f%%  %.2f / %.2f %s  %.2f %s/s  ETA %02d:%02d ", p->label,
            total > 0 ? 100.0 * done / total : 100.0, done * p->scale, total * p->scale, p->unit,
            rate * p->scale, p->unit, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

void progress_done(progress_line *p) {
    if (p->tty) fprintf(stderr, "\n");
}
