/* olmoe serve, run as a user would: the real binary started on a free port
 * with models/olmoe-tiny and two slots, then driven over HTTP with a raw
 * socket client (http_client.h): the OpenAI endpoints and their streaming,
 * greedy output equal to `olmoe generate --temp 0`, stop strings,
 * max_tokens, seeds, usage, metrics, the queue (4 streams on 2 slots), a
 * client leaving mid-stream, prompt prefix reuse, every malformed request
 * answered with an error object while the server keeps serving, the API
 * key, /v1/trace over a small index, the web page, and a clean SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "cli_run.h"
#include "corpus_fixture.h"
#include "http_client.h"

static const char *cli;
static const char *model = "../models/olmoe-tiny";

typedef struct {
    pid_t pid;
    int port;
    FILE *err; /* the server's stderr */
} server_proc;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts `olmoe serve ARGS --port 0`, reads the port from its listening
 * line, and waits for /health to answer 200. */
static int server_start(server_proc *sp, const char *const *args) {
    sp->err = tmpfile();
    sp->port = 0;
    sp->pid = fork();
    if (sp->pid == 0) {
        dup2(fileno(sp->err), 2);
        const char *argv[32];
        int n = 0;
        argv[n++] = cli;
        argv[n++] = "serve";
        for (int i = 0; args[i]; i++) argv[n++] = args[i];
        argv[n++] = "--port";
        argv[n++] = "0";
        argv[n] = NULL;
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 600 && !sp->port; i++) { /* up to 60 s */
        char line[256] = {0};
        ssize_t got = pread(fileno(sp->err), line, sizeof line - 1, 0);
        const char *p = got > 0 ? strstr(line, "listening on http://127.0.0.1:") : NULL;
        if (p && strchr(p, '\n')) sp->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        else sleep_ms(100);
    }
    CHECK_MSG(sp->port > 0, "no listening line from olmoe serve");
    for (int i = 0; sp->port && i < 600; i++) {
        http_response r = http_request(sp->port, "GET", "/health", NULL, NULL);
        int st = r.status;
        if (st == 503) CHECK(r.body && strstr(r.body, "loading model"));
        http_response_free(&r);
        if (st == 200) return 0;
        sleep_ms(100);
    }
    CHECK_MSG(0, "/health never answered 200");
    return -1;
}

/* SIGTERM: the server must exit 0 (under ASan: with nothing leaked). */
static void server_stop(server_proc *sp) {
    kill(sp->pid, SIGTERM);
    int st = -1;
    for (int i = 0; i < 300; i++) {
        if (waitpid(sp->pid, &st, WNOHANG) == sp->pid) break;
        sleep_ms(100);
        if (i == 299) { kill(sp->pid, SIGKILL); waitpid(sp->pid, &st, 0); }
    }
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve exit status %d", st);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        char buf[4096] = {0};
        ssize_t got = pread(fileno(sp->err), buf, sizeof buf - 1, 0);
        if (got > 0) fprintf(stderr, "serve stderr:\n%s\n", buf);
    }
    fclose(sp->err);
}

/* POSTs a cJSON body (deleted) and parses the JSON answer. */
static cJSON *post(int port, const char *path, cJSON *body, const char *headers, int *status) {
    char *s = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    http_response r = http_request(port, "POST", path, headers, s);
    free(s);
    *status = r.status;
    cJSON *j = r.body ? cJSON_Parse(r.body) : NULL;
    http_response_free(&r);
    return j;
}

static cJSON *chat_body(const char *content, int max_tokens) {
    cJSON *b = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(b, "messages"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(b, "temperature", 0);
    cJSON_AddNumberToObject(b, "max_tokens", max_tokens);
    return b;
}

static cJSON *completion_body(const char *prompt, int max_tokens) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "prompt", prompt);
    cJSON_AddNumberToObject(b, "temperature", 0);
    cJSON_AddNumberToObject(b, "max_tokens", max_tokens);
    return b;
}

