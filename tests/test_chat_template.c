/* Chat-template interpreter: the OLMoE instruct template against the
 * transformers reference renderings, plus hand-written cases for Jinja's
 * whitespace rules, loops, scoping, expressions, errors and resource guards.
 * argv[1] = shared reference folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "model/chat_template.h"
#include "util/file.h"

#define EOT "<|endoftext|>"

static const olmoe_chat_message CHAT[] = {
    {"system", "You are helpful."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "Bye"},
};
static const olmoe_chat_message CHAT_USER_FIRST[] = {
    {"user", "  padded  "},
    {"assistant", "Yo"},
    {"user", "Q"},
};

/* Renders and compares; `line` is the caller's line for the failure report. */
static void expect_text(int line, const char *tmpl, const olmoe_chat_message *msgs, size_t n, int agp,
                        const char *want) {
    chat_template_vars vars = {EOT, EOT, agp};
    char *out = NULL;
    olmoe_status st = chat_template_render(tmpl, msgs, n, &vars, &out);
    CHECK_MSG(st == OLMOE_OK, "line %d: status %d (%s) for template %s", line, (int)st, olmoe_last_error(), tmpl);
    if (st == OLMOE_OK)
        CHECK_MSG(strcmp(out, want) == 0, "line %d: template %s\n  got  \"%s\"\n  want \"%s\"", line, tmpl, out, want);
    free(out);
}

/* Expects an error status whose message contains `needle` (if given). */
static void expect_error(int line, const char *tmpl, const olmoe_chat_message *msgs, size_t n, olmoe_status want,
                         const char *needle) {
    chat_template_vars vars = {EOT, EOT, 1};
    char *out = (char *)"sentinel";
    olmoe_status st = chat_template_render(tmpl, msgs, n, &vars, &out);
    CHECK_MSG(st == want, "line %d: status %d (%s), want %d, for template %s", line, (int)st,
              st ? olmoe_last_error() : out, (int)want, tmpl);
    if (st == OLMOE_OK) free(out);
    else CHECK_MSG(out == NULL, "line %d: *out not cleared on error", line);
    if (st != OLMOE_OK && needle)
        CHECK_MSG(strstr(olmoe_last_error(), needle) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
                  olmoe_last_error(), needle);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TEXT(tmpl, msgs, agp, want) expect_text(__LINE__, tmpl, msgs, N(msgs), agp, want)
#define ERROR(tmpl, msgs, code, needle) expect_error(__LINE__, tmpl, msgs, N(msgs), code, needle)

/* ------------------------------------------------------------------ reference file */

static void test_reference(const char *shared) {
    char *cfg_path = path_join(shared, "reference/models/olmoe-tiny/tokenizer_config.json");
    char *cases_path = path_join(shared, "reference/chat/olmoe-instruct-template.jsonl");
    cJSON *cfg = NULL;
    char *data = NULL;
    size_t len = 0;
    CHECK(json_load_file(cfg_path, &cfg) == OLMOE_OK);
    CHECK(file_read_all(cases_path, &data, &len) == OLMOE_OK);
    const cJSON *tmpl = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "chat_template") : NULL;
    CHECK(cJSON_IsString(tmpl));
    int n_cases = 0;
    for (char *line = data; cJSON_IsString(tmpl) && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (*line) {
            cJSON *c = cJSON_Parse(line);
            const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "messages");
            const cJSON *agp = cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
            CHECK(cJSON_IsArray(msgs) && cJSON_IsBool(agp) && cJSON_IsString(text));
            if (cJSON_IsArray(msgs) && cJSON_IsBool(agp) && cJSON_IsString(text)) {
                size_t n = (size_t)cJSON_GetArraySize(msgs), i = 0;
                olmoe_chat_message *m = calloc(n ? n : 1, sizeof *m);
                const cJSON *e;
                cJSON_ArrayForEach(e, msgs) {
                    m[i].role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "role"));
                    m[i].content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "content"));
                    i++;
                }
                expect_text(__LINE__, tmpl->valuestring, m, n, cJSON_IsTrue(agp), text->valuestring);
                free(m);
                n_cases++;
            }
            cJSON_Delete(c);
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK_MSG(n_cases >= 6, "only %d reference cases", n_cases);
    cJSON_Delete(cfg);
    free(data);
    free(cfg_path);
    free(cases_path);
}

