/* The JSON form of an OLMoTrace result (olmoe_trace_to_json in olmoe.h). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "olmoe.h"
#include "util/error.h"
#include "util/utf8.h"

/* The metadata line parsed, or {} when there is none (or it is not JSON). */
static cJSON *metadata_json(const char *line) {
    cJSON *m = *line ? cJSON_Parse(line) : NULL;
    if (m && cJSON_IsObject(m)) return m;
    cJSON_Delete(m);
    return cJSON_CreateObject();
}

olmoe_status olmoe_trace_to_json(const olmoe_trace_result *r, char **json) {
    cJSON *root = cJSON_CreateObject();
    cJSON *spans = cJSON_AddArrayToObject(root, "spans");
    for (size_t i = 0; i < r->n_spans; i++) {
        const olmoe_trace_span *s = &r->spans[i];
        cJSON *o = cJSON_CreateObject(), *docs;
        cJSON_AddItemToArray(spans, o);
        cJSON_AddNumberToObject(o, "start", (double)s->start);
        cJSON_AddNumberToObject(o, "end", (double)s->end);
        cJSON_AddStringToObject(o, "text", s->text);
        cJSON_AddNumberToObject(o, "count", (double)s->count);
        docs = cJSON_AddArrayToObject(o, "docs");
        for (size_t k = 0; k < s->n_docs; k++)
            cJSON_AddItemToArray(docs, cJSON_CreateNumber((double)r->docs[s->docs[k]].doc_ix));
    }
    cJSON *docs = cJSON_AddArrayToObject(root, "documents");
    for (size_t d = 0; d < r->n_docs; d++) {
        const olmoe_trace_doc *doc = &r->docs[d];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(docs, o);
        cJSON_AddNumberToObject(o, "index", (double)doc->doc_ix);
        cJSON_AddStringToObject(o, "snippet", doc->snippet);
        cJSON_AddItemToObject(o, "metadata", metadata_json(doc->metadata));
        cJSON_AddNumberToObject(o, "relevance", doc->relevance);
        cJSON_AddNumberToObject(o, "bm25", doc->bm25);
        size_t a = utf8_code_points(doc->snippet, doc->snippet_span_start);
        size_t b = a + utf8_code_points(doc->snippet + doc->snippet_span_start,
                                   doc->snippet_span_end - doc->snippet_span_start);
        cJSON *where = cJSON_AddArrayToObject(o, "snippet_span");
        cJSON_AddItemToArray(where, cJSON_CreateNumber((double)a));
        cJSON_AddItemToArray(where, cJSON_CreateNumber((double)b));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    *json = s ? strdup(s) : NULL;
    cJSON_free(s);
    return *json ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory for JSON");
}
