/* yaml-tree.c - libyaml events -> a bounded document tree (see yaml-tree.h). */
#include "recipes/yaml-tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/common.h"
#include "common/banned.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

struct tparse {
    const char *name;
    const char *data;
    size_t len;
    struct kiln_err *err;
    struct ynode *stack[RECIPE_MAX_DEPTH + 1];
    size_t depth;
    size_t nodes;
    struct ynode *root;
};

void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    size_t count = n->kind == YNODE_MAP ? 2 * n->n + (size_t)n->key_pending : n->n;
    for (size_t i = 0; i < count; i++)
        ynode_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

struct ynode *ymap_get(const struct ynode *m, const char *key, struct ynode **key_out)
{
    if (!m || m->kind != YNODE_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < m->n; i++) {
        const struct ynode *k = YMAP_KEY(m, i);
        if (k->len == kl && memcmp(k->str, key, kl) == 0) {
            if (key_out)
                *key_out = YMAP_KEY(m, i);
            return YMAP_VAL(m, i);
        }
    }
    return NULL;
}

static struct recipe_pos mark_pos(yaml_mark_t m)
{
    struct recipe_pos p = { (unsigned)m.line + 1, (unsigned)m.column + 1 };
    return p;
}

/* Line and column (in characters) of a byte offset. */
static struct recipe_pos offset_pos(const char *data, size_t len, size_t off)
{
    struct recipe_pos p = { 1, 1 };
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n') {
            p.line++;
            p.col = 1;
        } else if ((c & 0xc0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

static int tfail(struct tparse *t, struct recipe_pos pos, const char *fmt, ...) KILN_PRINTF(3, 4);
static int tfail(struct tparse *t, struct recipe_pos pos, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_errf(t->err, KILN_EINVAL, "%s:%u:%u: %s", t->name, pos.line, pos.col, msg);
}

static size_t span(const char *s, const char *set)
{
    return strspn(s, set);
}

#define DIGITS "0123456789"

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static int is_core_int(const char *s)
{
    if (s[0] == '0' && s[1] == 'o')
        return s[2] && !s[2 + span(s + 2, "01234567")];
    if (s[0] == '0' && s[1] == 'x')
        return s[2] && !s[2 + span(s + 2, DIGITS "abcdefABCDEF")];
    if (*s == '-' || *s == '+')
        s++;
    return *s && !s[span(s, DIGITS)];
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? | [-+]?\.inf | \.nan */
static int is_core_float(const char *s)
{
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
        return 1;
    if (*s == '-' || *s == '+')
        s++;
    if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF"))
        return 1;
    size_t d = span(s, DIGITS);
    s += d;
    if (*s == '.') {
        size_t f = span(s + 1, DIGITS);
        if (!d && !f)
            return 0;
        s += 1 + f;
    } else if (!d) {
        return 0;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        size_t e = span(s, DIGITS);
        if (!e)
            return 0;
        s += e;
    }
    return *s == '\0';
}

enum yscalar_type ytree_resolve_plain(const char *s, size_t len)
{
    if (len == 0 || strlen(s) != len)
        return len == 0 ? YS_NULL : YS_STR;
    if (!strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return YS_NULL;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
        !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return YS_BOOL;
    if (len > 64)
        return YS_STR;
    if (is_core_int(s))
        return YS_INT;
    if (is_core_float(s))
        return YS_FLOAT;
    return YS_STR;
}

static const char *type_tag_name(enum yscalar_type t)
{
    switch (t) {
    case YS_STR: return "str";
    case YS_NULL: return "null";
    case YS_BOOL: return "bool";
    case YS_INT: return "int";
    case YS_FLOAT: return "float";
    }
    return "str";
}

/* Checks anchors and tags of a node event; sets the scalar type. */
static int check_props(struct tparse *t, yaml_event_t *ev, struct ynode *n)
{
    yaml_char_t *anchor = NULL, *tag = NULL;
    int implicit = 1;
    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        implicit = ev->data.sequence_start.implicit;
    } else {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        implicit = ev->data.mapping_start.implicit;
    }
    (void)implicit;
    if (anchor) {
        char a[64];
        kiln_err_shown((const char *)anchor, strlen((const char *)anchor), a, sizeof(a));
        return tfail(t, n->pos, "anchors and aliases are not supported in recipes ('&%s')", a);
    }
    const char *tg = (const char *)tag;
    if (n->kind == YNODE_SCALAR) {
        if (!tg || !strcmp(tg, "!")) {
            n->type = (n->plain && !tg) ? ytree_resolve_plain(n->str, n->len) : YS_STR;
            return 0;
        }
        if (!strncmp(tg, TAG_PREFIX, strlen(TAG_PREFIX))) {
            const char *k = tg + strlen(TAG_PREFIX);
            if (!strcmp(k, "str")) {
                n->type = YS_STR;
                return 0;
            }
            static const enum yscalar_type typed[] = { YS_NULL, YS_BOOL, YS_INT, YS_FLOAT };
            for (size_t i = 0; i < ARRAY_SIZE(typed); i++) {
                if (strcmp(k, type_tag_name(typed[i])) != 0)
                    continue;
                enum yscalar_type got = ytree_resolve_plain(n->str, n->len);
                if (got == YS_INT && typed[i] == YS_FLOAT)
                    got = YS_FLOAT;
                if (got != typed[i]) {
                    char v[64];
                    kiln_err_shown(n->str, n->len, v, sizeof(v));
                    return tfail(t, n->pos, "'%s' is not a valid !!%s", v, k);
                }
                n->type = typed[i];
                return 0;
            }
        }
    } else if (!tg || !strcmp(tg, "!") ||
               !strcmp(tg, n->kind == YNODE_MAP ? TAG_PREFIX "map" : TAG_PREFIX "seq")) {
        return 0;
    }
    char tb[64];
    if (!strncmp(tg, TAG_PREFIX, strlen(TAG_PREFIX)))
        snprintf(tb, sizeof(tb), "!!%s", tg + strlen(TAG_PREFIX));
    else
        kiln_err_shown(tg, strlen(tg), tb, sizeof(tb));
    return tfail(t, n->pos, "tag '%s' is not supported in recipes (only the YAML core schema)", tb);
}

struct keyref {
    const struct ynode *key;
    size_t idx;
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    size_t l = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->str, y->key->str, l);
    if (c)
        return c;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    return x->idx < y->idx ? -1 : 1;
}

/* Duplicate keys, found by sorting (a mapping may hold many keys). */
static int check_duplicates(struct tparse *t, const struct ynode *m)
{
    if (m->n < 2)
        return 0;
    struct keyref *refs = xcalloc(m->n, sizeof(*refs));
    for (size_t i = 0; i < m->n; i++) {
        refs[i].key = YMAP_KEY(m, i);
        refs[i].idx = i;
    }
    qsort(refs, m->n, sizeof(*refs), keyref_cmp);
    const struct keyref *first = NULL, *dup = NULL;
    for (size_t i = 1; i < m->n; i++) {
        if (refs[i].key->len == refs[i - 1].key->len &&
            memcmp(refs[i].key->str, refs[i - 1].key->str, refs[i].key->len) == 0 &&
            (!dup || refs[i].idx < dup->idx)) {
            dup = &refs[i];
            first = &refs[i - 1];
        }
    }
    int r = 0;
    if (dup) {
        char k[64];
        kiln_err_shown(dup->key->str, dup->key->len, k, sizeof(k));
        r = tfail(t, dup->key->pos, "duplicate key '%s' (first given at line %u)", k,
                  first->key->pos.line);
    }
    free(refs);
    return r;
}

static const char *event_kind(const struct ynode *n)
{
    return n->kind == YNODE_MAP ? "a mapping" : n->kind == YNODE_SEQ ? "a list" : "a scalar";
}

/* Attaches n (owned) to the current collection, or makes it the root. */
static int attach(struct tparse *t, struct ynode *n)
{
    if (t->depth == 0) {
        t->root = n;
        return 0;
    }
    struct ynode *p = t->stack[t->depth - 1];
    size_t used = p->kind == YNODE_MAP ? 2 * p->n + (size_t)p->key_pending : p->n;
    if (used + 1 > p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->items = xrealloc(p->items, p->cap * sizeof(*p->items));
    }
    if (p->kind == YNODE_SEQ) {
        p->items[p->n++] = n;
        return 0;
    }
    if (!p->key_pending) {
        /* a key */
        if (n->kind != YNODE_SCALAR) {
            int r = tfail(t, n->pos, "a mapping key must be a string, not %s", event_kind(n));
            ynode_free(n);
            return r;
        }
        if (n->type != YS_STR) {
            char k[64];
            kiln_err_shown(n->str, n->len, k, sizeof(k));
            int r = tfail(t, n->pos, "mapping key '%s' is not a string (quote it)", k);
            ynode_free(n);
            return r;
        }
        if (strlen(n->str) != n->len) {
            int r = tfail(t, n->pos, "a mapping key contains a NUL byte");
            ynode_free(n);
            return r;
        }
        p->items[2 * p->n] = n;
        p->key_pending = 1;
    } else {
        p->items[2 * p->n + 1] = n;
        p->n++;
        p->key_pending = 0;
    }
    return 0;
}

static struct ynode *node_new(enum ynode_kind kind, yaml_mark_t m)
{
    struct ynode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->pos = mark_pos(m);
    return n;
}

static int yaml_error(struct tparse *t, yaml_parser_t *p)
{
    struct recipe_pos pos;
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_READER_ERROR) {
        pos = offset_pos(t->data, t->len, p->problem_offset);
        if (p->problem_value != -1)
            return tfail(t, pos, "invalid YAML: %s (byte 0x%02x)", problem, (unsigned)p->problem_value & 0xff);
        return tfail(t, pos, "invalid YAML: %s", problem);
    }
    if (p->error == YAML_MEMORY_ERROR)
        return kiln_errf(t->err, KILN_ENOMEM, "%s: out of memory", t->name);
    pos = mark_pos(p->problem_mark);
    if (p->context)
        return tfail(t, pos, "invalid YAML: %s %s", problem, p->context);
    return tfail(t, pos, "invalid YAML: %s", problem);
}

static int handle_event(struct tparse *t, yaml_event_t *ev, int *docs, int *done)
{
    struct ynode *n = NULL;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_NO_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return tfail(t, mark_pos(ev->start_mark),
                         "a recipe is one YAML document; found a second one");
        return 0;
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_ALIAS_EVENT: {
        char a[64];
        const char *an = (const char *)ev->data.alias.anchor;
        kiln_err_shown(an, strlen(an), a, sizeof(a));
        return tfail(t, mark_pos(ev->start_mark),
                     "anchors and aliases are not supported in recipes ('*%s')", a);
    }
    case YAML_SCALAR_EVENT:
        n = node_new(YNODE_SCALAR, ev->start_mark);
        n->len = ev->data.scalar.length;
        n->str = xmalloc(n->len + 1);
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = '\0';
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        break;
    case YAML_SEQUENCE_START_EVENT:
        n = node_new(YNODE_SEQ, ev->start_mark);
        break;
    case YAML_MAPPING_START_EVENT:
        n = node_new(YNODE_MAP, ev->start_mark);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        if (t->depth == 0)
            return tfail(t, mark_pos(ev->start_mark), "invalid YAML: unbalanced collection");
        struct ynode *c = t->stack[--t->depth];
        if (c->kind == YNODE_MAP)
            return check_duplicates(t, c);
        return 0;
    }
    }
    if (++t->nodes > RECIPE_MAX_NODES) {
        int r = tfail(t, n->pos, "recipe has more than %d nodes", RECIPE_MAX_NODES);
        ynode_free(n);
        return r;
    }
    int r = check_props(t, ev, n);
    if (r < 0) {
        ynode_free(n);
        return r;
    }
    if (n->kind != YNODE_SCALAR && t->depth >= RECIPE_MAX_DEPTH) {
        r = tfail(t, n->pos, "recipe is nested deeper than %d levels", RECIPE_MAX_DEPTH);
        ynode_free(n);
        return r;
    }
    r = attach(t, n);
    if (r < 0)
        return r;
    if (n->kind != YNODE_SCALAR)
        t->stack[t->depth++] = n;
    return 0;
}

