/* Read-bandwidth measurement over any memory (quant/bandwidth.c). */
#ifndef OLMOE_QUANT_BANDWIDTH_H
#define OLMOE_QUANT_BANDWIDTH_H

#include <stddef.h>

typedef struct {
    const unsigned char *p;
    size_t n;
} byte_range;

/* Bytes per second at which n_threads threads read the ranges (laid end to
 * end, each thread a contiguous share), the best of `passes` passes; 0 if
 * there is nothing to read. */
double read_bandwidth_of(const byte_range *r, int n_ranges, int n_threads, int passes);

#endif