/* ------------------------------------------------------------------ hand-written cases */

static void test_whitespace(void) {
    /* lstrip_blocks strips indentation before {% %} and {# #} (not {{ }}),
     * trim_blocks eats the newline after them, one trailing newline goes */
    TEXT("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n  {# c #}\n z\n", CHAT, 0, "  x\n  y\n z");
    /* '-' strips all whitespace on that side, including newlines */
    TEXT("a\n\n  {%- if true -%}  \n\n  b  \n {%- endif %}\n\nc\n\n", CHAT, 0, "ab\nc\n");
    /* '+' disables lstrip_blocks / trim_blocks for that tag */
    TEXT("a  {%+ if true %}b{% endif +%}\nc", CHAT, 0, "a  b\nc");
    TEXT("  {%+ if true %}x{% endif %}", CHAT, 0, "  x");
    /* text between tags on one line is kept; only a line-leading indent goes */
    TEXT("a {% if true %} b {% endif %} c", CHAT, 0, "a  b  c");
    TEXT("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n", CHAT_USER_FIRST, 0, "  user\n  assistant\n  user\n");
    TEXT("{{- ' a ' -}}  \n  {{ 'b' }}  {{- 'c' }}", CHAT, 0, " a bc");
    /* comments follow the block rules: "#}" eats the newline after it */
    TEXT("{# comment -#}   \n x {#- c #}\ny\n  {#+ c #}z", CHAT, 0, "xy\n  z");
    /* \r\n and \r are newlines too */
    TEXT("a\r\n  {% if true %}\r\nb\r\n{% endif %}\r\n", CHAT, 0, "a\nb\n");
    TEXT("{{ 'a' }}\n\n", CHAT, 0, "a\n");
}

static void test_loops_and_set(void) {
    TEXT("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
         "{{ loop.length }}{{ loop.revindex }}|{% endfor %}",
         CHAT, 0, "10TrueFalse44|21FalseFalse43|32FalseFalse42|43FalseTrue41|");
    TEXT("{% for m in messages %}{% if not loop.first %}{{ loop.previtem.role }}{% endif %}>"
         "{{ loop.nextitem['role'] if loop.nextitem is defined }} {% endfor %}",
         CHAT, 0, ">user system>assistant user>user assistant> ");
    /* a set inside a loop is local to the iteration; an if has no scope */
    TEXT("{% set x = 'a' %}{% for m in messages %}{% set x = m.role %}{{ x }},{% endfor %}{{ x }}", CHAT, 0,
         "system,user,assistant,user,a");
    TEXT("{% if true %}{% set y = 3 %}{% endif %}{{ y }}{% for m in messages %}{% endfor %}[{{ m }}]", CHAT, 0,
         "3[]");
    TEXT("{% set greeting %}Hello {{ messages[0].role|upper }}{% endset %}[{{ greeting }}]", CHAT, 0,
         "[Hello SYSTEM]");
    TEXT("{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}:{{ m.content }} "
         "{% else %}none{% endfor %}",
         CHAT, 0, "1/2:Hi 2/2:Bye ");
    TEXT("{% for m in [] %}x{% else %}empty{% endfor %}", CHAT, 0, "empty");
    TEXT("{% for m in messages %}{% if loop.index0 == 2 %}{% break %}{% endif %}{{ m.role }},{% endfor %}", CHAT, 0,
         "system,user,");
    TEXT("{% for m in messages %}{% if m.role == 'user' %}{% continue %}{% endif %}{{ m.role }},{% endfor %}", CHAT, 0,
         "system,assistant,");
    TEXT("{% for c in 'h\xc3\xa9j' %}{{ c }},{% endfor %}{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", CHAT, 0,
         "h,\xc3\xa9,j,ab");
    TEXT("{% set loop_messages = messages[1:] if messages[0]['role'] == 'system' else messages %}"
         "{% for m in loop_messages %}{{ m['role'][0] }}{% endfor %}",
         CHAT, 0, "uau");
}

