/* Request parsing and response JSON, in OpenAI's shapes with llama.cpp's
 * additions (timings, /tokenize, /detokenize). Every rejected request gets
 * an OpenAI error object naming the field at fault. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "server/server.h"

void api_set_error(api_error *err, int status, const char *param, const char *fmt, ...) {
    err->status = status;
    err->param = param;
    err->type = status == 401 ? "authentication_error"
              : status == 404 ? "not_found_error"
              : status >= 500 ? (status == 503 ? "unavailable_error" : "server_error")
                              : "invalid_request_error";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

char *api_error_json(const api_error *err) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", err->message);
    cJSON_AddStringToObject(e, "type", err->type);
    if (err->param) cJSON_AddStringToObject(e, "param", err->param);
    else cJSON_AddNullToObject(e, "param");
    cJSON_AddNumberToObject(e, "code", err->status);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Fields that change the answer's meaning and are not implemented: a
 * client relying on them must hear so rather than get something else. */
static int unsupported(const cJSON *req, api_error *err) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(req, "n");
    if (n && !cJSON_IsNull(n) && !(cJSON_IsNumber(n) && n->valuedouble == 1)) {
        api_set_error(err, 400, "n", "n other than 1 is not supported");
        return -1;
    }
    const char *never[] = {"tools", "functions", "tool_choice", "function_call", "suffix", NULL};
    for (int i = 0; never[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, never[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) {
            api_set_error(err, 400, never[i], "'%s' is not supported", never[i]);
            return -1;
        }
    }
    const char *flags[] = {"logprobs", "top_logprobs", "echo", NULL};
    for (int i = 0; flags[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, flags[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0)) {
            api_set_error(err, 400, flags[i], "'%s' is not supported", flags[i]);
            return -1;
        }
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (rf && !cJSON_IsNull(rf) && !(cJSON_IsString(rft) && !strcmp(rft->valuestring, "text"))) {
        api_set_error(err, 400, "response_format", "response_format other than text is not supported");
        return -1;
    }
    return 0;
}

/* Optional number field in [lo, hi]; 1 if present, 0 if absent, -1 on error. */
static int get_number(const cJSON *req, const char *name, double lo, double hi, double *out,
                      api_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        api_set_error(err, 400, name, "'%s' must be a number in [%g, %g]", name, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

static int get_bool(const cJSON *req, const char *name, int *out, api_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) {
        api_set_error(err, 400, name, "'%s' must be a boolean", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 1;
}

static int parse_stops(const cJSON *req, job *j, api_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    int n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 0 || n > 16) {
        api_set_error(err, 400, "stop", "'stop' must be a string or an array of at most 16 strings");
        return -1;
    }
    j->stops = calloc((size_t)n + 1, sizeof *j->stops);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsString(v) ? v : cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(s) || !s->valuestring[0]) {
            api_set_error(err, 400, "stop", "'stop' entries must be non-empty strings");
            return -1;
        }
        j->stops[j->n_stops++] = strdup(s->valuestring);
    }
    return 0;
}

/* The sampling fields shared by both endpoints (llama.cpp's defaults). */
static int parse_sampling(server *s, const cJSON *req, job *j, api_error *err) {
    olmoe_sampler_params *sp = &j->sampling;
    *sp = olmoe_sampler_default_params();
    double d;
    int r;
    if ((r = get_number(req, "temperature", 0, 100, &d, err)) < 0) return -1;
    if (r) sp->temperature = (float)d;
    if ((r = get_number(req, "top_p", 0, 1, &d, err)) < 0) return -1;
    if (r) sp->top_p = d > 0 ? (float)d : 1e-9f;
    if ((r = get_number(req, "top_k", 0, 1 << 24, &d, err)) < 0) return -1;
    if (r) sp->top_k = (int)d;
    if ((r = get_number(req, "min_p", 0, 1, &d, err)) < 0) return -1;
    if (r) sp->min_p = (float)d;
    if ((r = get_number(req, "repeat_penalty", 1e-6, 100, &d, err)) < 0) return -1;
    if (r) sp->repeat_penalty = (float)d;
    if ((r = get_number(req, "seed", -1, 1.8e19, &d, err)) < 0) return -1;
    if (r && d >= 0) sp->seed = (uint64_t)d;
    else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sp->seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)j;
    }
    j->max_tokens = -1;
    const char *names[] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, names[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble != (double)(long long)v->valuedouble) {
            api_set_error(err, 400, names[i], "'%s' must be a positive integer", names[i]);
            return -1;
        }
        if (v->valuedouble > s->n_ctx_slot) {
            api_set_error(err, 400, names[i], "'%s' is %.0f but the context holds %d tokens",
                          names[i], v->valuedouble, s->n_ctx_slot);
            return -1;
        }
        j->max_tokens = (int)v->valuedouble;
    }
    return parse_stops(req, j, err);
}