static const char *str_at(const cJSON *o, const char *path) {
    /* path: dotted keys, a digit steps into an array */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, "."))
        v = (*k >= '0' && *k <= '9') ? cJSON_GetArrayItem(v, atoi(k)) : cJSON_GetObjectItemCaseSensitive(v, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_at(const cJSON *o, const char *a, const char *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* A Prometheus sample's value (first line starting with `name`). */
static double metric(int port, const char *name) {
    http_response r = http_request(port, "GET", "/metrics", NULL, NULL);
    double v = -1;
    for (const char *p = r.body; p && (p = strstr(p, name)); p++)
        if ((p == r.body || p[-1] == '\n') && p[strlen(name)] == ' ') { v = atof(p + strlen(name)); break; }
    http_response_free(&r);
    return v;
}

/* The chat prompt rendered by `olmoe template`, and `olmoe generate --temp 0` on it. */
static void check_greedy_matches_cli(int port) {
    char path[] = "/tmp/olmoe-serve-msgs-XXXXXX";
    int fd = mkstemp(path);
    const char *msgs = "[{\"role\": \"user\", \"content\": \"What is a mixture of experts?\"}]";
    CHECK(fd >= 0 && write(fd, msgs, strlen(msgs)) == (ssize_t)strlen(msgs));
    close(fd);
    const char *targs[] = {"template", "-m", model, "--messages", path, "--add-generation-prompt",
                           "--json", NULL};
    run_result t = run_cli(cli, NULL, targs, 0);
    unlink(path);
    cJSON *tj = cJSON_Parse(t.out);
    const char *prompt = str_at(tj, "text");
    CHECK(prompt != NULL);
    if (!prompt) { free(t.out); cJSON_Delete(tj); return; }
    const char *gargs[] = {"generate", "-m", model, "-p", prompt, "--temp", "0", "-n", "12", NULL};
    run_result g = run_cli(cli, NULL, gargs, 1);
    CHECK_INT_EQ(g.status, 0);
    size_t plen = strlen(prompt), glen = g.out ? strlen(g.out) : 0;
    CHECK(glen > plen && !strncmp(g.out, prompt, plen));
    char *expected = strndup(g.out + plen, glen > plen ? glen - plen - 1 : 0); /* drop the '\n' */

    int st;
    cJSON *r = post(port, "/v1/chat/completions", chat_body("What is a mixture of experts?", 12), NULL, &st);
    CHECK_INT_EQ(st, 200);
    const char *content = str_at(r, "choices.0.message.content");
    CHECK_MSG(content && !strcmp(content, expected), "server '%s' vs CLI '%s'", content ? content : "(null)", expected);
    CHECK(str_at(r, "id") && cJSON_IsNumber(cJSON_GetObjectItem(r, "created")) && str_at(r, "model"));
    CHECK_STR_EQ(str_at(r, "object"), "chat.completion");
    CHECK_STR_EQ(str_at(r, "choices.0.message.role"), "assistant");
    const char *fr = str_at(r, "choices.0.finish_reason");
    CHECK(fr && (!strcmp(fr, "length") || !strcmp(fr, "stop")));
    /* usage: the rendered prompt's tokens */
    cJSON *tb = cJSON_CreateObject();
    cJSON_AddStringToObject(tb, "content", prompt);
    cJSON *tk = post(port, "/tokenize", tb, NULL, &st);
    int n_prompt = cJSON_GetArraySize(cJSON_GetObjectItem(tk, "tokens"));
    CHECK_INT_EQ(num_at(r, "usage", "prompt_tokens"), n_prompt);
    CHECK_INT_EQ(num_at(r, "usage", "total_tokens"),
                 num_at(r, "usage", "prompt_tokens") + num_at(r, "usage", "completion_tokens"));
    CHECK_INT_EQ(num_at(r, "timings", "predicted_n"), num_at(r, "usage", "completion_tokens"));
    CHECK(num_at(r, "timings", "prompt_ms") >= 0 && num_at(r, "timings", "predicted_per_second") >= 0);

    /* The same request streamed: the deltas concatenate to the same text. */
    cJSON *b = chat_body("What is a mixture of experts?", 12);
    cJSON_AddTrueToObject(b, "stream");
    cJSON_AddItemToObject(b, "stream_options", cJSON_Parse("{\"include_usage\": true}"));
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    http_response sr = http_request(port, "POST", "/v1/chat/completions", NULL, s);
    free(s);
    CHECK_INT_EQ(sr.status, 200);
    char ctype[128] = "";
    CHECK(http_header(&sr, "content-type", ctype, sizeof ctype) && strstr(ctype, "text/event-stream"));
    int n_ev;
    char **ev = sse_events(sr.body, &n_ev);
    CHECK(n_ev >= 3 && !strcmp(ev[n_ev - 1], "[DONE]"));
    size_t cap = 4096, len = 0;
    char *joined = calloc(cap, 1);
    int saw_finish = 0, saw_usage = 0;
    for (int i = 0; i + 1 < n_ev; i++) {
        cJSON *c = cJSON_Parse(ev[i]);
        CHECK_MSG(c != NULL, "event %d is not JSON: %s", i, ev[i]);
        const char *d = str_at(c, "choices.0.delta.content");
        if (d && len + strlen(d) < cap) { memcpy(joined + len, d, strlen(d)); len += strlen(d); }
        if (str_at(c, "choices.0.finish_reason")) saw_finish = 1;
        if (cJSON_GetObjectItem(c, "usage")) {
            saw_usage = 1;
            CHECK_INT_EQ(num_at(c, "usage", "completion_tokens"), num_at(r, "usage", "completion_tokens"));
        }
        cJSON_Delete(c);
    }
    CHECK_MSG(!strcmp(joined, content ? content : ""), "stream '%s' vs '%s'", joined, content ? content : "");
    CHECK(saw_finish && saw_usage);
    sse_free(ev, n_ev);
    free(joined);
    http_response_free(&sr);
    cJSON_Delete(tk);
    cJSON_Delete(r);
    cJSON_Delete(tj);
    free(expected);
    free(g.out);
    free(g.err);
    free(t.out);
}

static void check_completions(int port) {
    int st;
    cJSON *r = post(port, "/v1/completions", completion_body("The old man and the sea", 24), NULL, &st);
    CHECK_INT_EQ(st, 200);
    CHECK_STR_EQ(str_at(r, "object"), "text_completion");
    const char *text = str_at(r, "choices.0.text");
    CHECK(text != NULL);
    /* A stop string taken from the greedy text: the answer ends before it. */
    size_t n = text ? strlen(text) : 0, at = 0;
    for (size_t i = 4; i + 3 <= n && !at; i++)
        if (isalpha((unsigned char)text[i]) && isalpha((unsigned char)text[i + 1]) &&
            isalpha((unsigned char)text[i + 2]))
            at = i;
    CHECK_MSG(at > 0, "no ASCII word in '%s'", text ? text : "");
    if (at) {
        char stop[4];
        memcpy(stop, text + at, 3);
        stop[3] = 0;
        size_t want = (size_t)(strstr(text, stop) - text);
        cJSON *b = completion_body("The old man and the sea", 24);
        cJSON_AddItemToObject(b, "stop", cJSON_CreateStringArray((const char *[]){stop, "\x01zz"}, 2));
        cJSON *s = post(port, "/v1/completions", b, NULL, &st);
        const char *t2 = str_at(s, "choices.0.text");
        CHECK_MSG(t2 && strlen(t2) == want && !strncmp(t2, text, want), "stop '%s': '%s'", stop, t2 ? t2 : "");
        CHECK_STR_EQ(str_at(s, "choices.0.finish_reason"), "stop");
        cJSON_Delete(s);
    }
    /* max_tokens: finish_reason length with exactly that many tokens. */
    cJSON *m = post(port, "/v1/completions", completion_body("Once upon a time", 5), NULL, &st);
    CHECK_STR_EQ(str_at(m, "choices.0.finish_reason"), "length");
    CHECK_INT_EQ(num_at(m, "usage", "completion_tokens"), 5);
    cJSON_Delete(m);
    /* Seeds: the same seed samples the same text. */
    char *texts[2];
    for (int i = 0; i < 2; i++) {
        cJSON *b = completion_body("Once upon a time", 16);
        cJSON_ReplaceItemInObject(b, "temperature", cJSON_CreateNumber(1.0));
        cJSON_AddNumberToObject(b, "seed", 1234);
        cJSON_AddNumberToObject(b, "top_k", 0);
        cJSON *s = post(port, "/v1/completions", b, NULL, &st);
        texts[i] = strdup(str_at(s, "choices.0.text") ? str_at(s, "choices.0.text") : "?");
        cJSON_Delete(s);
    }
    CHECK_STR_EQ(texts[0], texts[1]);
    free(texts[0]);
    free(texts[1]);
    /* Streaming completions. */
    cJSON *b = completion_body("The old man and the sea", 24);
    cJSON_AddTrueToObject(b, "stream");
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    http_response sr = http_request(port, "POST", "/v1/completions", NULL, s);
    free(s);
    int n_ev;
    char **ev = sse_events(sr.body, &n_ev);
    char joined[4096] = "";
    for (int i = 0; i + 1 < n_ev; i++) {
        cJSON *c = cJSON_Parse(ev[i]);
        const char *d = str_at(c, "choices.0.text");
        if (d && strlen(joined) + strlen(d) < sizeof joined) strcat(joined, d);
        cJSON_Delete(c);
    }
    CHECK(n_ev >= 2 && !strcmp(ev[n_ev - 1], "[DONE]"));
    CHECK_STR_EQ(joined, text ? text : "");
    sse_free(ev, n_ev);
    http_response_free(&sr);
    cJSON_Delete(r);
}

static void check_tokenize(int port) {
    int st;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "content", "Hello world, café!");
    cJSON *t = post(port, "/tokenize", b, NULL, &st);
    CHECK_INT_EQ(st, 200);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "tokens", cJSON_Duplicate(cJSON_GetObjectItem(t, "tokens"), 1));
    cJSON *back = post(port, "/detokenize", d, NULL, &st);
    CHECK_INT_EQ(st, 200);
    CHECK_STR_EQ(str_at(back, "content") ? str_at(back, "content") : "", "Hello world, café!");
    cJSON_Delete(t);
    cJSON_Delete(back);
}

