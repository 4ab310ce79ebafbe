/* Name resolution against a real DNS server on loopback: in network and
 * mount namespaces of its own (root), /etc/resolv.conf points at a small
 * UDP server of this test that answers, says NXDOMAIN, or never answers.
 * A resolver that hangs makes the check fail at its deadline, holds one
 * helper thread however many runs wait on it, and the check recovers
 * when the server answers again. */
#include "checkutil.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

enum dns_mode {
    DNS_ANSWER,
    DNS_SILENT
};

struct dns_server {
    int fd;
    pthread_t thread;
    atomic_int mode;
    atomic_int queries;
    atomic_bool stop;
};

/* The dotted name of a query's question, and where the question ends. */
static size_t question_name(const unsigned char *q, size_t len, char *name,
                            size_t size)
{
    size_t i = 12;
    size_t used = 0;

    while (i < len && q[i] != 0) {
        size_t n = q[i++];
        if (i + n > len || used + n + 2 > size)
            return 0;
        if (used)
            name[used++] = '.';
        memcpy(name + used, q + i, n);
        used += n;
        i += n;
    }
    name[used] = '\0';
    return i + 5 <= len ? i + 5 : 0; /* the 0, type and class */
}

/* Answers @q: A 127.0.0.1 for names under .test but nx.test (NXDOMAIN);
 * no records for other types. */
static size_t answer(const unsigned char *q, size_t len, unsigned char *out)
{
    static const unsigned char a_record[] = { 0xc0, 0x0c, 0, 1, 0,   1, 0, 0,
                                              0,    0,    0, 4, 127, 0, 0, 1 };
    char name[256];
    size_t end = question_name(q, len, name, sizeof(name));
    bool nx;
    bool a;

    if (!end)
        return 0;
    nx = strcmp(name, "nx.test") == 0;
    a = q[end - 4] == 0 && q[end - 3] == 1 && !nx;
    memcpy(out, q, end);
    out[2] = 0x81;             /* QR, RD */
    out[3] = nx ? 0x83 : 0x80; /* RA, NXDOMAIN or NOERROR */
    out[4] = 0;
    out[5] = 1;
    out[6] = 0;
    out[7] = a ? 1 : 0;
    memset(out + 8, 0, 4);
    if (!a)
        return end;
    memcpy(out + end, a_record, sizeof(a_record));
    return end + sizeof(a_record);
}

static void *dns_thread(void *arg)
{
    struct dns_server *s = arg;
    unsigned char q[512];
    unsigned char r[600];
    struct sockaddr_storage peer;
    socklen_t plen;
    struct pollfd p;
    ssize_t n;
    size_t rlen;

    while (!atomic_load(&s->stop)) {
        p.fd = s->fd;
        p.events = POLLIN;
        if (poll(&p, 1, 20) <= 0)
            continue;
        plen = sizeof(peer);
        n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
        if (n < 12)
            continue;
        atomic_fetch_add(&s->queries, 1);
        if (atomic_load(&s->mode) == DNS_SILENT)
            continue;
        rlen = answer(q, (size_t)n, r);
        if (rlen)
            sendto(s->fd, r, rlen, 0, (struct sockaddr *)&peer, plen);
    }
    return NULL;
}

static void dns_start(struct dns_server *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };

    memset(s, 0, sizeof(*s));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s->fd, 0);
    ASSERT_OK(bind(s->fd, (struct sockaddr *)&a, sizeof(a)));
    ASSERT_OK(pthread_create(&s->thread, NULL, dns_thread, s));
}

