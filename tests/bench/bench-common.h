/* SPDX-License-Identifier: MIT */
/*
 * bench-common.h - helpers shared by the benchmark servers (bench-server,
 * mhd-floor): argument parsing, signal waiting and a tiny loopback HTTP
 * client used to time "start to first 200".  Not part of the library.
 */
#ifndef HEALTH_BENCH_COMMON_H
#define HEALTH_BENCH_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

/* Parses a decimal unsigned integer no larger than @max.  Returns 0 or -1. */
int bench_parse_uint(const char *text, unsigned max, unsigned *out);

/* Microseconds on @clock (CLOCK_MONOTONIC, ...). */
int64_t bench_now_us(clockid_t clock);

/* GET @path from 127.0.0.1:@port with Connection: close.  Returns the HTTP
 * status code, or -1 when the connection or the response failed. */
int bench_http_status(unsigned port, const char *path);

/* Blocks SIGINT and SIGTERM in the calling thread (call it before any thread
 * starts, so every thread inherits the mask) and stores them in @set. */
void bench_block_signals(sigset_t *set);

/* Waits for one of the signals in @set. */
void bench_wait_signal(const sigset_t *set);

/* Prints "listening port=N pid=N" on stdout and flushes it. */
void bench_print_listening(unsigned port);

/*
 * The startup measurement: polls /live, then /ready, on 127.0.0.1:@port
 * until each answers 200 (at most 5 s each) and prints one line:
 *   startup live_us=N ready_us=N
 * counted from @t0_mono_us (CLOCK_MONOTONIC, taken just before the server
 * was started).  Returns 0, or -1 when an endpoint never answered 200.
 */
int bench_report_startup(int64_t t0_mono_us, unsigned port);

/*
 * Host load: "--load KIND:N" starts N threads inside the server process
 * that keep running until it exits, the way a busy service's own threads
 * would:
 *   spin    a busy loop (CPU saturation)
 *   malloc  malloc and free of mixed sizes (16 B to 32 KiB, 64 blocks held
 *           per thread): glibc's arenas under contention
 *   stdio   formatted writes to one shared FILE on /dev/null (its lock
 *           and the CPU)
 * Returns 0, or -1 when @spec is malformed or a thread did not start.
 */
int bench_start_load(const char *spec);

#endif /* HEALTH_BENCH_COMMON_H */