int ytree_parse(const char *data, size_t len, const char *name, struct ynode **out,
                struct kiln_err *err)
{
    struct tparse t = { .name = name, .data = data, .len = len, .err = err };
    *out = NULL;
    if (len > RECIPE_MAX_BYTES)
        return kiln_errf(err, KILN_EINVAL, "%s: recipe is larger than %u bytes", name,
                         (unsigned)RECIPE_MAX_BYTES);
    const char *nul = memchr(data, '\0', len);
    if (nul)
        return tfail(&t, offset_pos(data, len, (size_t)(nul - data)), "recipe contains a NUL byte");

    /* A UTF-8 byte order mark is allowed and skipped; positions stay the same. */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        data += 3;
        len -= 3;
        t.data = data;
        t.len = len;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return kiln_errf(err, KILN_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int docs = 0, done = 0, r = 0;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            r = yaml_error(&t, &p);
            break;
        }
        r = handle_event(&t, &ev, &docs, &done);
        yaml_event_delete(&ev);
        if (r < 0)
            break;
    }
    yaml_parser_delete(&p);
    if (r < 0) {
        ynode_free(t.root);
        return r;
    }
    if (!t.root)
        return kiln_errf(err, KILN_EINVAL, "%s:1:1: recipe is empty", name);
    *out = t.root;
    return 0;
}
