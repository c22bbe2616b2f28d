/* Native load generator for tls_echo.py: N connections over TLS (or plain
 * TCP), each with one request in flight, multiplexed with epoll.
 *
 * The Python client tls_echo.py falls back to spends about as much CPU per
 * request as the servers it measures, so it sets the pace; this one leaves
 * the server as the bottleneck (BENCHMARKING.md: native load generators).
 *
 *   tls_echo_client PORT CONNS WARMUP SECONDS REQUEST_FILE RESPONSE_SIZE [CA]
 * With CA (a PEM file) the connections are TLS, verified for "localhost".
 * Prints "START" once warmed up, then "DONE <requests> <seconds>" after
 * SECONDS more; the caller reads the server's CPU time at each line. */
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    SSL *ssl;
    size_t sent;       /* of the request being sent */
    size_t got;        /* of the response being received */
    int sending;
};

static char *request;
static size_t request_len, response_size;
static int ep;
static long done_count;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "tls_echo_client: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void watch(struct conn *c, unsigned events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send the rest of the request; 0 when all of it went. */
static int send_request(struct conn *c)
{
    while (c->sent < request_len) {
        int n;
        if (c->ssl) {
            /* No partial writes: OpenSSL sends all of it or wants a retry
             * with the same bytes. */
            n = SSL_write(c->ssl, request + c->sent,
                          (int)(request_len - c->sent));
            if (n <= 0) {
                int err = SSL_get_error(c->ssl, n);
                if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
                    return 1;
                die("SSL_write failed");
            }
        } else {
            n = (int)write(c->fd, request + c->sent, request_len - c->sent);
            if (n < 0) {
                if (errno == EAGAIN)
                    return 1;
                die("write failed");
            }
        }
        c->sent += (size_t)n;
    }
    return 0;
}

static void next_request(struct conn *c)
{
    c->sent = 0;
    c->sending = send_request(c);
    watch(c, c->sending ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void on_readable(struct conn *c)
{
    static char buf[65536];
    for (;;) {
        int n;
        if (c->ssl) {
            n = SSL_read(c->ssl, buf, sizeof buf);
            if (n <= 0) {
                if (SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_READ)
                    return;
                die("SSL_read failed (the server closed?)");
            }
        } else {
            n = (int)read(c->fd, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN)
                    return;
                die("read failed (the server closed?)");
            }
        }
        c->got += (size_t)n;
        if (c->got >= response_size) {
            if (c->got > response_size)
                die("more bytes than a response");
            c->got = 0;
            done_count++;
            next_request(c);
        }
    }
}

static void run_for(double seconds)
{
    struct epoll_event events[256];
    double end = now() + seconds;
    while (now() < end) {
        int n = epoll_wait(ep, events, 256, 10);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if ((events[i].events & EPOLLOUT) && c->sending) {
                c->sending = send_request(c);
                if (!c->sending)
                    watch(c, EPOLLIN);
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s PORT CONNS WARMUP SECONDS REQUEST_FILE "
                "RESPONSE_SIZE [CA]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), nconns = atoi(argv[2]), one = 1;
    double warmup = atof(argv[3]), seconds = atof(argv[4]);
    response_size = (size_t)atol(argv[6]);
    SSL_CTX *ctx = NULL;
    signal(SIGPIPE, SIG_IGN);

    FILE *f = fopen(argv[5], "rb");
    if (!f)
        die("cannot open the request file");
    fseek(f, 0, SEEK_END);
    request_len = (size_t)ftell(f);
    rewind(f);
    request = malloc(request_len);
    if (fread(request, 1, request_len, f) != request_len)
        die("cannot read the request file");
    fclose(f);

    if (argc == 8) {
        ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_load_verify_locations(ctx, argv[7], NULL) != 1)
            die("cannot load the CA");
    }
    ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        struct sockaddr_in in = { .sin_family = AF_INET,
                                  .sin_port = htons((unsigned short)port) };
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&in, sizeof in))
            die("connect failed");
        if (ctx) {      /* a blocking handshake, then non-blocking I/O */
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, c->fd);
            SSL_set_tlsext_host_name(c->ssl, "localhost");
            SSL_set1_host(c->ssl, "localhost");
            if (SSL_connect(c->ssl) != 1)
                die("handshake failed");
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        next_request(c);
    }
    run_for(warmup);
    printf("START\n");
    fflush(stdout);
    long before = done_count;
    double start = now();
    run_for(seconds);
    printf("DONE %ld %.6f\n", done_count - before, now() - start);
    fflush(stdout);
    return 0;
}