/* The text of a streamed /v1/completions answer. */
static char *stream_text(const char *sse) {
    int n;
    char **ev = sse_events(sse, &n);
    size_t len = 0;
    char *text = calloc(1, 1);
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_Parse(ev[i]);
        const char *d = str_at(c, "choices.0.text");
        if (d) {
            text = realloc(text, len + strlen(d) + 1);
            memcpy(text + len, d, strlen(d) + 1);
            len += strlen(d);
        }
        cJSON_Delete(c);
    }
    sse_free(ev, n);
    return text;
}

/* Six greedy streams on two slots: four wait in the queue, and slots
 * decode together (one batch), with prompts of different lengths starting
 * while others generate; each answer must equal that prompt decoded alone. */
static void check_queue(int port) {
    const char *prompts[3] = {"Counting sheep:", "Once upon a time, in a land far away,",
                              "The"};
    char *alone[3];
    char body[512];
    for (int p = 0; p < 3; p++) {
        snprintf(body, sizeof body, "{\"prompt\": \"%s\", \"max_tokens\": 24, \"temperature\": 0, "
                 "\"stream\": true}", prompts[p]);
        http_response r = http_request(port, "POST", "/v1/completions", NULL, body);
        CHECK_INT_EQ(r.status, 200);
        alone[p] = stream_text(r.body ? r.body : "");
        CHECK_MSG(strlen(alone[p]) > 0, "prompt %d: empty answer", p);
        http_response_free(&r);
    }
    int fds[6];
    for (int i = 0; i < 6; i++) {
        snprintf(body, sizeof body, "{\"prompt\": \"%s\", \"max_tokens\": 24, \"temperature\": 0, "
                 "\"stream\": true}", prompts[i % 3]);
        fds[i] = http_start(port, "POST", "/v1/completions", NULL, body, strlen(body));
    }
    for (int i = 0; i < 6; i++) {
        http_response r = http_finish(fds[i]);
        CHECK_INT_EQ(r.status, 200);
        int n;
        char **ev = sse_events(r.body ? r.body : "", &n);
        CHECK_MSG(n >= 2 && !strcmp(ev[n - 1], "[DONE]"), "client %d: %d events", i, n);
        sse_free(ev, n);
        char *text = stream_text(r.body ? r.body : "");
        CHECK_MSG(!strcmp(text, alone[i % 3]), "client %d decoded with others: \"%s\", alone: \"%s\"",
                  i, text, alone[i % 3]);
        free(text);
        http_response_free(&r);
    }
    for (int p = 0; p < 3; p++) free(alone[p]);
}