static void test_expressions(void) {
    TEXT("{{ messages[-1].content }}|{{ messages[1:]|length }}|{{ messages[0]['content'][0:3] }}|{{ 'abc'[::-1] }}|"
         "{{ 'user' in messages[1].role }}|{{ 'x' not in 'abc' }}|{{ nothing }}|{{ nothing is defined }}|"
         "{{ messages is not none }}",
         CHAT, 0, "Bye|3|You|cba|True|True||False|True");
    TEXT("{{ 'a\\tb\\\\' ~ \"\\\"q\\\"\" ~ 1 ~ true ~ none }}|{{ '  t  '|trim }}|{{ 'MiX'|lower }}{{ 'MiX'|upper }}|"
         "{{ 42|string ~ 'x' }}|{{ 'ok' if messages|length > 3 else 'no' }}|{{ (1 + 2) * 3 }}|{{ '\xc3\xa9'|length }}",
         CHAT, 0, "a\tb\\\"q\"1TrueNone|t|mixMIX|42x|ok|9|1");
    TEXT("{% if '' or [] or 0 or none %}T{% else %}F{% endif %}{% if 'a' and [1] and 1 %}T{% endif %}"
         "{{ false or 'fallback' }}{{ 0 and 'x' }}",
         CHAT, 0, "FTfallback0");
    TEXT("{{ 1 == true }}{{ (1, 2) == [1, 2] }}{{ 'b' > 'a' >= 'a' }}{{ 7 // -2 }}{{ -7 % 3 }}{{ 2 ** 10 }}{{ 1 + 2 * 3 }}",
         CHAT, 0, "TrueFalseTrue-421024" "7");
    TEXT("{{ x if x }}|{{ 'a' if false }}|{{ ('a' if false) is defined }}|{{ none is none }}|{{ 'a' is string }}|"
         "{{ messages[9] is undefined }}|{{ messages[0].nope is defined }}",
         CHAT, 0, "||False|True|True|True|False");
    TEXT("{% set d = {'k': 'v', 'n': 3} %}{{ d.k }}{{ d['n'] + 1 }}{{ 'k' in d }}{{ [1, 2, 3][-2:]|length }}"
         "{{ [1, 2]|first }}{{ 'xyz'|last }}{{ undefined_thing|default('dflt') }}{{ ''|default('e', true) }}",
         CHAT, 0, "v4True21zdflte");
    TEXT("{{ ' \xe3\x80\x80 x \xc2\xa0'|trim }}|{{ '\xc3\x89t\xc3\xa9'|upper }}{{ '\xc3\x89T\xc3\x89'|lower }}", CHAT,
         0, "x|\xc3\x89T\xc3\x89\xc3\xa9t\xc3\xa9");
    /* a message without content is None */
    const olmoe_chat_message no_content[] = {{"assistant", NULL}};
    TEXT("{{ messages[0].content is none }}{{ messages[0].content }}", no_content, 0, "TrueNone");
    /* the variables transformers passes */
    TEXT("{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ bos_token|length }}", CHAT, 1,
         "TrueTrueTrue13");
}

static const char TULU_INDENTED[] =
    "{%- for message in messages %}\n"
    "    {%- if message['role'] == 'system' %}\n"
    "        {{- '<|system|>\\n' + message['content'] + '\\n' }}\n"
    "    {%- elif message['role'] == 'user' %}\n"
    "        {{- '<|user|>\\n' + message['content'] + '\\n' }}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {%- if not loop.last %}\n"
    "            {{- '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}\n"
    "        {%- else %}\n"
    "            {{- '<|assistant|>\\n' + message['content'] + eos_token }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "    {%- if loop.last and add_generation_prompt %}\n"
    "        {{- '<|assistant|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";

/* Relies on trim_blocks / lstrip_blocks alone: each tag line vanishes, text
 * lines and the newline after {{ }} stay. */
static const char TULU_LINES[] =
    "{{ bos_token }}\n"
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "<|user|>\n"
    "{{ message['content']|trim }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "<|assistant|>\n"
    "{{ message['content'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "<|assistant|>\n"
    "{% endif %}\n"
    "{% endfor %}\n";

