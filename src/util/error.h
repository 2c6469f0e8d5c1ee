/* Error reporting inside libolmoe.
 *
 * Every fallible function returns an olmoe_status. The human-readable reason
 * is kept per thread (so the library has no shared mutable state) and read
 * back with olmoe_last_error(). The library never prints and never exits. */
#ifndef OLMOE_UTIL_ERROR_H
#define OLMOE_UTIL_ERROR_H

#include "olmoe.h"

/* Records a one-line message for the calling thread and returns `code`,
 * so call sites can write `return olmoe_fail(OLMOE_ERR_FORMAT, "...", ...);`. */
olmoe_status olmoe_fail(olmoe_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the current thread's message with "prefix: " (e.g. a file name
 * added by an outer layer) and returns `code` unchanged. */
olmoe_status olmoe_fail_prefix(olmoe_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The first error raised in a parallel loop. olmoe_last_error() is per
 * thread, so a worker's message is copied here (error_slot_catch, safe
 * from any thread) and raised again on the calling thread. */
typedef struct {
    olmoe_status st;
    char msg[1024];
} error_slot;

void error_slot_catch(error_slot *e, olmoe_status st);
olmoe_status error_slot_raise(const error_slot *e); /* OLMOE_OK if nothing was caught */

#endif