/* A client leaving mid-stream frees its slot: the job is cancelled (its
 * tokens are never counted as generated), and later requests complete. */
static void check_disconnect(int port) {
    double before = metric(port, "olmoe_generated_tokens_total");
    const char *body = "{\"prompt\": \"A very long story:\", \"temperature\": 1, \"stream\": true}";
    int fd = http_start(port, "POST", "/v1/completions", NULL, body, strlen(body));
    char buf[2048];
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    CHECK(got > 0);
    close(fd);
    double busy = -1;
    for (int i = 0; i < 100 && busy != 0; i++) {
        busy = metric(port, "olmoe_slots_busy");
        if (busy) sleep_ms(50);
    }
    CHECK_MSG(busy == 0, "busy slots %g after the client left", busy);
    CHECK_MSG(metric(port, "olmoe_generated_tokens_total") == before,
              "the abandoned job ran to its end instead of being cancelled");
    int st;
    for (int i = 0; i < 2; i++) {
        cJSON *r = post(port, "/v1/completions", completion_body("After the break", 4), NULL, &st);
        CHECK_INT_EQ(st, 200);
        cJSON_Delete(r);
    }
    CHECK(metric(port, "olmoe_slots_busy") == 0);
}

/* A second prompt sharing a long prefix decodes only its new tokens. */
static void check_prefix_reuse(int port) {
    char prompt[8192] = "Chapter one.";
    for (int i = 0; i < 60; i++) strcat(prompt, " The river ran past the mill.");
    int st;
    cJSON *a = post(port, "/v1/completions", completion_body(prompt, 2), NULL, &st);
    strcat(prompt, " Then it rained.");
    cJSON *b = post(port, "/v1/completions", completion_body(prompt, 2), NULL, &st);
    double pn = num_at(b, "timings", "prompt_n"), pt = num_at(b, "usage", "prompt_tokens");
    CHECK_MSG(pn > 0 && pn < 20 && pt > 300, "prompt_n %g of %g prompt tokens", pn, pt);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* Every malformed request: a 4xx with an OpenAI error object, and the
 * server still answers afterwards. */
static void expect_error(int port, const char *method, const char *path, const char *body,
                         int status, const char *needle) {
    http_response r = http_request(port, method, path, NULL, body);
    cJSON *j = r.body ? cJSON_Parse(r.body) : NULL;
    const char *msg = str_at(j, "error.message");
    CHECK_MSG(r.status == status && msg && str_at(j, "error.type") &&
              cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code") &&
              (!needle || strstr(msg, needle)),
              "%s %s: status %d (want %d), body %.300s", method, path, r.status, status,
              r.body ? r.body : "");
    cJSON_Delete(j);
    http_response_free(&r);
    http_response h = http_request(port, "GET", "/health", NULL, NULL);
    CHECK_MSG(h.status == 200, "/health after %s %s: %d", method, path, h.status);
    http_response_free(&h);
}

static void check_errors(int port) {
    const char *chat = "/v1/chat/completions";
    expect_error(port, "POST", chat, "{\"messages\": [", 400, NULL);
    expect_error(port, "POST", chat, "[1, 2]", 400, NULL);
    expect_error(port, "POST", chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                 "\"temperature\": \"hot\"}", 400, "temperature");
    expect_error(port, "POST", chat, "{\"messages\": []}", 400, "messages");
    expect_error(port, "POST", chat, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "content");
    expect_error(port, "POST", chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 2}",
                 400, "not supported");
    expect_error(port, "POST", chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                 "\"tools\": [{\"type\": \"function\"}]}", 400, "not supported");
    expect_error(port, "POST", chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                 "\"max_tokens\": 100000}", 400, "max_tokens");
    expect_error(port, "POST", "/v1/completions", "{\"prompt\": 7}", 400, "prompt");
    expect_error(port, "POST", "/v1/completions", "{\"prompt\": \"hi\", \"stop\": 3}", 400, "stop");
    /* a prompt longer than the context: the message names the counts */
    size_t n = 6000 * 6 + 64;
    char *big = malloc(n);
    strcpy(big, "{\"prompt\": \"");
    for (int i = 0; i < 6000; i++) memcpy(big + 12 + 6 * i, " hello", 7);
    strcat(big, "\"}");
    expect_error(port, "POST", "/v1/completions", big, 400, "tokens but the context holds");
    free(big);
    /* a body over 1 MiB */
    size_t huge = (1u << 20) + 1000;
    char *h = malloc(huge + 1);
    memset(h, ' ', huge);
    h[huge] = 0;
    expect_error(port, "POST", chat, h, 413, NULL);
    free(h);
    expect_error(port, "GET", "/v1/nothing", NULL, 404, NULL);
    expect_error(port, "GET", chat, NULL, 405, NULL);
    expect_error(port, "POST", "/v1/trace", "{\"text\": \"hi\"}", 404, "index");
    expect_error(port, "POST", "/detokenize", "{\"tokens\": [\"a\"]}", 400, "tokens");
}

