/* The HTTP side of olmoe serve: a libmicrohttpd daemon with one thread per
 * connection, so a handler may block while its job waits in the queue or
 * decodes. Routing, the API key, the body limit, CORS and error replies
 * live here; request and response JSON in api.c; decoding in slots.c.
 *
 * A client that disconnects frees its slot at the scheduler's next step:
 * a streaming response notices when a write fails (libmicrohttpd then
 * calls the content reader's free callback, which cancels the job); a
 * waiting handler (non-streaming, or a stream still queued) peeks at its
 * socket every 100 ms and cancels the job when the peer has closed it. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/server.h"

#define BODY_LIMIT (1u << 20)  /* bytes of a request body */
#define WAIT_MS 100            /* how often a waiting handler checks its client */
#define CONNECTION_TIMEOUT 120 /* seconds a connection may stay idle */

/* The state of one HTTP request while its body arrives. */
typedef struct {
    char *body;
    size_t len, cap;
    int too_large;
} request;

/* A streamed generation: the content reader's state. */
typedef struct {
    server *s;
    gen_request req;
    int fd;                /* the client's socket, to notice it leaving while queued */
    size_t sent;           /* bytes of the job's text already sent */
    int started, finished; /* role chunk sent; [DONE] queued */
    char *out;             /* events not yet handed to libmicrohttpd */
    size_t out_len, out_pos;
} stream;

enum route_id { R_HEALTH, R_MODELS, R_METRICS, R_PAGE, R_CHAT, R_COMPLETIONS, R_TOKENIZE,
                R_DETOKENIZE, R_TRACE };

