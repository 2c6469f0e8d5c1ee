/* Tokenizer tests: Hugging Face reference ids/decodes for both shipped
 * tokenizer.json files, round trips, synthetic tokenizers exercising Split
 * behaviours and added-token options, and bad-input errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <utf8proc.h>

#include "check.h"
#include "tokenizer/tokenizer.h"
#include "util/file.h"

static char *read_text(const char *path) {
    char *data = NULL;
    size_t len;
    if (file_read_all(path, &data, &len)) return NULL;
    return data;
}

/* Every reference line: ids equal and decode(ids) equal. */
static void check_reference(const tokenizer *tok, const char *ref_path, const char *name) {
    char *data = read_text(ref_path);
    CHECK_MSG(data != NULL, "cannot read %s", ref_path);
    if (!data) return;
    int lines = 0, pass = 0;
    tokenizer_session *sess = NULL;
    CHECK(tokenizer_session_new(tok, &sess) == OLMOE_OK);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        CHECK_MSG(j != NULL, "%s: bad reference line %d", ref_path, lines + 1);
        if (!j) continue;
        lines++;
        const cJSON *text = cJSON_GetObjectItem(j, "text");
        const cJSON *ids = cJSON_GetObjectItem(j, "ids");
        const cJSON *decoded = cJSON_GetObjectItem(j, "decoded");
        int32_t *got = NULL;
        size_t n = 0;
        olmoe_status st = tokenizer_encode(tok, text->valuestring, strlen(text->valuestring), &got, &n);
        int ok = st == OLMOE_OK && n == (size_t)cJSON_GetArraySize(ids);
        for (size_t i = 0; ok && i < n; i++) ok = got[i] == cJSON_GetArrayItem(ids, (int)i)->valueint;
        CHECK_MSG(ok, "%s line %d ids differ for \"%s\" (got %zu ids, status %d: %s)", name, lines,
                  text->valuestring, n, (int)st, st ? olmoe_last_error() : "");
        if (!ok && st == OLMOE_OK) {
            fprintf(stderr, "  got:");
            for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        /* a session (reused scratch state and cache) gives the same ids */
        int32_t *got2 = NULL;
        size_t n2 = 0;
        st = tokenizer_session_encode(sess, text->valuestring, strlen(text->valuestring), &got2, &n2);
        CHECK_MSG(st == OLMOE_OK && n2 == n && (n == 0 || memcmp(got, got2, n * sizeof *got) == 0),
                  "%s line %d: session encode differs", name, lines);
        free(got2);
        /* decode the reference ids */
        int nr = cJSON_GetArraySize(ids);
        int32_t *ref = malloc(sizeof *ref * (size_t)(nr + 1));
        for (int i = 0; i < nr; i++) ref[i] = cJSON_GetArrayItem(ids, i)->valueint;
        char *dec = NULL;
        size_t dlen = 0;
        /* The reference `decoded` keeps special tokens (HF decode with
         * skip_special_tokens=False). */
        st = tokenizer_decode(tok, ref, (size_t)nr, 0, &dec, &dlen);
        int dok = st == OLMOE_OK && strcmp(dec, decoded->valuestring) == 0 &&
                  dlen == strlen(decoded->valuestring);
        CHECK_MSG(dok, "%s line %d decode differs: \"%s\" vs \"%s\"", name, lines, dec ? dec : "(null)",
                  decoded->valuestring);
        /* tokenizer_decode (skip_special_tokens=True) equals it once the
         * special tokens' contents are removed */
        char *want = strdup(decoded->valuestring);
        for (int i = 0; i < nr; i++) {
            if (!tokenizer_is_special(tok, ref[i])) continue;
            size_t sl;
            const char *sp = tokenizer_token_bytes(tok, ref[i], &sl);
            char *at = strstr(want, sp);
            if (at) memmove(at, at + sl, strlen(at + sl) + 1);
        }
        free(dec);
        dec = NULL;
        st = tokenizer_decode(tok, ref, (size_t)nr, 1, &dec, &dlen);
        CHECK_MSG(st == OLMOE_OK && strcmp(dec, want) == 0, "%s line %d skip-special decode: \"%s\" vs \"%s\"",
                  name, lines, dec ? dec : "(null)", want);
        free(want);
        if (ok && dok) pass++;
        free(ref);
        free(dec);
        free(got);
        cJSON_Delete(j);
    }
    tokenizer_session_free(sess);
    printf("%s: %d/%d reference lines match\n", name, pass, lines);
    CHECK(lines >= 50);
    free(data);
}