/* The chat messages rendered with the model's template. */
static char *render_chat(server *s, const cJSON *req, api_error *err) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        api_set_error(err, 400, "messages", "'messages' must be a non-empty array");
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(msgs);
    olmoe_chat_message *m = calloc(n, sizeof *m);
    size_t i = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content)) {
            api_set_error(err, 400, "messages", "messages[%zu] needs a string 'role' and a string "
                          "'content'", i);
            free(m);
            return NULL;
        }
        m[i].role = role->valuestring;
        m[i].content = content->valuestring;
        i++;
    }
    char *text = NULL;
    pthread_mutex_lock(&s->tok_lock);
    if (olmoe_chat_apply_template(s->model, m, n, 1, &text))
        api_set_error(err, 400, "messages", "chat template: %s", olmoe_last_error());
    pthread_mutex_unlock(&s->tok_lock);
    free(m);
    return text;
}

static int tokenize_prompt(server *s, const char *text, const char *param, job *j, api_error *err) {
    pthread_mutex_lock(&s->tok_lock);
    olmoe_status st = olmoe_tokenize(s->model, text, strlen(text), &j->prompt, &j->n_prompt);
    if (st) api_set_error(err, 400, param, "tokenize: %s", olmoe_last_error());
    pthread_mutex_unlock(&s->tok_lock);
    if (st) return -1;
    if (j->n_prompt == 0) {
        api_set_error(err, 400, param, "the prompt is empty");
        return -1;
    }
    /* One position must stay free for the first generated token. */
    if (j->n_prompt >= (size_t)s->n_ctx_slot) {
        api_set_error(err, 400, param, "the prompt has %zu tokens but the context holds %d "
                      "(at most %d prompt tokens)", j->n_prompt, s->n_ctx_slot, s->n_ctx_slot - 1);
        return -1;
    }
    /* Without max_tokens: until the end-of-sequence token or a full context. */
    if (j->max_tokens < 0) j->max_tokens = s->n_ctx_slot - (int)j->n_prompt;
    return 0;
}

int api_parse_generation(server *s, const char *body, int chat, gen_request *out, api_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *req = cJSON_Parse(body);
    if (!cJSON_IsObject(req)) {
        api_set_error(err, 400, NULL, "the request body is not a JSON object");
        cJSON_Delete(req);
        return -1;
    }
    job *j = job_new();
    char *text = NULL;
    int rc = -1;
    out->chat = chat;
    if (!j || unsupported(req, err) || parse_sampling(s, req, j, err)) goto done;
    if (get_bool(req, "stream", &out->stream, err) < 0) goto done;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (so && !cJSON_IsNull(so) && (!cJSON_IsObject(so) || get_bool(so, "include_usage", &out->include_usage, err) < 0)) {
        if (!cJSON_IsObject(so)) api_set_error(err, 400, "stream_options", "'stream_options' must be an object");
        goto done;
    }
    if (chat) {
        if (!(text = render_chat(s, req, err))) goto done;
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
        if (!cJSON_IsString(p)) {
            api_set_error(err, 400, "prompt", "'prompt' must be a string");
            goto done;
        }
        text = strdup(p->valuestring);
    }
    if (tokenize_prompt(s, text, chat ? "messages" : "prompt", j, err)) goto done;
    pthread_mutex_lock(&s->ready_lock);
    unsigned long long id = ++s->next_id;
    pthread_mutex_unlock(&s->ready_lock);
    snprintf(out->id, sizeof out->id, "%s-%llu", chat ? "chatcmpl" : "cmpl", id);
    out->created = (long long)time(NULL);
    out->job = j;
    j = NULL;
    rc = 0;
done:
    if (j) {
        j->refs = 0; /* never submitted */
        free(j->prompt);
        for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
        free(j->stops);
        free(j);
    }
    if (chat) olmoe_free(text);
    else free(text);
    cJSON_Delete(req);
    return rc;
}

static cJSON *response_base(server *s, const gen_request *r, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)r->created);
    cJSON_AddStringToObject(o, "model", s->model_id);
    return o;
}

static cJSON *usage_json(const job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->n_prompt + j->n_generated);
    return u;
}

static cJSON *timings_json(const job *j) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "cache_n", (double)j->n_prompt - j->prompt_n);
    cJSON_AddNumberToObject(t, "prompt_n", j->prompt_n);
    cJSON_AddNumberToObject(t, "prompt_ms", j->prompt_ms);
    cJSON_AddNumberToObject(t, "predicted_n", j->n_generated);
    cJSON_AddNumberToObject(t, "predicted_ms", j->predicted_ms);
    cJSON_AddNumberToObject(t, "predicted_per_second",
                            j->predicted_ms > 0 ? j->n_generated * 1e3 / j->predicted_ms : 0);
    return t;
}

