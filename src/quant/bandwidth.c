/* How fast this machine streams memory into n threads: the denominators of
 * olmoe bench's "% of bandwidth bound". Each thread reads its own
 * contiguous share of the bytes with the widest loads its instruction set
 * has (read_xor64), as the matrix kernels stream weights; the best of a few
 * passes counts. */
#include <stdint.h>
#include <stdlib.h>

#include <omp.h>

#include "olmoe.h"
#include "quant/bandwidth.h"
#include "quant/kernels.h"
#include "util/clock.h"

/* XOR of bytes [from, to) of the ranges laid end to end, read from the
 * first 64-byte boundary of each piece in whole 128-byte steps (the few
 * bytes this skips at the edges do not matter to a rate). */
static uint64_t read_part(const byte_range *r, int n_ranges, size_t from, size_t to) {
    uint64_t x = 0;
    size_t base = 0;
    for (int i = 0; i < n_ranges && base < to; base += r[i].n, i++) {
        const size_t lo = from > base ? from - base : 0, hi = to - base < r[i].n ? to - base : r[i].n;
        if (lo >= hi) continue;
        const uintptr_t a = ((uintptr_t)r[i].p + lo + 63) & ~(uintptr_t)63, b = (uintptr_t)r[i].p + hi;
        if (b > a) x ^= read_xor64((const uint64_t *)a, (b - a) / 128 * 16);
    }
    return x;
}

double read_bandwidth_of(const byte_range *r, int n_ranges, int n_threads, int passes) {
    if (n_threads < 1) n_threads = omp_get_max_threads();
    size_t total = 0;
    for (int i = 0; i < n_ranges; i++) total += r[i].n;
    double best = 0;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass < passes && total; pass++) {
        uint64_t all = 0;
        double t0 = monotonic_seconds();
#pragma omp parallel num_threads(n_threads) reduction(^ : all)
        {
            const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
            all ^= read_part(r, n_ranges, total / nt * t, t + 1 == nt ? total : total / nt * (t + 1));
        }
        const double rate = (double)total / (monotonic_seconds() - t0);
        sink ^= all;
        if (rate > best) best = rate;
    }
    return best;
}

/* Four times the development machine's 32 MiB L3, so no pass finds the
 * previous one's lines in cache; small enough that olmoe bench can probe
 * beside resident weights without the buffer weighing on peak memory. */
enum { PROBE_BYTES = 128 << 20 };

double olmoe_read_bandwidth(int n_threads) {
    if (n_threads < 1) n_threads = omp_get_max_threads();
    const size_t n = PROBE_BYTES / sizeof(uint64_t);
    uint64_t *buf = aligned_alloc(64, PROBE_BYTES);
    if (!buf) return 0;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9E3779B97F4A7C15ull; /* pages touched by their readers */
    const byte_range all = {(const unsigned char *)buf, PROBE_BYTES};
    const double rate = read_bandwidth_of(&all, 1, n_threads, 5);
    free(buf);
    return rate;
}