static char *nfc(const char *s) {
    utf8proc_uint8_t *out = NULL;
    utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)strlen(s), &out,
                 UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    return (char *)out;
}

static void check_roundtrip(const tokenizer *tok, const char *s, int normalize, const char *name) {
    int32_t *ids = NULL;
    size_t n = 0;
    olmoe_status st = tokenizer_encode(tok, s, strlen(s), &ids, &n);
    CHECK_MSG(st == OLMOE_OK, "%s: encode failed: %s", name, olmoe_last_error());
    char *dec = NULL;
    st = tokenizer_decode(tok, ids, n, 1, &dec, NULL);
    CHECK_MSG(st == OLMOE_OK, "%s: decode failed: %s", name, olmoe_last_error());
    char *want = normalize ? nfc(s) : strdup(s);
    CHECK_MSG(dec && strcmp(dec, want) == 0, "%s: round trip of \"%.60s\" gave \"%.60s\"", name, s,
              dec ? dec : "(null)");
    free(want);
    free(dec);
    free(ids);
}

static int encode_eq(const tokenizer *tok, const char *s, const int32_t *want, size_t n_want) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(tok, s, strlen(s), &ids, &n) != OLMOE_OK) return 0;
    int ok = n == n_want;
    for (size_t i = 0; ok && i < n; i++) ok = ids[i] == want[i];
    if (!ok) {
        fprintf(stderr, "  \"%s\" -> ", s);
        for (size_t i = 0; i < n; i++) fprintf(stderr, "%d ", ids[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    return ok;
}
#define ENC_EQ(tok, s, ...)                                                             \
    do {                                                                                \
        const int32_t want_[] = {__VA_ARGS__};                                          \
        CHECK_MSG(encode_eq(tok, s, want_, sizeof want_ / sizeof want_[0]), "encode \"%s\"", s); \
    } while (0)

static const char *extra_strings[] = {
    "cafe\xCC\x81 na\xC3\xAFve e\xCC\x81\xCC\x81 A\xCC\x8A" "ngstro\xCC\x88m",   /* combining marks */
    "\xF0\x9F\x98\x80\xF0\x9F\x9A\x80 \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7",
    "\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95\xE3\x80\x82\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
    "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 abc \xE2\x80\x8F!",
    "12345678901234567890 3.14 1,000,000 \xD9\xA1\xD9\xA2\xD9\xA3 \xE2\x85\xA7 x\xC2\xB2",
    "tabs\t\t\tand\n\n\n  \n \r\n\r\n   end   ",
    "\xE1\xA0\x8E mongolian\xE1\xA0\x8Evowel \xC2\x85nel \xE3\x80\x80ideographic",
    "<|endoftext" "|||EMAIL_ADDRESS|| <|pad <|im_start",
    "  leading, trailing and    inner  runs   ",
    "\x01\x02\x7F control bytes \xC2\xAD soft hyphen",
};

static void long_inputs(const tokenizer *tok, int normalize, const char *name) {
    /* long runs must round trip (and not take quadratic time) */
    size_t n = 200000;
    char *s = malloc(n + 16);
    memset(s, ' ', n);
    strcpy(s + n, "x");
    check_roundtrip(tok, s, normalize, name);
    memset(s, 'a', n);
    s[n] = '\0';
    check_roundtrip(tok, s, normalize, name);
    for (size_t i = 0; i < n; i++) s[i] = (char)('0' + i % 10);
    check_roundtrip(tok, s, normalize, name);
    for (size_t i = 0; i < n; i++) s[i] = "ab \n"[i % 4];
    check_roundtrip(tok, s, normalize, name);
    free(s);
}

static void test_real(const char *shared) {
    char path[4096], ref[4096];
    tokenizer *neox = NULL, *dolma = NULL;

    snprintf(path, sizeof path, "%s/tokenizers/olmo-gpt-neox.json", shared);
    olmoe_status st = tokenizer_load_json(path, &neox);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    snprintf(path, sizeof path, "%s/tokenizers/dolma2.json", shared);
    st = tokenizer_load_json(path, &dolma);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (!neox || !dolma) {
        tokenizer_free(neox);
        tokenizer_free(dolma);
        return;
    }

    snprintf(ref, sizeof ref, "%s/reference/tokenizer/olmo-gpt-neox.jsonl", shared);
    check_reference(neox, ref, "olmo-gpt-neox");
    snprintf(ref, sizeof ref, "%s/reference/tokenizer/dolma2.jsonl", shared);
    check_reference(dolma, ref, "dolma2");

    CHECK_INT_EQ(tokenizer_n_tokens(neox), 50280);
    CHECK_INT_EQ(tokenizer_n_tokens(dolma), 100278);
    CHECK_INT_EQ(tokenizer_find(neox, "<|endoftext|>"), 50279);
    CHECK_INT_EQ(tokenizer_find(dolma, "<|endoftext|>"), 100257);
    CHECK_INT_EQ(tokenizer_find(neox, "<|padding|>"), 1);
    CHECK_INT_EQ(tokenizer_find(neox, "no such token"), -1);
    CHECK(tokenizer_is_special(neox, 50279));
    CHECK(tokenizer_is_special(dolma, 100257));
    CHECK(!tokenizer_is_special(neox, 50276));   /* "  " added, not special */
    CHECK(!tokenizer_is_special(dolma, 100256)); /* <|extra_id_0|> not special */
    CHECK(!tokenizer_is_special(neox, 12092));

    size_t len = 0;
    const char *b = tokenizer_token_bytes(neox, 1533, &len); /* "Ġworld" */
    CHECK(b && len == 6 && memcmp(b, " world", 6) == 0);
    b = tokenizer_token_bytes(neox, 50276, &len);
    CHECK(b && len == 2 && memcmp(b, "  ", 2) == 0);
    CHECK(tokenizer_token_bytes(neox, 50280, &len) == NULL);
    CHECK(tokenizer_token_bytes(neox, -1, &len) == NULL);

    /* special tokens are matched in text and skipped by decode; non-special
     * added tokens are kept */
    ENC_EQ(neox, "<|endoftext|><|endoftext|>", 50279, 50279);
    ENC_EQ(dolma, "a<|im_start|>b", 64, 100264, 65);
    {
        const int32_t ids[] = {12092, 50279, 1533, 50276};
        char *dec = NULL;
        CHECK(tokenizer_decode(neox, ids, 4, 1, &dec, NULL) == OLMOE_OK);
        CHECK(dec && strcmp(dec, "Hello world  ") == 0);
        free(dec);
        /* ids the tokenizer does not know (e.g. the model's padding rows
         * 50280..50303) are skipped, as HF's decode does */
        const int32_t pad[] = {12092, 50280, -5, 1533};
        CHECK(tokenizer_decode(neox, pad, 4, 1, &dec, NULL) == OLMOE_OK);
        CHECK(dec && strcmp(dec, "Hello world") == 0);
        free(dec);
        /* a lone continuation byte decodes to U+FFFD like from_utf8_lossy */
        int32_t half = -1;
        for (int32_t id = 0; id < 50254 && half < 0; id++) {
            const char *t = tokenizer_token_bytes(neox, id, &len);
            if (t && len == 1 && (unsigned char)t[0] == 0xA9) half = id;
        }
        CHECK(half >= 0);
        if (half >= 0) {
            const int32_t ids2[] = {12092, half, half};
            CHECK(tokenizer_decode(neox, ids2, 3, 1, &dec, NULL) == OLMOE_OK);
            CHECK(dec && strcmp(dec, "Hello\xEF\xBF\xBD\xEF\xBF\xBD") == 0);
            free(dec);
        }
    }
    /* runs of spaces: leftmost-longest over the added space tokens
     * (1000 = 41 x 24 + 16) */
    {
        char spaces[1001];
        memset(spaces, ' ', 1000);
        spaces[1000] = '\0';
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tokenizer_encode(neox, spaces, 1000, &ids, &n) == OLMOE_OK);
        int ok = n == 42 && ids[41] == 50262;
        for (size_t i = 0; ok && i < 41; i++) ok = ids[i] == 50254;
        CHECK_MSG(ok, "1000 spaces gave %zu ids", n);
        free(ids);
    }
    /* NFC: a decomposed "é" encodes like the precomposed one */
    {
        int32_t *a = NULL, *c = NULL;
        size_t na = 0, nc = 0;
        CHECK(tokenizer_encode(neox, "caf\xC3\xA9", 5, &a, &na) == OLMOE_OK);
        CHECK(tokenizer_encode(neox, "cafe\xCC\x81", 6, &c, &nc) == OLMOE_OK);
        CHECK(na == nc && na > 0 && memcmp(a, c, na * sizeof *a) == 0);
        free(a);
        free(c);
    }
    /* empty input and invalid UTF-8 */
    {
        int32_t *ids = (int32_t *)1;
        size_t n = 7;
        CHECK(tokenizer_encode(neox, "", 0, &ids, &n) == OLMOE_OK && n == 0);
        free(ids);
        CHECK_INT_EQ(tokenizer_encode(neox, "a\xC3(", 3, &ids, &n), OLMOE_ERR_ARG);
        CHECK_INT_EQ(tokenizer_encode(neox, "\xED\xA0\x80", 3, &ids, &n), OLMOE_ERR_ARG);
    }
    /* embedded NUL is ordinary text */
    {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tokenizer_encode(dolma, "a\0b", 3, &ids, &n) == OLMOE_OK);
        char *dec = NULL;
        size_t dl = 0;
        CHECK(tokenizer_decode(dolma, ids, n, 1, &dec, &dl) == OLMOE_OK);
        CHECK(dl == 3 && dec && memcmp(dec, "a\0b", 3) == 0);
        free(dec);
        free(ids);
    }

    for (size_t i = 0; i < sizeof extra_strings / sizeof *extra_strings; i++) {
        check_roundtrip(neox, extra_strings[i], 1, "olmo-gpt-neox");
        check_roundtrip(dolma, extra_strings[i], 0, "dolma2");
    }
    long_inputs(neox, 1, "olmo-gpt-neox");
    long_inputs(dolma, 0, "dolma2");

    tokenizer_free(neox);
    tokenizer_free(dolma);
}

