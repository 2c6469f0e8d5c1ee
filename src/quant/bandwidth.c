/* olmoe_read_bandwidth: how fast this machine streams memory into n
 * threads, the denominator of olmoe bench's "% of bandwidth bound". Each
 * thread reads its own contiguous part of a buffer far larger than any
 * cache with the widest loads its instruction set has (read_xor64), as the
 * matrix kernels do; the best of five passes counts. */
#include <stdlib.h>

#include <omp.h>

#include "olmoe.h"
#include "quant/kernels.h"
#include "util/clock.h"

enum { PROBE_BYTES = 256 << 20, PASSES = 5 };

double olmoe_read_bandwidth(int n_threads) {
    if (n_threads < 1) n_threads = omp_get_max_threads();
    const size_t n = PROBE_BYTES / sizeof(uint64_t), part = n / (size_t)n_threads / 16 * 16;
    uint64_t *buf = aligned_alloc(64, PROBE_BYTES);
    if (!buf || part == 0) {
        free(buf);
        return 0;
    }
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9E3779B97F4A7C15ull; /* pages touched by their readers */
    double best = 0;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        uint64_t all = 0;
        double t0 = monotonic_seconds();
#pragma omp parallel num_threads(n_threads) reduction(^ : all)
        all ^= read_xor64(buf + (size_t)omp_get_thread_num() * part, part);
        double dt = monotonic_seconds() - t0, rate = (double)part * n_threads * sizeof(uint64_t) / dt;
        sink ^= all;
        if (rate > best) best = rate;
    }
    (void)sink;
    free(buf);
    return best;
}
