/* The README's example: a service with one readiness check. */
#include <health/health.h>

#include <stdio.h>
#include <unistd.h>

static health_status_t check_db(health_result_t *result, void *userdata)
{
    int *connections = userdata;

    health_result_set_observed(result, *connections, "connections");
    if (*connections == 0) {
        health_result_setf(result, "no database connection");
        return HEALTH_FAIL;
    }
    return HEALTH_PASS;
}

static const struct health_check db_check = {
    .name = "postgres",
    .flags = HEALTH_CHECK_READY,
    .timeout_ms = 500,
    .interval_ms = 5000,
    .run = check_db,
};

int main(void)
{
    static int connections = 4;
    health_t *h;
    int r;

    r = health_create(&h, NULL); /* port 8080 or $HEALTH_PORT */
    if (r < 0) {
        fprintf(stderr, "health_create: %s\n", health_strerror(r));
        return 1;
    }
    r = health_register_check(h, &db_check, &connections);
    if (r == 0)
        r = health_start(h);
    if (r < 0) {
        fprintf(stderr, "health: %s\n", health_strerror(r));
        health_destroy(h);
        return 1;
    }
    printf("serving on port %d\n", health_port(h));
    /* ... the service's own work; here, a few seconds of it ... */
    sleep(3);
    health_begin_shutdown(h); /* on SIGTERM: /ready answers 503 */
    health_destroy(h);
    return 0;
}