static const struct {
    const char *path, *method, *label; /* label: the endpoint in metrics */
    enum route_id id;
    int needs_model;
} routes[] = {
    {"/health", "GET", "/health", R_HEALTH, 0},
    {"/v1/health", "GET", "/health", R_HEALTH, 0},
    {"/v1/models", "GET", "/v1/models", R_MODELS, 0},
    {"/models", "GET", "/v1/models", R_MODELS, 0},
    {"/metrics", "GET", "/metrics", R_METRICS, 0},
    {"/", "GET", "/", R_PAGE, 0},
    {"/index.html", "GET", "/", R_PAGE, 0},
    {"/v1/chat/completions", "POST", "/v1/chat/completions", R_CHAT, 1},
    {"/chat/completions", "POST", "/v1/chat/completions", R_CHAT, 1},
    {"/v1/completions", "POST", "/v1/completions", R_COMPLETIONS, 1},
    {"/completions", "POST", "/v1/completions", R_COMPLETIONS, 1},
    {"/tokenize", "POST", "/tokenize", R_TOKENIZE, 1},
    {"/detokenize", "POST", "/detokenize", R_DETOKENIZE, 1},
    {"/v1/trace", "POST", "/v1/trace", R_TRACE, 0},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

int server_is_ready(server *s) {
    pthread_mutex_lock(&s->ready_lock);
    int r = s->ready;
    pthread_mutex_unlock(&s->ready_lock);
    return r;
}

/* 1 when the peer has closed the connection (or it broke). */
static int client_gone(int fd) {
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static void add_cors(server *s, struct MHD_Response *resp) {
    if (s->cors) MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->cors);
}

/* Queues resp with its Content-Type (and CORS header if asked for),
 * releases it, and counts the request. Every response goes through here. */
static enum MHD_Result send_response(server *s, struct MHD_Connection *c, const char *label,
                                     int status, const char *ctype, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Content-Type", ctype);
    add_cors(s, resp);
    enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    metrics_request(&s->metrics, label, status);
    return r;
}

/* Sends a complete body (taking ownership of a malloc'ed `body`). */
static enum MHD_Result reply(server *s, struct MHD_Connection *c, const char *label, int status,
                             const char *ctype, char *body) {
    const char *text = body ? body : "";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text,
                                        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (status == 405) MHD_add_response_header(resp, "Allow", "GET, POST, OPTIONS");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    return send_response(s, c, label, status, ctype, resp);
}

static enum MHD_Result reply_json(server *s, struct MHD_Connection *c, const char *label, int status,
                                  char *json) {
    return reply(s, c, label, status, "application/json; charset=utf-8", json);
}

static enum MHD_Result reply_error(server *s, struct MHD_Connection *c, const char *label,
                                   const api_error *err) {
    return reply_json(s, c, label, err->status, api_error_json(err));
}

static enum MHD_Result fail(server *s, struct MHD_Connection *c, const char *label, int status,
                            const char *param, const char *message) {
    api_error err;
    api_set_error(&err, status, param, "%s", message);
    return reply_error(s, c, label, &err);
}

/* ------------------------------------------------------------ streaming */

/* How much of text[0..n) ends on a whole UTF-8 character: an incomplete
 * trailing sequence waits for the token that completes it. */
static size_t utf8_whole(const char *text, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)text[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

static int out_append(stream *st, char *ev) {
    if (!ev) return -1;
    size_t n = strlen(ev);
    char *g = realloc(st->out, st->out_len + n + 1);
    if (!g) { free(ev); return -1; }
    memcpy(g + st->out_len, ev, n + 1);
    st->out = g;
    st->out_len += n;
    free(ev);
    return 0;
}

static void record_tokens(server *s, const job *j) {
    double tps = j->predicted_ms > 0 ? j->n_generated * 1e3 / j->predicted_ms : 0;
    metrics_tokens(&s->metrics, j->prompt_n, j->n_generated, tps);
}

/* Waits for new text and queues the events for it; the final delta, the
 * usage chunk and [DONE] once the job is finished. -1: client gone. */
static int next_events(stream *st) {
    scheduler *sc = &st->s->sched;
    job *j = st->req.job;
    if (!st->started) {
        st->started = 1;
        if (st->req.chat) return out_append(st, api_stream_chunk(st->s, &st->req, NULL, 0, NULL, 1));
    }
    pthread_mutex_lock(&sc->lock);
    while (!j->finish_reason && utf8_whole(j->text, j->safe_len) <= st->sent) {
        /* Wait for text beyond what we have, including a held-back partial character. */
        sched_wait(sc, j, j->safe_len > st->sent ? j->safe_len : st->sent, WAIT_MS);
        if (!j->finish_reason && st->fd >= 0 && client_gone(st->fd)) {
            pthread_mutex_unlock(&sc->lock);
            return -1;
        }
    }
    int done = j->finish_reason != NULL;
    size_t upto = done ? j->len : utf8_whole(j->text, j->safe_len);
    int rc = 0;
    if (upto > st->sent)
        rc = out_append(st, api_stream_chunk(st->s, &st->req, j->text + st->sent, upto - st->sent,
                                             NULL, 0));
    st->sent = upto;
    if (done && !rc) {
        if (j->error) {
            api_error err;
            api_set_error(&err, 500, NULL, "%s", j->error);
            char *e = api_error_json(&err);
            size_t n = e ? strlen(e) + 9 : 0;
            char *ev = e ? malloc(n) : NULL;
            if (ev) snprintf(ev, n, "data: %s\n\n", e);
            free(e);
            rc = out_append(st, ev);
        } else {
            rc = out_append(st, api_stream_chunk(st->s, &st->req, NULL, 0, j->finish_reason, 0));
            if (!rc && st->req.include_usage) rc = out_append(st, api_stream_usage(st->s, &st->req, j));
            record_tokens(st->s, j);
        }
        if (!rc) rc = out_append(st, strdup("data: [DONE]\n\n"));
        st->finished = 1;
    }
    pthread_mutex_unlock(&sc->lock);
    return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream *st = cls;
    while (st->out_pos == st->out_len) {
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        free(st->out);
        st->out = NULL;
        st->out_len = st->out_pos = 0;
        if (next_events(st)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out_len - st->out_pos < max ? st->out_len - st->out_pos : max;
    memcpy(buf, st->out + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

/* libmicrohttpd is done with the response: finished, or the client left
 * (then the job is cancelled and its slot freed at the next step). */
static void stream_free(void *cls) {
    stream *st = cls;
    sched_release(&st->s->sched, st->req.job);
    free(st->out);
    free(st);
}

/* ----------------------------------------------------------- endpoints */

static enum MHD_Result generation(server *s, struct MHD_Connection *c, const char *label,
                                  const char *body, int chat) {
    gen_request req;
    api_error err;
    if (api_parse_generation(s, body, chat, &req, &err)) return reply_error(s, c, label, &err);
    job *j = req.job;
    if (sched_submit(&s->sched, j)) {
        sched_release(&s->sched, j);
        return fail(s, c, label, 503, NULL, "the server is busy: too many requests are waiting");
    }
    int fd = connection_fd(c);
    if (req.stream) {
        stream *st = calloc(1, sizeof *st);
        if (!st) { sched_release(&s->sched, j); return MHD_NO; }
        st->s = s;
        st->req = req;
        st->fd = fd;
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        return send_response(s, c, label, 200, "text/event-stream", resp);
    }
    pthread_mutex_lock(&s->sched.lock);
    while (!j->finish_reason) {
        sched_wait(&s->sched, j, (size_t)-1, WAIT_MS);
        if (!j->finish_reason && fd >= 0 && client_gone(fd)) {
            pthread_mutex_unlock(&s->sched.lock);
            sched_release(&s->sched, j);
            metrics_request(&s->metrics, label, 499); /* nginx's "client closed request" */
            return MHD_NO;
        }
    }
    char *json = j->error ? NULL : api_generation_json(s, &req, j);
    if (!j->error) record_tokens(s, j);
    api_set_error(&err, 500, NULL, "%s", j->error ? j->error : "");
    pthread_mutex_unlock(&s->sched.lock);
    sched_release(&s->sched, j);
    return json ? reply_json(s, c, label, 200, json) : reply_error(s, c, label, &err);
}

static enum MHD_Result json_call(server *s, struct MHD_Connection *c, const char *label,
                                 const char *body,
                                 int (*fn)(server *, const char *, char **, api_error *)) {
    char *out = NULL;
    api_error err;
    if (fn(s, body, &out, &err)) return reply_error(s, c, label, &err);
    return reply_json(s, c, label, 200, out);
}

static enum MHD_Result dispatch(server *s, struct MHD_Connection *c, int route, const char *body) {
    const char *label = routes[route].label;
    int busy, queued;
    switch (routes[route].id) {
    case R_HEALTH:
        return server_is_ready(s) ? reply_json(s, c, label, 200, strdup("{\"status\": \"ok\"}"))
                                  : reply_json(s, c, label, 503, strdup("{\"status\": \"loading model\"}"));
    case R_MODELS: return reply_json(s, c, label, 200, api_models_json(s));
    case R_METRICS:
        sched_counts(&s->sched, &busy, &queued);
        return reply(s, c, label, 200, "text/plain; version=0.0.4",
                     metrics_render(&s->metrics, busy, queued, s->n_slots));
    case R_PAGE: {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            web_index_html_len, (void *)web_index_html, MHD_RESPMEM_PERSISTENT);
        return send_response(s, c, label, 200, "text/html; charset=utf-8", resp);
    }
    case R_CHAT: return generation(s, c, label, body, 1);
    case R_COMPLETIONS: return generation(s, c, label, body, 0);
    case R_TOKENIZE: return json_call(s, c, label, body, api_tokenize);
    case R_DETOKENIZE: return json_call(s, c, label, body, api_detokenize);
    case R_TRACE: return json_call(s, c, label, body, api_trace);
    }
    return MHD_NO;
}

static int authorized(server *s, struct MHD_Connection *c) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, s->api_key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    server *s = cls;
    request *r = *con_cls;
    if (!r) { /* headers only so far */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body; beyond the limit it is read and dropped */
        if (!r->too_large && r->len + *upload_size > BODY_LIMIT) r->too_large = 1;
        if (!r->too_large) {
            if (r->len + *upload_size + 1 > r->cap) {
                size_t cap = (r->len + *upload_size + 1) * 2;
                char *g = realloc(r->body, cap < BODY_LIMIT + 1 ? cap : BODY_LIMIT + 1);
                if (!g) return MHD_NO;
                r->body = g;
                r->cap = cap < BODY_LIMIT + 1 ? cap : BODY_LIMIT + 1;
            }
            memcpy(r->body + r->len, upload, *upload_size);
            r->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    int route = -1, path_known = 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(routes[i].path, url)) continue;
        path_known = 1;
        if (!strcmp(routes[i].method, method)) route = (int)i;
    }
    if (!path_known) return fail(s, c, "other", 404, NULL, "unknown endpoint");
    if (!strcmp(method, "OPTIONS") && s->cors) { /* CORS preflight */
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        add_cors(s, resp);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
        enum MHD_Result res = MHD_queue_response(c, 204, resp);
        MHD_destroy_response(resp);
        return res;
    }
    if (route < 0) return fail(s, c, "other", 405, NULL, "method not allowed for this endpoint");
    const char *label = routes[route].label;
    if (routes[route].id != R_HEALTH && !authorized(s, c))
        return fail(s, c, label, 401, NULL, "invalid or missing API key (Authorization: Bearer KEY)");
    if (r->too_large) return fail(s, c, label, 413, NULL, "the request body exceeds 1 MiB");
    if (routes[route].needs_model && !server_is_ready(s))
        return fail(s, c, label, 503, NULL, "loading model");
    if (r->body) r->body[r->len] = 0;
    return dispatch(s, c, route, r->body ? r->body : "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    request *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------ lifetime */

typedef struct {
    server *s;
    int failed;
} loader;

/* Loads the model and starts the slots while the daemon already answers
 * /health with 503; on failure the main thread is told to exit. */
static void *load_in_background(void *arg) {
    loader *ld = arg;
    server *s = ld->s;
    olmoe_model_params mp = olmoe_model_default_params();
    mp.n_threads = s->threads;
    olmoe_model *m;
    if (olmoe_model_load(s->model_path, &mp, &m)) {
        fprintf(stderr, "olmoe serve: cannot load model: %s\n", olmoe_last_error());
        ld->failed = 1;
        kill(getpid(), SIGUSR1);
        return NULL;
    }
    olmoe_model_info info;
    olmoe_model_get_info(m, &info);
    int n_ctx = s->n_ctx > 0 ? s->n_ctx : 2048;
    if (info.max_context > 0 && n_ctx > info.max_context) n_ctx = info.max_context;
    s->model = m;
    if (sched_start(&s->sched, m, s->n_slots, n_ctx, s->threads, s->queue_max)) {
        fprintf(stderr, "olmoe serve: cannot create the slots: %s\n", olmoe_last_error());
        ld->failed = 1;
        kill(getpid(), SIGUSR1);
        return NULL;
    }
    pthread_mutex_lock(&s->ready_lock);
    s->n_ctx_slot = s->sched.n_ctx;
    s->ready = 1;
    pthread_mutex_unlock(&s->ready_lock);
    return NULL;
}

static int open_indexes(server *s) {
    if (!s->n_index) return 0;
    if (olmoe_index_open(s->index_dirs, s->n_index, NULL, &s->index)) {
        fprintf(stderr, "olmoe serve: cannot open index: %s\n", olmoe_last_error());
        return -1;
    }
    return 0;
}

static struct MHD_Daemon *listen_on(server *s, struct sockaddr_in *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)s->port);
    if (inet_pton(AF_INET, s->host, &addr->sin_addr) != 1) {
        fprintf(stderr, "olmoe serve: --host expects an IPv4 address, got '%s'\n", s->host);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC,
        (uint16_t)s->port, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
        MHD_OPTION_END);
    if (!d) fprintf(stderr, "olmoe serve: cannot listen on %s:%d: %s\n", s->host, s->port, strerror(errno));
    return d;
}

int server_run(server *s) {
    struct stat sb;
    if (stat(s->model_path, &sb)) { /* checked now: the model itself loads after listening */
        fprintf(stderr, "olmoe serve: cannot load model: %s: %s\n", s->model_path, strerror(errno));
        return 1;
    }
    const char *base = strrchr(s->model_path, '/');
    snprintf(s->model_id, sizeof s->model_id, "%s", base && base[1] ? base + 1 : s->model_path);
    size_t n = strlen(s->model_id);
    while (n > 1 && s->model_id[n - 1] == '/') s->model_id[--n] = 0;
    if (open_indexes(s)) return 1;

    /* Signals go to sigwait below, not to whichever thread runs. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_mutex_init(&s->ready_lock, NULL);
    pthread_mutex_init(&s->tok_lock, NULL);
    pthread_mutex_init(&s->sched.lock, NULL);
    pthread_cond_init(&s->sched.wake, NULL);
    pthread_cond_init(&s->sched.progress, NULL);
    metrics_init(&s->metrics);

    struct sockaddr_in addr;
    struct MHD_Daemon *d = listen_on(s, &addr);
    int rc = 1;
    if (d) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        fprintf(stderr, "olmoe serve: listening on http://%s:%u\n", s->host,
                di ? (unsigned)di->port : (unsigned)s->port);
        loader ld = {s, 0};
        pthread_t lt;
        if (!pthread_create(&lt, NULL, load_in_background, &ld)) {
            int sig;
            sigwait(&sigs, &sig);
            pthread_join(lt, NULL);
            rc = ld.failed;
        }
        sched_stop(&s->sched); /* ends every job, so waiting handlers return */
        MHD_stop_daemon(d);
    }
    metrics_free(&s->metrics);
    olmoe_model_free(s->model);
    olmoe_index_free(s->index);
    pthread_cond_destroy(&s->sched.wake);
    pthread_cond_destroy(&s->sched.progress);
    pthread_mutex_destroy(&s->sched.lock);
    pthread_mutex_destroy(&s->tok_lock);
    pthread_mutex_destroy(&s->ready_lock);
    return rc;
}