/* ------------------------------------------------------------ synthetic */

static char *write_temp(const char *content) {
    char *path = strdup("/tmp/olmoe_tok_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t n = strlen(content);
    if (write(fd, content, n) != (ssize_t)n) n = 0;
    close(fd);
    return path;
}

/* vocab: a b - ab a- -b -- " " < w > b-a */
#define SYN_MODEL(extra)                                                                     \
    "\"model\": {\"type\": \"BPE\", " extra "\"vocab\": {\"a\": 0, \"b\": 1, \"-\": 2, "    \
    "\"ab\": 3, \"a-\": 4, \"-b\": 5, \"--\": 6, \" \": 8, \"<\": 12, \"w\": 13, \">\": 14, " \
    "\"b-a\": 15}, \"merges\": [[\"a\", \"b\"], [\"a\", \"-\"], [\"-\", \"b\"], [\"-\", \"-\"]]}"

static tokenizer *load_synthetic(const char *pre, const char *added, const char *model_extra) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"version\": \"1.0\", \"added_tokens\": [%s], \"normalizer\": null, "
             "\"pre_tokenizer\": %s, \"decoder\": null, " SYN_MODEL("%s") "}",
             added, pre, model_extra);
    char *path = write_temp(json);
    tokenizer *tok = NULL;
    olmoe_status st = tokenizer_load_json(path, &tok);
    CHECK_MSG(st == OLMOE_OK, "synthetic tokenizer: %s", olmoe_last_error());
    unlink(path);
    free(path);
    return tok;
}

