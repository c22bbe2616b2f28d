/* The ceiling: a single-threaded epoll echo server in C.
 *
 * Its CPU time per request is what the kernel costs (syscalls, TCP or Unix
 * socket work); a Python loop's overhead is its CPU/request minus this one.
 * It does what every Python echo server in servers/ does, no more: read up
 * to 64 KiB, write it back, stop reading while a write is pending.
 *
 *   echo_server -p PORT    (0: any free port on 127.0.0.1)
 *   echo_server -u PATH
 * prints "READY <port or path>" once listening. */
#define _GNU_SOURCE   /* accept4 */
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHUNK 65536   /* the read size of every Python server in the suite */

struct conn { int fd; size_t off, len; char *pending; };

static int ep;
static char buf[CHUNK];

static void watch(int op, struct conn *c, unsigned events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(ep, op, c->fd, &ev);
}

static void drop(struct conn *c) { close(c->fd); free(c->pending); free(c); }

/* Write what is pending; back to reading once it has all gone. */
static int flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = write(c->fd, c->pending + c->off, c->len - c->off);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->off += n;
    }
    c->off = c->len = 0;
    watch(EPOLL_CTL_MOD, c, EPOLLIN);
    return 0;
}

static int echo(struct conn *c)
{
    ssize_t n = read(c->fd, buf, CHUNK), w;
    if (n <= 0)
        return n < 0 && errno == EAGAIN ? 0 : -1;
    w = write(c->fd, buf, n);
    if (w < 0 && errno != EAGAIN)
        return -1;
    if (w < n) {           /* the peer is slow: keep the rest, stop reading */
        c->off = 0;
        c->len = n - (w < 0 ? 0 : w);
        if (!c->pending && !(c->pending = malloc(CHUNK)))
            return -1;
        memcpy(c->pending, buf + (n - c->len), c->len);
        watch(EPOLL_CTL_MOD, c, EPOLLOUT);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in in = { .sin_family = AF_INET };
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct rlimit rl;
    struct epoll_event events[256];
    socklen_t len = sizeof in;
    int lfd, unix_ = argc == 3 && !strcmp(argv[1], "-u"), one = 1;

    if (argc != 3 || (!unix_ && strcmp(argv[1], "-p"))) {
        fprintf(stderr, "usage: echo_server -p PORT | -u PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);          /* a peer gone mid-write is EPIPE */
    getrlimit(RLIMIT_NOFILE, &rl);     /* the scale test holds 10k sockets */
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    lfd = socket(unix_ ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (unix_) {
        strncpy(un.sun_path, argv[2], sizeof un.sun_path - 1);
        unlink(un.sun_path);
        if (bind(lfd, (struct sockaddr *)&un, sizeof un)) { perror("bind"); return 1; }
    } else {
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in.sin_port = htons(atoi(argv[2]));
        if (bind(lfd, (struct sockaddr *)&in, sizeof in)) { perror("bind"); return 1; }
        getsockname(lfd, (struct sockaddr *)&in, &len);
    }
    listen(lfd, 1024);
    ep = epoll_create1(0);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    if (unix_) printf("READY %s\n", argv[2]); else printf("READY %d\n", ntohs(in.sin_port));
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {                    /* the listener: accept them all */
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (!unix_)
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    watch(EPOLL_CTL_ADD, c, EPOLLIN);
                }
                continue;
            }
            int err = c->len ? flush(c) : echo(c);
            if (err || (events[i].events & EPOLLERR))
                drop(c);
        }
    }
}