static void test_tulu_templates(void) {
    /* every whitespace run sits before a '{%-' / '{{-' tag, so none survives */
    TEXT(TULU_INDENTED, CHAT, 1,
         "<|system|>\nYou are helpful.\n<|user|>\nHi\n<|assistant|>\nHello!" EOT "\n<|user|>\nBye\n<|assistant|>\n");
    const olmoe_chat_message ends_with_assistant[] = {CHAT[0], CHAT[1], CHAT[2]};
    TEXT(TULU_INDENTED, ends_with_assistant, 0, "<|system|>\nYou are helpful.\n<|user|>\nHi\n<|assistant|>\nHello!" EOT);
    /* the "\n" after {{ bos_token }} is text before '{% for', which has no
     * indentation to strip, so it stays */
    TEXT(TULU_LINES, CHAT_USER_FIRST, 1,
         EOT "\n<|user|>\npadded\n<|assistant|>\nYo" EOT "\n<|user|>\nQ\n<|assistant|>\n");
    const olmoe_chat_message two[] = {CHAT_USER_FIRST[0], CHAT_USER_FIRST[1]};
    TEXT(TULU_LINES, two, 0, EOT "\n<|user|>\npadded\n<|assistant|>\nYo" EOT "\n");
}

static void test_errors(void) {
    const char *needs_system =
        "{% if messages[0]['role'] != 'system' %}{{ raise_exception('first message must be system') }}{% endif %}ok";
    ERROR(needs_system, CHAT_USER_FIRST, OLMOE_ERR_ARG, "first message must be system");
    TEXT(needs_system, CHAT, 0, "ok");

    ERROR("{{ messages[0].content|shout }}", CHAT, OLMOE_ERR_UNSUPPORTED, "filter 'shout'");
    ERROR("x\n{{ messages|tojson }}", CHAT, OLMOE_ERR_UNSUPPORTED, "line 2");
    /* refused at parse time even when the branch would never run */
    ERROR("{% if false %}{{ x|shout }}{% endif %}", CHAT, OLMOE_ERR_UNSUPPORTED, "shout");
    ERROR("{{ messages[0].content.strip() }}", CHAT, OLMOE_ERR_UNSUPPORTED, "strip");
    ERROR("{% macro f() %}x{% endmacro %}", CHAT, OLMOE_ERR_UNSUPPORTED, "macro");
    ERROR("{% set ns = namespace(found=false) %}", CHAT, OLMOE_ERR_UNSUPPORTED, "namespace");
    ERROR("{{ x is foo }}", CHAT, OLMOE_ERR_UNSUPPORTED, "test 'foo'");
    ERROR("{{ 1.5 }}", CHAT, OLMOE_ERR_UNSUPPORTED, "float");
    ERROR("{{ messages }}", CHAT, OLMOE_ERR_UNSUPPORTED, "list");
    ERROR("{{ messages[0].items }}", CHAT, OLMOE_ERR_UNSUPPORTED, "items");
    ERROR("{{ '\xc3\x9f'|upper }}", CHAT, OLMOE_ERR_UNSUPPORTED, "U+00DF");
    ERROR("{% raw %}x{% endraw %}", CHAT, OLMOE_ERR_UNSUPPORTED, "raw");

    ERROR("{% if true %}x", CHAT, OLMOE_ERR_FORMAT, "endif");
    ERROR("{% for m in messages %}x", CHAT, OLMOE_ERR_FORMAT, "endfor");
    ERROR("{% endif %}", CHAT, OLMOE_ERR_FORMAT, "endif");
    ERROR("{% for m in messages %}{% endif %}", CHAT, OLMOE_ERR_FORMAT, "endif");
    ERROR("{{ 'a' ", CHAT, OLMOE_ERR_FORMAT, NULL);
    ERROR("{{ 'a }}", CHAT, OLMOE_ERR_FORMAT, NULL);
    ERROR("{# never closed", CHAT, OLMOE_ERR_FORMAT, "comment");
    ERROR("{{ }}", CHAT, OLMOE_ERR_FORMAT, "expression");
    ERROR("{{ (1 }}", CHAT, OLMOE_ERR_FORMAT, NULL);
    ERROR("{% break %}", CHAT, OLMOE_ERR_FORMAT, "break");

    /* errors Jinja raises while rendering */
    ERROR("{{ undefined_thing.attr }}", CHAT, OLMOE_ERR_ARG, "'undefined_thing' is undefined");
    ERROR("{{ 'a' + 1 }}", CHAT, OLMOE_ERR_ARG, "'str' and 'int'");
    ERROR("{% for x in none %}{% endfor %}", CHAT, OLMOE_ERR_ARG, "not iterable");

    /* bad arguments */
    const olmoe_chat_message bad_utf8[] = {{"user", "\xff"}};
    ERROR("{{ messages[0].content }}", bad_utf8, OLMOE_ERR_ARG, "UTF-8");
    char *out = NULL;
    CHECK(chat_template_render(NULL, CHAT, 1, NULL, &out) == OLMOE_ERR_ARG);
    CHECK(chat_template_render("x", NULL, 1, NULL, &out) == OLMOE_ERR_ARG);
    /* NULL vars: empty tokens, no generation prompt */
    CHECK(chat_template_render("[{{ bos_token }}{{ add_generation_prompt }}]", NULL, 0, NULL, &out) == OLMOE_OK);
    if (out) CHECK_STR_EQ(out, "[False]");
    free(out);
}