static tokenizer *split_tok(const char *behavior, int invert) {
    char pre[512];
    snprintf(pre, sizeof pre,
             "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"%s\", "
             "\"invert\": %s}", behavior, invert ? "true" : "false");
    return load_synthetic(pre, "", "");
}

static void test_synthetic(void) {
    tokenizer *t;
    if ((t = load_synthetic("null", "", ""))) {
        ENC_EQ(t, "a-b", 4, 1);
        ENC_EQ(t, "b-a", 1, 2, 0);
        ENC_EQ(t, "axb", 3); /* unknown characters are dropped (no unk), then a+b merge */
        tokenizer_free(t);
    }
    if ((t = load_synthetic("null", "", "\"ignore_merges\": true, "))) {
        ENC_EQ(t, "b-a", 15);
        ENC_EQ(t, "a-b", 4, 1);
        tokenizer_free(t);
    }
    if ((t = split_tok("Isolated", 0))) {
        ENC_EQ(t, "a-b", 0, 2, 1);
        ENC_EQ(t, "a--b", 0, 2, 2, 1);
        tokenizer_free(t);
    }
    if ((t = split_tok("Removed", 0))) {
        ENC_EQ(t, "a-b", 0, 1);
        tokenizer_free(t);
    }
    if ((t = split_tok("MergedWithPrevious", 0))) {
        ENC_EQ(t, "a-b", 4, 1);
        ENC_EQ(t, "a--b", 4, 2, 1);
        tokenizer_free(t);
    }
    if ((t = split_tok("MergedWithNext", 0))) {
        ENC_EQ(t, "a-b", 0, 5);
        ENC_EQ(t, "a--b", 0, 2, 5);
        ENC_EQ(t, "ab-", 3, 2);
        tokenizer_free(t);
    }
    if ((t = split_tok("Contiguous", 0))) {
        ENC_EQ(t, "a--b", 0, 6, 1);
        tokenizer_free(t);
    }
    if ((t = split_tok("Removed", 1))) { /* invert: keep only the delimiters */
        ENC_EQ(t, "a--b-", 2, 2, 2);
        tokenizer_free(t);
    }
    if ((t = split_tok("Contiguous", 1))) {
        ENC_EQ(t, "a--b", 0, 6, 1);
        tokenizer_free(t);
    }
    /* Split with a regex: \s must not match U+200B (not White_Space) */
    if ((t = load_synthetic("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}, "
                            "\"behavior\": \"Removed\", \"invert\": false}", "", ""))) {
        ENC_EQ(t, "a \xC2\xA0\t-b\xE2\x80\x8B" "a", 0, 5, 0); /* ZWSP itself is unknown: dropped */
        ENC_EQ(t, "a\xE1\xA0\x8E" "b", 3); /* U+180E is not \s: one piece, U+180E dropped, a+b merge */
        tokenizer_free(t);
    }
    /* added tokens: lstrip/rstrip, single_word, normalized */
    const char *added =
        "{\"id\": 10, \"content\": \"<m>\", \"single_word\": false, \"lstrip\": true, \"rstrip\": true, "
        "\"normalized\": false, \"special\": true},"
        "{\"id\": 11, \"content\": \"<w>\", \"single_word\": true, \"lstrip\": false, \"rstrip\": false, "
        "\"normalized\": false, \"special\": false},"
        "{\"id\": 16, \"content\": \"<ww>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
        "\"normalized\": true, \"special\": false}";
    if ((t = load_synthetic("null", added, ""))) {
        ENC_EQ(t, "a <m> b", 0, 10, 1);
        ENC_EQ(t, "a<m>b", 0, 10, 1);
        ENC_EQ(t, "a  <m>", 0, 10);
        ENC_EQ(t, "a<w>b", 0, 12, 13, 14, 1);
        ENC_EQ(t, "a <w> b", 0, 8, 11, 8, 1);
        ENC_EQ(t, "<w>-b", 11, 5);
        ENC_EQ(t, "a<ww>b", 0, 16, 1);
        CHECK_INT_EQ(tokenizer_n_tokens(t), 17);
        CHECK(tokenizer_is_special(t, 10));
        CHECK(!tokenizer_is_special(t, 11));
        const int32_t ids[] = {0, 10, 11, 16, 1};
        char *dec = NULL;
        CHECK(tokenizer_decode(t, ids, 5, 1, &dec, NULL) == OLMOE_OK);
        CHECK(dec && strcmp(dec, "a <w> <ww> b") == 0); /* no decoder: joined with spaces */
        free(dec);
        tokenizer_free(t);
    }
}