static void check_basics(int port) {
    http_response r = http_request(port, "GET", "/v1/models", NULL, NULL);
    cJSON *j = cJSON_Parse(r.body ? r.body : "");
    CHECK_STR_EQ(str_at(j, "data.0.id") ? str_at(j, "data.0.id") : "", "olmoe-tiny");
    CHECK_STR_EQ(str_at(j, "data.0.owned_by") ? str_at(j, "data.0.owned_by") : "", "olmoe.c");
    cJSON_Delete(j);
    http_response_free(&r);
    r = http_request(port, "GET", "/", NULL, NULL);
    char ctype[128] = "";
    CHECK_INT_EQ(r.status, 200);
    CHECK(http_header(&r, "content-type", ctype, sizeof ctype) && strstr(ctype, "text/html"));
    for (char *p = r.body; p && *p; p++) *p = (char)tolower((unsigned char)*p);
    CHECK(r.body && strstr(r.body, "<html"));
    CHECK(!http_header(&r, "access-control-allow-origin", ctype, sizeof ctype)); /* no --cors */
    http_response_free(&r);
}

/* Waits until /metrics shows `name` at `want`. */
static int wait_metric(int port, const char *name, double want, const char *auth) {
    for (int i = 0; i < 200; i++) {
        http_response r = http_request(port, "GET", "/metrics", auth, NULL);
        char key[96];
        snprintf(key, sizeof key, "\n%s ", name);
        const char *p = r.body ? strstr(r.body, key) : NULL;
        double v = p ? atof(p + strlen(key)) : -1;
        http_response_free(&r);
        if (v == want) return 1;
        sleep_ms(25);
    }
    return 0;
}

