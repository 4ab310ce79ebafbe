/* examples/prefork: the parent serves the workers' health, a dead worker
 * fails /ready, and SIGTERM drains before exit. */
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t start(const char *prog, int *port)
{
    int fds[2];
    char line[128];
    FILE *f;
    pid_t pid;

    ASSERT_OK(pipe(fds));
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        setenv("HEALTH_PORT", "0", 1);
        setenv("HEALTH_BIND", "127.0.0.1", 1);
        execl(prog, prog, "3", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    ASSERT_TRUE(fgets(line, sizeof(line), f) != NULL);
    ASSERT_EQ(sscanf(line, "prefork: 3 workers, health on port %d", port), 1);
    fclose(f);
    return pid;
}

/* The first child of @pid, from /proc. */
static pid_t first_child(pid_t pid)
{
    char path[64];
    long child = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
             (int)pid);
    f = fopen(path, "r");
    ASSERT_TRUE(f != NULL);
    if (fscanf(f, "%ld", &child) != 1)
        child = 0;
    fclose(f);
    return (pid_t)child;
}

int main(int argc, char **argv)
{
    int port;
    int status;
    pid_t pid;
    pid_t worker;

    ASSERT_EQ(argc, 2);
    pid = start(argv[1], &port);
    WAIT_UNTIL(http_status(port, "/ready") == 200, 5000);
    worker = first_child(pid);
    ASSERT_GT(worker, 0);
    ASSERT_OK(kill(worker, SIGKILL));
    WAIT_UNTIL(http_status(port, "/ready") == 503, 5000);
    ASSERT_OK(kill(pid, SIGTERM));
    expect_status(port, "/live", 503); /* the dead worker feeds /live too */
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    printf("prefork: all passed\n");
    return 0;
}