/* ------------------------------------------------------------ in-memory spec */

/* Builds dolma2 the way a GGUF loader would (token strings by id, "a b"
 * merges, a token-type list, a named pre-tokenizer) and checks it against
 * the reference ids. */
static void test_spec_build(const char *shared) {
    char path[4096], ref[4096];
    snprintf(path, sizeof path, "%s/tokenizers/dolma2.json", shared);
    snprintf(ref, sizeof ref, "%s/reference/tokenizer/dolma2.jsonl", shared);
    cJSON *root = NULL;
    CHECK(json_load_file(path, &root) == OLMOE_OK);
    if (!root) return;
    const cJSON *model = cJSON_GetObjectItem(root, "model");
    const cJSON *vocab = cJSON_GetObjectItem(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItem(model, "merges");
    const cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
    int n_tok = cJSON_GetArraySize(vocab), n_merges = cJSON_GetArraySize(merges);
    const char **tokens = calloc((size_t)n_tok, sizeof *tokens);
    const char **left = calloc((size_t)n_merges, sizeof *left);
    const char **right = calloc((size_t)n_merges, sizeof *right);
    char **lines = calloc((size_t)n_merges, sizeof *lines);
    tokenizer_added_token *adds = calloc((size_t)cJSON_GetArraySize(added), sizeof *adds);
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) if (it->valueint < n_tok) tokens[it->valueint] = it->string;
    int i = 0;
    cJSON_ArrayForEach(it, merges) {
        lines[i] = strdup(it->valuestring);
        char *sp = strchr(lines[i], ' ');
        *sp = '\0';
        left[i] = lines[i];
        right[i] = sp + 1;
        i++;
    }
    size_t n_added = 0;
    cJSON_ArrayForEach(it, added) { /* as from tokenizer.ggml.token_type: control = special */
        tokenizer_added_token *a = &adds[n_added++];
        a->content = cJSON_GetObjectItem(it, "content")->valuestring;
        a->id = cJSON_GetObjectItem(it, "id")->valueint;
        a->special = cJSON_IsTrue(cJSON_GetObjectItem(it, "special"));
    }
    tokenizer_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.source = "in-memory dolma2";
    spec.tokens = tokens;
    spec.n_tokens = n_tok;
    spec.merge_left = left;
    spec.merge_right = right;
    spec.n_merges = (size_t)n_merges;
    spec.added = adds;
    spec.n_added = n_added;
    spec.n_pretok = tokenizer_pretok_preset("dolma2", spec.pretok, TOKENIZER_MAX_STEPS);
    CHECK_INT_EQ(spec.n_pretok, 2);
    CHECK_INT_EQ(tokenizer_pretok_preset("no-such-preset", spec.pretok, TOKENIZER_MAX_STEPS), -1);
    spec.decoder = TOK_DECODER_BYTE_LEVEL;
    tokenizer *tok = NULL;
    CHECK_MSG(tokenizer_build(&spec, &tok) == OLMOE_OK, "%s", olmoe_last_error());
    if (tok) {
        check_reference(tok, ref, "dolma2 (in-memory spec)");
        tokenizer_free(tok);
    }
    /* a merge naming a missing token is reported with the source name */
    left[5] = "no-such-token";
    CHECK_INT_EQ(tokenizer_build(&spec, &tok), OLMOE_ERR_FORMAT);
    CHECK(tok == NULL);
    CHECK(strstr(olmoe_last_error(), "in-memory dolma2") && strstr(olmoe_last_error(), "merges[5]"));
    for (i = 0; i < n_merges; i++) free(lines[i]);
    free(lines);
    free(left);
    free(right);
    free(tokens);
    free(adds);
    cJSON_Delete(root);
}