static void dns_stop(struct dns_server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* A file with @text, bind-mounted over @target (in this mount namespace
 * only). */
static void mount_text(const char *target, const char *text)
{
    char path[] = "/tmp/health-dns-XXXXXX";
    int fd = mkstemp(path);

    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ASSERT_OK(mount(path, target, "none", MS_BIND, NULL));
    unlink(path);
}

/* Namespaces of our own with a loopback that is up, and a resolver that
 * asks 127.0.0.1 only. */
static bool isolate(void)
{
    struct ifreq ifr;
    int fd;

    if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
        printf("dns: skipped: no namespaces (%s); needs root\n",
               strerror(errno));
        return false;
    }
    ASSERT_OK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    ASSERT_OK(ioctl(fd, SIOCGIFFLAGS, &ifr));
    ifr.ifr_flags |= IFF_UP;
    ASSERT_OK(ioctl(fd, SIOCSIFFLAGS, &ifr));
    close(fd);
    mount_text("/etc/resolv.conf",
               "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    mount_text("/etc/nsswitch.conf", "hosts: files dns\n");
    return true;
}

static struct health_check mk(const char *name, unsigned timeout_ms)
{
    struct health_check c = { .name = name,
                              .timeout_ms = timeout_ms,
                              .interval_ms = 100 };
    return c;
}

int main(void)
{
    struct dns_server dns;
    struct health_check ok = mk("dns", 400);
    struct health_check nx = mk("dnsnx", 400);
    struct health_check tcp = mk("tcp", 400);
    health_t *h;
    int port;
    int lfd;
    int base;
    int peak = 0;
    int64_t t0;
    int64_t until;
    struct seen s;

    if (!isolate())
        return 77;
    dns_start(&dns);
    h = test_server(NULL);
    port = health_port(h);
    lfd = listen_on("127.0.0.1", 0, 16);

    /* A real resolution through the DNS server: names, NXDOMAIN, and a
     * tcp check that resolves its host. */
    ASSERT_OK(health_check_dns(h, &ok, "ok.test"));
    ASSERT_OK(health_check_dns(h, &nx, "nx.test"));
    ASSERT_OK(health_check_tcp(h, &tcp, "svc.test", (unsigned)port_of(lfd)));
    wait_check(port, "dns", "pass", "ok.test: 127.0.0.1 in", 3000, NULL);
    wait_check(port, "dnsnx", "fail", "nx.test: ", 3000, NULL);
    wait_check(port, "tcp", "pass", "connected to 127.0.0.1", 3000, NULL);
    ASSERT_GT(atomic_load(&dns.queries), 0);
    ASSERT_OK(health_unregister_check(h, "dnsnx"));
    ASSERT_OK(health_unregister_check(h, "tcp"));
    close(lfd);

    /* The server stops answering: fail at the check's deadline (360 ms),
     * however long the resolver itself waits. */
    wait_check(port, "dns", "pass", NULL, 3000, NULL);
    base = test_threads();
    atomic_store(&dns.mode, DNS_SILENT);
    t0 = test_now_ms();
    wait_check(port, "dns", "fail", "ok.test: no address within 360 ms", 3000,
               &s);
    ASSERT_LT(test_now_ms() - t0, SLOW(360) + 100 + 600);
    ASSERT_LT(s.duration_ms, 400);
    /* Runs keep coming every ~400 ms while resolutions hang for 1 s
     * (resolv.conf's timeout): they wait on the one in flight, so one
     * helper thread resolves at a time (plus, for a moment, one that
     * has finished and is exiting).  Starting one per run would pile up
     * three or more. */
    until = test_now_ms() + 2500;
    while (test_now_ms() < until) {
        int n = test_threads();
        peak = n > peak ? n : peak;
        (void)poll(NULL, 0, 10);
    }
    printf("dns: %d threads at most while resolutions hang (%d before)\n", peak,
           base);
    ASSERT_LE(peak, base + 2);
    /* Answers again: the hung resolution ends (resolv.conf's timeout) and
     * the next run resolves afresh. */
    atomic_store(&dns.mode, DNS_ANSWER);
    wait_check(port, "dns", "pass", "ok.test: 127.0.0.1", 5000, NULL);
    health_destroy(h);
    dns_stop(&dns);
    printf("checks-dns: 3 passed, 0 failed\n");
    return 0;
}