static char *print_and_free(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *api_generation_json(server *s, const gen_request *r, const job *j) {
    cJSON *o = response_base(s, r, r->chat ? "chat.completion" : "text_completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    if (r->chat) {
        cJSON *m = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", j->text ? j->text : "");
    } else {
        cJSON_AddStringToObject(choice, "text", j->text ? j->text : "");
    }
    cJSON_AddStringToObject(choice, "finish_reason", j->finish_reason);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToArray(choices, choice);
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    cJSON_AddItemToObject(o, "timings", timings_json(j));
    return print_and_free(o);
}

/* Wraps a JSON object as one server-sent event. */
static char *sse_event(cJSON *o) {
    char *json = print_and_free(o);
    if (!json) return NULL;
    size_t n = strlen(json) + 9;
    char *ev = malloc(n);
    if (ev) snprintf(ev, n, "data: %s\n\n", json);
    free(json);
    return ev;
}

char *api_stream_chunk(server *s, const gen_request *r, const char *text, size_t len,
                       const char *finish_reason, int first) {
    cJSON *o = response_base(s, r, r->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    char *piece = malloc(len + 1);
    if (piece) {
        if (len) memcpy(piece, text, len);
        piece[len] = 0;
    }
    if (r->chat) {
        cJSON *d = cJSON_AddObjectToObject(choice, "delta");
        if (first) cJSON_AddStringToObject(d, "role", "assistant");
        if (text || first) cJSON_AddStringToObject(d, "content", piece ? piece : "");
    } else {
        cJSON_AddStringToObject(choice, "text", piece ? piece : "");
    }
    free(piece);
    if (finish_reason) cJSON_AddStringToObject(choice, "finish_reason", finish_reason);
    else cJSON_AddNullToObject(choice, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    return sse_event(o);
}

char *api_stream_usage(server *s, const gen_request *r, const job *j) {
    cJSON *o = response_base(s, r, r->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    cJSON_AddItemToObject(o, "timings", timings_json(j));
    return sse_event(o);
}

char *api_models_json(server *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "olmoe.c");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
    return print_and_free(o);
}

static cJSON *parse_object(const char *body, api_error *err) {
    cJSON *req = cJSON_Parse(body);
    if (!cJSON_IsObject(req)) {
        api_set_error(err, 400, NULL, "the request body is not a JSON object");
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

int api_tokenize(server *s, const char *body, char **out, api_error *err) {
    cJSON *req = parse_object(body, err);
    if (!req) return -1;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "content");
    int rc = -1;
    if (!cJSON_IsString(c)) {
        api_set_error(err, 400, "content", "'content' must be a string");
    } else {
        int32_t *ids = NULL;
        size_t n = 0;
        pthread_mutex_lock(&s->tok_lock);
        olmoe_status st = olmoe_tokenize(s->model, c->valuestring, strlen(c->valuestring), &ids, &n);
        if (st) api_set_error(err, 400, "content", "tokenize: %s", olmoe_last_error());
        pthread_mutex_unlock(&s->tok_lock);
        if (!st) {
            cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "tokens");
            for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
            *out = print_and_free(o);
            rc = 0;
        }
        olmoe_free(ids);
    }
    cJSON_Delete(req);
    return rc;
}

int api_detokenize(server *s, const char *body, char **out, api_error *err) {
    cJSON *req = parse_object(body, err);
    if (!req) return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "tokens"), *v;
    int rc = -1, n = cJSON_IsArray(t) ? cJSON_GetArraySize(t) : -1;
    int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    int i = 0, vocab = olmoe_vocab_size(s->model);
    const cJSON *arr = n > 0 ? t : NULL;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= vocab) break;
        ids[i++] = (int32_t)v->valuedouble;
    }
    if (n < 0 || i < n) {
        api_set_error(err, 400, "tokens", "'tokens' must be an array of token ids in [0, %d)", vocab);
    } else {
        char *text = NULL;
        pthread_mutex_lock(&s->tok_lock);
        olmoe_status st = olmoe_detokenize(s->model, ids, (size_t)n, 0, &text);
        if (st) api_set_error(err, 400, "tokens", "detokenize: %s", olmoe_last_error());
        pthread_mutex_unlock(&s->tok_lock);
        if (!st) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "content", text);
            *out = print_and_free(o);
            rc = 0;
        }
        olmoe_free(text);
    }
    free(ids);
    cJSON_Delete(req);
    return rc;
}

int api_trace(server *s, const char *body, char **out, api_error *err) {
    if (!s->index) {
        api_set_error(err, 404, NULL, "this server has no corpus index (start it with --index DIR)");
        return -1;
    }
    cJSON *req = parse_object(body, err);
    if (!req) return -1;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(req, "text");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    int rc = -1;
    double max_docs = 10;
    olmoe_trace_params tp = olmoe_trace_default_params();
    if (!cJSON_IsString(text)) api_set_error(err, 400, "text", "'text' must be a string");
    else if (prompt && !cJSON_IsNull(prompt) && !cJSON_IsString(prompt))
        api_set_error(err, 400, "prompt", "'prompt' must be a string");
    else if (get_number(req, "max_docs", 1, 1000, &max_docs, err) >= 0) {
        tp.prompt = cJSON_IsString(prompt) ? prompt->valuestring : NULL;
        tp.max_docs_per_span = (size_t)max_docs;
        olmoe_trace_result *res = NULL;
        if (olmoe_trace(s->index, text->valuestring, strlen(text->valuestring), &tp, &res) ||
            olmoe_trace_to_json(res, out))
            api_set_error(err, 400, "text", "trace: %s", olmoe_last_error());
        else rc = 0;
        olmoe_free(res);
    }
    cJSON_Delete(req);
    return rc;
}