/* ------------------------------------------------------------ errors */

static void expect_error(const char *json, olmoe_status want, const char *needle) {
    char *path = write_temp(json);
    CHECK(path != NULL);
    if (!path) return;
    tokenizer *tok = (tokenizer *)1;
    olmoe_status st = tokenizer_load_json(path, &tok);
    CHECK_MSG(st == want, "status %d, want %d (%s)", (int)st, (int)want, olmoe_last_error());
    CHECK(tok == NULL);
    CHECK_MSG(strstr(olmoe_last_error(), path) != NULL, "error does not name the file: %s",
              olmoe_last_error());
    if (needle)
        CHECK_MSG(strstr(olmoe_last_error(), needle) != NULL, "error lacks \"%s\": %s", needle,
                  olmoe_last_error());
    unlink(path);
    free(path);
}

static void test_errors(const char *shared) {
    tokenizer *tok = (tokenizer *)1;
    CHECK_INT_EQ(tokenizer_load_json("/nonexistent/tokenizer.json", &tok), OLMOE_ERR_IO);
    CHECK(tok == NULL);
    CHECK(strstr(olmoe_last_error(), "/nonexistent/tokenizer.json") != NULL);

    expect_error("{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [", OLMOE_ERR_FORMAT, NULL);
    expect_error("", OLMOE_ERR_FORMAT, NULL);
    expect_error("[1, 2]", OLMOE_ERR_FORMAT, NULL);
    expect_error("{\"model\": {\"type\": \"BPE\", \"merges\": []}}", OLMOE_ERR_FORMAT, "model.vocab");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
                 OLMOE_ERR_FORMAT, "model.merges");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
                 OLMOE_ERR_FORMAT, "model.merges");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"ab\"]}}",
                 OLMOE_ERR_FORMAT, "model.merges");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}",
                 OLMOE_ERR_FORMAT, "model.vocab");
    expect_error("{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, "
                 "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 OLMOE_ERR_UNSUPPORTED, "Whitespace");
    expect_error("{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
                 "{\"type\": \"Lowercase\"}]}, "
                 "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 OLMOE_ERR_UNSUPPORTED, "Lowercase");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", OLMOE_ERR_UNSUPPORTED,
                 "WordPiece");
    expect_error("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"a\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 OLMOE_ERR_UNSUPPORTED, "unk_token");
    expect_error("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, "
                 "\"behavior\": \"Removed\", \"invert\": false}, "
                 "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 OLMOE_ERR_FORMAT, "regex");
    expect_error("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 OLMOE_ERR_UNSUPPORTED, "byte_fallback");

    /* a truncated copy of the real file */
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/dolma2.json", shared);
    char *data = read_text(path);
    CHECK(data != NULL);
    if (data) {
        data[strlen(data) / 2] = '\0';
        expect_error(data, OLMOE_ERR_FORMAT, "JSON");
        free(data);
    }
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    test_real(shared);
    test_synthetic();
    test_spec_build(shared);
    test_errors(shared);
    return check_report("test_tokenizer");
}