/* One slot and a queue of one: a third request gets 503 with an error
 * object, and once the others leave the server serves again. */
static void check_queue_full(int port, const char *auth) {
    const char *body = "{\"prompt\": \"A very long story:\", \"temperature\": 1, \"stream\": true}";
    int running = http_start(port, "POST", "/v1/completions", auth, body, strlen(body));
    CHECK_MSG(wait_metric(port, "olmoe_slots_busy", 1, auth), "the first request never started");
    int waiting = http_start(port, "POST", "/v1/completions", auth, body, strlen(body));
    CHECK_MSG(wait_metric(port, "olmoe_queue_depth", 1, auth), "the second request never queued");
    http_response r = http_request(port, "POST", "/v1/completions", auth,
                                   "{\"prompt\": \"one more\", \"max_tokens\": 2}");
    CHECK_INT_EQ(r.status, 503);
    CHECK(r.body && strstr(r.body, "\"error\"") && strstr(r.body, "too many requests"));
    http_response_free(&r);
    close(waiting);
    close(running);
    CHECK_MSG(wait_metric(port, "olmoe_slots_busy", 0, auth) && wait_metric(port, "olmoe_queue_depth", 0, auth),
              "the slot and queue did not empty after the clients left");
    r = http_request(port, "POST", "/v1/completions", auth, "{\"prompt\": \"one more\", \"max_tokens\": 2}");
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
}

