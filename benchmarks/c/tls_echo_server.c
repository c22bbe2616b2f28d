/* The TLS ceiling: a single-threaded epoll server in C over OpenSSL.
 *
 * What tls_echo.py's Python server does on every loop, with TLS done by
 * OpenSSL straight on the socket (no memory BIOs, no copies of our own):
 * its CPU time per request is what the kernel and OpenSSL cost, and a
 * loop's TLS overhead is its CPU/request minus this one.  Three listeners
 * on 127.0.0.1, as in tls_echo.py:
 *   echo   TLS, writes back what it reads;
 *   http   TLS, one canned response per request (a request ends with an
 *          empty line), keep-alive;
 *   plain  no TLS, echo.
 *
 *   tls_echo_server CERT_AND_KEY.pem
 * prints "READY <echo port> <http port> <plain port>"; SIGTERM stops it. */
#define _GNU_SOURCE   /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

enum kind { ECHO, HTTP, PLAIN };

static const char body[] = "Hello, World!";
static char response[256];
static size_t response_len;

struct conn {
    enum kind kind;
    int fd, listener;
    SSL *ssl;                  /* NULL for plain connections */
    int handshaken;
    char *out;                 /* what the socket did not take yet */
    size_t out_len, out_cap;
    int tail;                  /* HTTP: how much of "\r\n\r\n" ended the data */
};

static int ep;
static char buf[CHUNK];

static void watch(int op, struct conn *c, unsigned events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(ep, op, c->fd, &ev);
}

static void drop(struct conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    close(c->fd);
    free(c->out);
    free(c);
}

/* Send len bytes; what the socket does not take waits in c->out (plain) or
 * is retried with the same bytes (TLS, as OpenSSL requires).  Returns -1
 * on a dead connection, 1 when output is pending, else 0. */
static int send_out(struct conn *c, const char *data, size_t len)
{
    while (len) {
        int n;
        if (c->ssl) {
            n = SSL_write(c->ssl, data, (int)len);
            if (n <= 0) {
                int err = SSL_get_error(c->ssl, n);
                if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ)
                    return -1;
                break;
            }
        } else {
            n = (int)write(c->fd, data, len);
            if (n < 0) {
                if (errno != EAGAIN)
                    return -1;
                break;
            }
        }
        data += n;
        len -= n;
    }
    if (!len)
        return 0;
    /* Keep the rest at the front of c->out (it may already be in there,
     * and then fits). */
    if (c->out_cap < len) {
        char *grown = realloc(c->out, len);
        if (!grown)
            return -1;
        c->out = grown;
        c->out_cap = len;
    }
    memmove(c->out, data, len);
    c->out_len = len;
    watch(EPOLL_CTL_MOD, c, EPOLLOUT);
    return 1;
}

static int flush(struct conn *c)
{
    int rc;
    size_t len = c->out_len;
    c->out_len = 0;
    rc = send_out(c, c->out, len);
    if (rc == 0)
        watch(EPOLL_CTL_MOD, c, EPOLLIN);
    return rc;
}

/* HTTP: the number of requests that ended in data[0:n]. */
static int requests_in(struct conn *c, const char *data, ssize_t n)
{
    static const char end[] = "\r\n\r\n";
    int count = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (data[i] == end[c->tail])
            c->tail++;
        else
            c->tail = data[i] == '\r';
        if (c->tail == 4) {
            count++;
            c->tail = 0;
        }
    }
    return count;
}

static int reply(struct conn *c, ssize_t n)
{
    static char responses[CHUNK];
    size_t len = 0;
    if (c->kind != HTTP)
        return send_out(c, buf, (size_t)n);
    /* All the answers in one write, as the Python server does. */
    for (int count = requests_in(c, buf, n); count > 0; count--) {
        if (len + response_len > sizeof responses) {
            if (send_out(c, responses, len))
                return -1;      /* (pipelining this deep: not benchmarked) */
            len = 0;
        }
        memcpy(responses + len, response, response_len);
        len += response_len;
    }
    return len ? send_out(c, responses, len) : 0;
}

/* Readable: the handshake, or read and answer until nothing is left. */
static int on_readable(struct conn *c)
{
    if (c->ssl && !c->handshaken) {
        int rc = SSL_do_handshake(c->ssl);
        if (rc <= 0) {
            int err = SSL_get_error(c->ssl, rc);
            if (err == SSL_ERROR_WANT_READ)
                return 0;
            if (err == SSL_ERROR_WANT_WRITE) {
                watch(EPOLL_CTL_MOD, c, EPOLLOUT);
                return 0;
            }
            return -1;
        }
        c->handshaken = 1;
    }
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            n = SSL_read(c->ssl, buf, CHUNK);
            if (n <= 0) {
                int err = SSL_get_error(c->ssl, (int)n);
                return err == SSL_ERROR_WANT_READ ? 0 : -1;
            }
        } else {
            n = read(c->fd, buf, CHUNK);
            if (n <= 0)
                return n < 0 && errno == EAGAIN ? 0 : -1;
        }
        int rc = reply(c, n);
        if (rc != 0)
            return rc < 0 ? -1 : 0;    /* output pending: stop reading */
    }
}

static int listen_on(enum kind kind, int *port)
{
    struct sockaddr_in in = { .sin_family = AF_INET };
    socklen_t len = sizeof in;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&in, sizeof in) || listen(fd, 1024))
        return -1;
    getsockname(fd, (struct sockaddr *)&in, &len);
    *port = ntohs(in.sin_port);
    struct conn *l = calloc(1, sizeof *l);
    l->fd = fd;
    l->kind = kind;
    l->listener = 1;
    watch(EPOLL_CTL_ADD, l, EPOLLIN);
    return 0;
}

static void accept_all(struct conn *l, SSL_CTX *ctx)
{
    int fd, one = 1;
    while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        struct conn *c = calloc(1, sizeof *c);
        c->fd = fd;
        c->kind = l->kind;
        /* Python's transports (asyncio, uvloop, ours) set TCP_NODELAY. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (c->kind != PLAIN) {
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, fd);
            SSL_set_accept_state(c->ssl);
        }
        watch(EPOLL_CTL_ADD, c, EPOLLIN);
    }
}

int main(int argc, char **argv)
{
    struct epoll_event events[256];
    int ports[3];
    if (argc != 2) {
        fprintf(stderr, "usage: %s CERT_AND_KEY.pem\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);     /* a client gone: an error, not a kill */
    response_len = (size_t)snprintf(
        response, sizeof response,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    /* ssl.create_default_context(Purpose.CLIENT_AUTH)'s protocol floor;
     * the rest (TLS 1.3 and its cipher) is OpenSSL's default, as there. */
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, argv[1], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    ep = epoll_create1(0);
    for (int k = ECHO; k <= PLAIN; k++)
        if (listen_on((enum kind)k, &ports[k])) {
            perror("listen");
            return 1;
        }
    printf("READY %d %d %d\n", ports[ECHO], ports[HTTP], ports[PLAIN]);
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            int rc;
            if (c->listener) {
                accept_all(c, ctx);
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                rc = c->handshaken || !c->ssl ? flush(c) : on_readable(c);
                if (rc == 0 && c->out_len == 0)
                    rc = on_readable(c);   /* reading stopped meanwhile */
            } else {
                rc = on_readable(c);
            }
            if (rc < 0)
                drop(c);
        }
    }
}
