/* SPDX-License-Identifier: MIT */
/*
 * probe-harness.h - helpers for the health-probe tests: a scripted fake
 * HTTP server on a loopback socket, and runners for health_probe_main()
 * in-process and for the health-probe binary as a child process.
 * Everything waits on conditions with deadlines; nothing runs unbounded.
 */
#ifndef HEALTH_TESTS_PROBE_HARNESS_H
#define HEALTH_TESTS_PROBE_HARNESS_H

#include "../test.h" /* ASSERT_* */

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the fake server does with each connection. */
enum fake_mode {
    FAKE_RESPOND, /* read the request, send the response, close */
    FAKE_SILENT,  /* read the request, never answer, close on peer EOF */
    FAKE_CLOSE    /* close right after accept, without reading */
};

struct fake_server {
    /* Set before fake_start(), read-only afterwards. */
    enum fake_mode mode;
    const char *response; /* bytes to send in FAKE_RESPOND */
    size_t chunk;         /* bytes per write; 0: all at once */

    int port; /* bound port, set by fake_start() */
    int listen_fd;
    int wake[2]; /* a byte here stops the thread */
    pthread_t thread;

    pthread_mutex_t lock; /* guards what follows */
    char request[2048];   /* the last request's head, NUL-terminated */
    unsigned connections; /* accepted so far */
};

/* Binds a loopback listener ("127.0.0.1" or "::1") on an ephemeral port
 * and starts the server thread.  Returns 0 or a negative errno. */
int fake_start(struct fake_server *s, const char *address);
/* Stops the thread, closes every socket. */
void fake_stop(struct fake_server *s);
/* Copies the last request head (for asserting on it). */
void fake_last_request(struct fake_server *s, char *buf, size_t cap);

/* A loopback TCP port with nothing listening (bound, then closed). */
int unused_port(void);

/* Runs a command with argv, stdout and stderr captured into @out (at
 * most @cap - 1 bytes, NUL-terminated), killed after @timeout_ms.
 * Returns the exit status (0..255), or -1 when it was killed or could not
 * be started.  argv[0] is searched on PATH. */
int run_command(char *const argv[], char *out, size_t cap, unsigned timeout_ms);

/* Runs the probe with @args (NULL-terminated, without argv[0]) either
 * in-process through health_probe_main() (@binary NULL; stdout captured)
 * or as the program @binary.  Returns the exit status. */
int run_probe(const char *binary, const char *const *args, char *out,
              size_t cap);

/* Asserts that @out is exactly one line under 500 characters. */
void assert_one_line(const char *out);

/* Milliseconds on the monotonic clock. */
int64_t mono_ms(void);

#endif /* HEALTH_TESTS_PROBE_HARNESS_H */
