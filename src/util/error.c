#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

olmoe_status olmoe_fail(olmoe_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

olmoe_status olmoe_fail_prefix(olmoe_status code, const char *fmt, ...) {
    char old[sizeof last_error];
    memcpy(old, last_error, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof last_error)
        snprintf(last_error + n, sizeof last_error - (size_t)n, ": %.*s",
                 (int)(sizeof last_error - (size_t)n), old);
    return code;
}

const char *olmoe_last_error(void) { return last_error; }

const char *olmoe_status_name(olmoe_status s) {
    switch (s) {
    case OLMOE_OK: return "ok";
    case OLMOE_ERR_IO: return "i/o error";
    case OLMOE_ERR_FORMAT: return "bad format";
    case OLMOE_ERR_UNSUPPORTED: return "unsupported";
    case OLMOE_ERR_ARG: return "bad argument";
    case OLMOE_ERR_NOMEM: return "out of memory";
    case OLMOE_ERR_CONTEXT_FULL: return "context full";
    }
    return "unknown error";
}

void error_slot_catch(error_slot *e, olmoe_status st) {
    if (st == OLMOE_OK) return;
#pragma omp critical(error_slot)
    if (e->st == OLMOE_OK) {
        e->st = st;
        snprintf(e->msg, sizeof e->msg, "%s", last_error);
    }
}

olmoe_status error_slot_raise(const error_slot *e) {
    return e->st ? olmoe_fail(e->st, "%s", e->msg) : OLMOE_OK;
}