/* pre + open * n + mid + close * n + post, malloc'ed */
static char *nest(const char *pre, const char *open, int n, const char *mid, const char *close, const char *post) {
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(strlen(pre) + (lo + lc) * (size_t)n + strlen(mid) + strlen(post) + 1), *p = s;
    if (!s) return NULL;
    memcpy(p, pre, strlen(pre));
    p += strlen(pre);
    for (int i = 0; i < n; i++, p += lo) memcpy(p, open, lo);
    memcpy(p, mid, strlen(mid));
    p += strlen(mid);
    for (int i = 0; i < n; i++, p += lc) memcpy(p, close, lc);
    memcpy(p, post, strlen(post) + 1);
    return s;
}

static void test_guards(void) {
    /* deep nesting is refused, not recursed into */
    const struct {
        const char *pre, *open, *mid, *close, *post;
    } deep[] = {
        {"{{ ", "(", "1", ")", " }}"},  {"{{ ", "not ", "1", "", " }}"},  {"{{ ", "-", "1", "", " }}"},
        {"", "{% if true %}", "x", "{% endif %}", ""}, {"{{ ", "[", "", "]", " }}"},
        {"{{ ", "1 + ", "1", "", " }}"}, {"{{ x", "", "", ".y", " }}"}, {"{{ ", "'a' if 1 else ", "'b'", "", " }}"},
        {"{{ x", "", "", "|trim", " }}"},
    };
    for (size_t i = 0; i < N(deep); i++) {
        char *tmpl = nest(deep[i].pre, deep[i].open, 50000, deep[i].mid, deep[i].close, deep[i].post);
        ERROR(tmpl, CHAT, OLMOE_ERR_UNSUPPORTED, "deep");
        free(tmpl);
    }
    /* exponential work and output are cut off */
    char *loops = nest("", "{% for a in messages %}", 14, "{{ loop.index }}", "{% endfor %}", "");
    ERROR(loops, CHAT, OLMOE_ERR_ARG, "steps");
    free(loops);
    char *doubling = nest("{% set s = 'ab' %}", "{% set s = s + s %}", 40, "", "", "{{ s|length }}");
    ERROR(doubling, CHAT, OLMOE_ERR_ARG, "MiB");
    free(doubling);
    ERROR("{{ 'x' * 1000000000000 }}", CHAT, OLMOE_ERR_ARG, "MiB");
    ERROR("{{ 2 ** 100 }}", CHAT, OLMOE_ERR_UNSUPPORTED, "64 bits");
}

int main(int argc, char **argv) {
    if (argc > 1) test_reference(argv[1]);
    else CHECK_MSG(0, "usage: test_chat_template SHARED_DIR");
    test_whitespace();
    test_loops_and_set();
    test_expressions();
    test_tulu_templates();
    test_errors();
    test_guards();
    return check_report("test_chat_template");
}