/* A second server: API key, CORS, and /v1/trace over an index built here. */
static void check_key_cors_trace(const char *shared) {
    corpus_fixture f;
    CHECK(fixture_open(&f, "olmoe-serve") == 0);
    for (int i = 0; i < 20; i++) {
        char text[512] = "";
        uint64_t rng = (uint64_t)i + 1;
        filler(text, sizeof text, &rng, 30);
        if (i == 7) strcat(text, " the Quizzical Lighthouse keeper counted seventeen gulls");
        fixture_add(&f, text, "doc");
    }
    CHECK_MSG(fixture_build(&f, shared) == OLMOE_OK, "%s", olmoe_last_error());
    server_proc sp;
    const char *args[] = {"-m", model, "-np", "1", "--queue", "1", "--api-key", "s3cret", "--cors",
                          "http://example.test", "--index", f.index, NULL};
    if (server_start(&sp, args) == 0) {
        http_response r = http_request(sp.port, "GET", "/v1/models", NULL, NULL);
        CHECK_INT_EQ(r.status, 401);
        CHECK(r.body && strstr(r.body, "\"error\""));
        http_response_free(&r);
        r = http_request(sp.port, "GET", "/v1/models", "Authorization: Bearer wrong\r\n", NULL);
        CHECK_INT_EQ(r.status, 401);
        http_response_free(&r);
        const char *auth = "Authorization: Bearer s3cret\r\n";
        r = http_request(sp.port, "GET", "/v1/models", auth, NULL);
        char v[128] = "";
        CHECK_INT_EQ(r.status, 200);
        CHECK(http_header(&r, "access-control-allow-origin", v, sizeof v) && !strcmp(v, "http://example.test"));
        http_response_free(&r);
        r = http_request(sp.port, "OPTIONS", "/v1/chat/completions", NULL, NULL);
        CHECK(r.status == 204 && http_header(&r, "access-control-allow-methods", v, sizeof v));
        http_response_free(&r);
        int st;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "text", "The Quizzical Lighthouse keeper counted seventeen gulls.");
        cJSON_AddStringToObject(b, "prompt", "Tell me about lighthouses");
        cJSON_AddNumberToObject(b, "max_docs", 3);
        cJSON *t = post(sp.port, "/v1/trace", b, auth, &st);
        CHECK_INT_EQ(st, 200);
        cJSON *spans = cJSON_GetObjectItem(t, "spans"), *docs = cJSON_GetObjectItem(t, "documents");
        CHECK(cJSON_GetArraySize(spans) >= 1 && cJSON_GetArraySize(docs) >= 1);
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetArrayItem(docs, 0), "metadata")));
        cJSON_Delete(t);
        check_queue_full(sp.port, auth);
        server_stop(&sp);
    }
    fixture_remove(&f);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_server SHARED_DIR OLMOE_CLI\n");
        return 2;
    }
    if (cli_unavailable("test_server")) return check_report("test_server");
    cli = argv[2];
    server_proc sp;
    const char *args[] = {"-m", model, "-np", "2", "-c", "4096", NULL};
    if (server_start(&sp, args) == 0) {
        int port = sp.port;
        fprintf(stderr, "test_server: %s\n", "check_basics");
        check_basics(port);
        double gen0 = metric(port, "olmoe_generated_tokens_total");
        fprintf(stderr, "test_server: %s\n", "check_greedy_matches_cli");
        check_greedy_matches_cli(port);
        fprintf(stderr, "test_server: %s\n", "check_completions");
        check_completions(port);
        fprintf(stderr, "test_server: %s\n", "check_tokenize");
        check_tokenize(port);
        double gen1 = metric(port, "olmoe_generated_tokens_total");
        CHECK_MSG(gen1 > gen0 && metric(port, "olmoe_prompt_tokens_total") > 0, "metrics %g -> %g", gen0, gen1);
        fprintf(stderr, "test_server: %s\n", "check_queue");
        check_queue(port);
        fprintf(stderr, "test_server: %s\n", "check_disconnect");
        check_disconnect(port);
        fprintf(stderr, "test_server: %s\n", "check_prefix_reuse");
        check_prefix_reuse(port);
        fprintf(stderr, "test_server: %s\n", "check_errors");
        check_errors(port);
        http_response r = http_request(port, "GET", "/metrics", NULL, NULL);
        CHECK(r.body && strstr(r.body, "olmoe_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"}"));
        http_response_free(&r);
        server_stop(&sp);
    }
    check_key_cors_trace(argv[1]);
    return check_report("test_server");
}
