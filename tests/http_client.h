/* A small HTTP/1.1 client over raw sockets for the server tests: one
 * request per connection (Connection: close), chunked bodies decoded, and
 * server-sent events split into their data lines. */
#ifndef OLMOE_TEST_HTTP_CLIENT_H
#define OLMOE_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int status;    /* 0 if the connection failed */
    char *headers; /* the header block, lower-cased */
    char *body;    /* decoded, NUL-terminated */
    size_t body_len;
} http_response;

static void http_response_free(http_response *r) {
    free(r->headers);
    free(r->body);
    r->headers = r->body = NULL;
}

static int http_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static int http_send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Opens a connection and sends one request; returns the socket or -1.
 * extra_headers: "Name: value\r\n" lines or NULL. */
static int http_start(int port, const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t body_len) {
    int fd = http_connect(port);
    if (fd < 0) return -1;
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
                     "%s%zu\r\n\r\n", method, path, port, extra_headers ? extra_headers : "",
                     body ? "Content-Type: application/json\r\nContent-Length: " : "Content-Length: ",
                     body ? body_len : (size_t)0);
    if (http_send_all(fd, head, (size_t)n) || (body && http_send_all(fd, body, body_len))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the whole response until the server closes the connection. */
static http_response http_finish(int fd) {
    http_response r = {0, NULL, NULL, 0};
    size_t cap = 1 << 16, n = 0;
    char *raw = malloc(cap);
    ssize_t got;
    while ((got = recv(fd, raw + n, cap - n - 1, 0)) > 0) {
        n += (size_t)got;
        if (n + 1 == cap) raw = realloc(raw, cap *= 2);
    }
    close(fd);
    raw[n] = 0;
    char *end = strstr(raw, "\r\n\r\n");
    if (!end || sscanf(raw, "HTTP/1.%*d %d", &r.status) != 1) {
        free(raw);
        r.status = 0;
        return r;
    }
    size_t hlen = (size_t)(end - raw);
    r.headers = malloc(hlen + 1);
    for (size_t i = 0; i < hlen; i++) r.headers[i] = (char)tolower((unsigned char)raw[i]);
    r.headers[hlen] = 0;
    const char *p = end + 4, *stop = raw + n;
    r.body = malloc((size_t)(stop - p) + 1);
    if (strstr(r.headers, "transfer-encoding: chunked")) {
        while (p < stop) {
            unsigned long len = strtoul(p, NULL, 16);
            const char *data = strstr(p, "\r\n");
            if (!len || !data || data + 2 + len > stop) break;
            memcpy(r.body + r.body_len, data + 2, len);
            r.body_len += len;
            p = data + 2 + len + 2;
        }
    } else {
        r.body_len = (size_t)(stop - p);
        memcpy(r.body, p, r.body_len);
    }
    r.body[r.body_len] = 0;
    free(raw);
    return r;
}

static http_response http_request(int port, const char *method, const char *path,
                                  const char *extra_headers, const char *body) {
    int fd = http_start(port, method, path, extra_headers, body, body ? strlen(body) : 0);
    if (fd < 0) {
        http_response r = {0, NULL, NULL, 0};
        return r;
    }
    return http_finish(fd);
}

/* The value of a (lower-case) header, copied into out; 0 if missing. */
static int http_header(const http_response *r, const char *name, char *out, size_t cap) {
    char key[128];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *h = r->headers ? strstr(r->headers, key) : NULL;
    if (!h) return 0;
    h += strlen(key);
    while (*h == ' ') h++;
    size_t n = strcspn(h, "\r\n");
    if (n >= cap) n = cap - 1;
    memcpy(out, h, n);
    out[n] = 0;
    return 1;
}

/* The payloads of the "data: " lines of an SSE body, in order; *n set. */
static char **sse_events(const char *body, int *n) {
    int cap = 16;
    char **ev = malloc((size_t)cap * sizeof *ev);
    *n = 0;
    for (const char *p = body; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len >= 6 && !strncmp(p, "data: ", 6)) {
            if (*n == cap) ev = realloc(ev, (size_t)(cap *= 2) * sizeof *ev);
            ev[*n] = malloc(len - 5);
            memcpy(ev[*n], p + 6, len - 6);
            ev[*n][len - 6] = 0;
            (*n)++;
        }
        p = eol ? eol + 1 : NULL;
    }
    return ev;
}

static void sse_free(char **ev, int n) {
    for (int i = 0; i < n; i++) free(ev[i]);
    free(ev);
}

#endif
