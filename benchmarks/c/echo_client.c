/* A closed-loop echo load generator: one thread, epoll, N connections.
 *
 * Each connection sends a SIZE-byte message, waits until the whole echo is
 * back, and sends the next one, so the offered load adapts to the server
 * and the client never queues work the server has not asked for.  Compiled
 * code so that the client is not what limits a Python server.
 *
 *   echo_client (-p PORT | -u PATH) [-c CONNS] [-s SIZE] [-w WARMUP_S]
 *               [-d SECONDS] [-P SERVER_PID]
 *
 * After WARMUP_S seconds of load the measured window of SECONDS opens.  With
 * -P, the client itself samples the server's CPU time at the instants the
 * window opens and closes, so the CPU and the requests cover exactly the
 * same interval.  Prints one JSON line: requests, seconds, rps, p50_us,
 * p99_us (latency of the requests completed in the window), server_cpu_s
 * (on-CPU time from /proc/PID/task/TID/schedstat, nanosecond precision) and
 * server_stat_cpu_s (utime+stime from /proc/PID/stat, 10 ms ticks). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct conn { int fd, writing; size_t sent, recvd; uint64_t t0; };

static int ep, server_pid;
static size_t size = 1024;
static char *msg, scratch[1 << 17];
static uint64_t *lat;                 /* latencies in the window, in ns */
static size_t nlat, caplat;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "echo_client: %s: %s\n", what, errno ? strerror(errno) : "");
    exit(1);
}

/* Every thread's on-CPU time (the utime+stime figure, in ns, not ticks). */
static double server_cpu(void)
{
    char path[64], line[128];
    double total = 0;
    struct dirent *d;
    DIR *dir;
    snprintf(path, sizeof path, "/proc/%d/task", server_pid);
    if (!(dir = opendir(path)))
        die("server pid");
    while ((d = readdir(dir))) {
        if (d->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", server_pid, d->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(line, sizeof line, f))
            total += strtoull(line, NULL, 10) / 1e9;
        if (f)
            fclose(f);
    }
    closedir(dir);
    return total;
}

/* utime+stime of the whole process as /proc/PID/stat gives it (in ticks). */
static double server_stat_cpu(void)
{
    char path[64], text[1024], *p;
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(text, sizeof text, f) || !(p = strrchr(text, ')')))
        die("server stat");
    fclose(f);
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void want(struct conn *c, int writing)
{
    struct epoll_event ev = { .events = EPOLLIN | (writing ? EPOLLOUT : 0), .data.ptr = c };
    c->writing = writing;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is left of the message; wait for EPOLLOUT if the socket is full. */
static void send_rest(struct conn *c)
{
    while (c->sent < size) {
        ssize_t n = write(c->fd, msg + c->sent, size - c->sent);
        if (n < 0) {
            if (errno != EAGAIN)
                die("write");
            if (!c->writing)
                want(c, 1);
            return;
        }
        c->sent += n;
    }
    if (c->writing)
        want(c, 0);
}

static void start(struct conn *c)
{
    c->sent = c->recvd = 0;
    c->t0 = now_ns();
    send_rest(c);
}

int main(int argc, char **argv)
{
    int port = -1, conns = 100, opt, one = 1, measuring = 0;
    double warmup = 1, duration = 5, cpu0 = 0, stat0 = 0, cpu1 = 0, stat1 = 0;
    const char *path = NULL;
    struct epoll_event events[256];

    while ((opt = getopt(argc, argv, "p:u:c:s:w:d:P:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 's': size = strtoul(optarg, NULL, 10); break;
        case 'w': warmup = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'P': server_pid = atoi(optarg); break;
        default: fprintf(stderr, "see the comment at the top of echo_client.c\n"); return 2;
        }
    }
    if ((port < 0) == !path) {
        fprintf(stderr, "echo_client: give exactly one of -p PORT, -u PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    msg = malloc(size);
    memset(msg, 'x', size);
    ep = epoll_create1(0);
    struct conn *cs = calloc(conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        int fd = socket(path ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
        if (path)
            strncpy(un.sun_path, path, sizeof un.sun_path - 1);
        if (connect(fd, path ? (struct sockaddr *)&un : (struct sockaddr *)&in,
                    path ? sizeof un : sizeof in))
            die("connect");
        if (!path)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    uint64_t t_begin = now_ns(), t_open = t_begin + warmup * 1e9;
    uint64_t t_close = t_open + duration * 1e9, t_last = t_begin, t = t_begin;
    uint64_t opened = 0, requests = 0;
    for (int i = 0; i < conns; i++)
        start(&cs[i]);

    for (;;) {
        int n = epoll_wait(ep, events, 256, 50);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & EPOLLOUT)
                send_rest(c);
            if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t got = read(c->fd, scratch, sizeof scratch);
            if (got < 0 && errno == EAGAIN)
                continue;
            if (got <= 0)
                die(got ? "read" : "the server closed a connection");
            c->recvd += got;
            if (c->recvd > size)
                die("the server sent more than it was sent");
            if (c->recvd < size)
                continue;
            t = now_ns();                /* a whole echo is back */
            t_last = t;
            if (measuring) {
                if (nlat == caplat && !(lat = realloc(lat, (caplat = caplat * 2 + 65536) * sizeof *lat)))
                    die("out of memory");
                lat[nlat++] = t - c->t0;
                requests++;
            }
            start(c);
        }
        t = now_ns();
        if (!measuring && t >= t_open) {
            measuring = 1;
            opened = t;
            if (server_pid) { cpu0 = server_cpu(); stat0 = server_stat_cpu(); }
        } else if (measuring && t >= t_close) {
            if (server_pid) { cpu1 = server_cpu(); stat1 = server_stat_cpu(); }
            break;
        }
        if (t - t_last > 5000000000ull) {
            errno = 0;
            die("no echo for 5 seconds: the server stalled");
        }
    }
    double seconds = (t - opened) / 1e9;
    qsort(lat, nlat, sizeof *lat, by_value);
    double p50 = nlat ? lat[(nlat - 1) / 2] / 1e3 : 0;
    double p99 = nlat ? lat[(size_t)((nlat - 1) * 0.99)] / 1e3 : 0;
    printf("{\"requests\": %llu, \"seconds\": %.6f, \"rps\": %.1f, \"p50_us\": %.1f, "
           "\"p99_us\": %.1f, \"server_cpu_s\": %.6f, \"server_stat_cpu_s\": %.2f}\n",
           (unsigned long long)requests, seconds, requests / seconds, p50, p99,
           cpu1 - cpu0, stat1 - stat0);
    return 0;
}
