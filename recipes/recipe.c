/* recipe.c - YAML recipe -> validated struct recipe (schema v1).
 *
 * yaml-tree.c turns the bytes into a bounded tree and refuses hostile
 * YAML; this file walks the tree against the schema.  Every error names
 * the file as the user gave it, the line and column, and what is wrong. */
#include "recipes/recipe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "fleet/drift.h"
#include "images/ref.h"
#include "recipes/yaml-tree.h"
#include "common/banned.h"

#define MAX_HOSTNAME 64
#define MAX_USERNAME 32
#define MAX_PATH 4096
#define MAX_TIMEOUT 86400u
#define MAX_UID 65533L

struct rp {
    const char *name;  /* the recipe as the user gave it */
    const char *dir;   /* absolute directory relative paths resolve against */
    struct kiln_err *err;
};

static int fail(struct rp *p, const struct ynode *n, const char *fmt, ...) KILN_PRINTF(3, 4);
static int fail(struct rp *p, const struct ynode *n, const char *fmt, ...)
{
    char msg[420];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_errf(p->err, KILN_EINVAL, "%s:%u:%u: %s", p->name, n->pos.line, n->pos.col, msg);
}

/* Untrusted text shortened and made printable for a message. */
#define SHOWN(n) kiln_err_shown((n)->str, (n)->len, (char[96]){ 0 }, 96)
#define SHOWS(s) kiln_err_shown((s), strlen(s), (char[96]){ 0 }, 96)

static const char *describe(const struct ynode *n)
{
    if (n->kind == YNODE_MAP)
        return "a mapping";
    if (n->kind == YNODE_SEQ)
        return "a list";
    switch (n->type) {
    case YS_NULL: return "empty";
    case YS_BOOL: return "a boolean";
    case YS_INT: return "an integer";
    case YS_FLOAT: return "a number";
    case YS_STR: return "a string";
    }
    return "a scalar";
}

/* ---- did you mean ---- */

/* Optimal string alignment distance, for short keys only. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

static const char *suggest(const char *key, const char *const *allowed)
{
    const char *best = NULL;
    size_t best_d = 99;
    for (const char *const *a = allowed; *a; a++) {
        size_t d = edit_distance(key, *a);
        size_t limit = strlen(*a) <= 3 ? 1 : strlen(*a) <= 5 ? 2 : 3;
        if (d <= limit && d < best_d) {
            best = *a;
            best_d = d;
        }
    }
    return best;
}

/* A top-level key that belongs one level down, e.g. 'entrypoint' -> 'container.entrypoint'. */
static const char *nested_key(const char *key)
{
    static const char *const nested[] = {
        "container.entrypoint", "container.cmd", "container.env", "container.workdir", "container.user",
        "container.ports", "base.scratch", "base.tarball", "base.directory", "base.oci", "base.debian",
        "base.disk", "services.enable", "services.disable", "boot_test.marker", NULL,
    };
    for (const char *const *n = nested; *n; n++)
        if (!strcmp(strchr(*n, '.') + 1, key))
            return *n;
    return NULL;
}

static int check_keys(struct rp *p, const struct ynode *m, const char *const *allowed, const char *where)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct ynode *k = YMAP_KEY(m, i);
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = !strcmp(k->str, *a);
        if (known)
            continue;
        const char *s = suggest(k->str, allowed);
        if (!s && !where)
            s = nested_key(k->str);
        char in[140] = "";
        if (where)
            snprintf(in, sizeof(in), " in '%s'", where);
        if (s)
            return fail(p, k, "unknown key '%s'%s (did you mean '%s'?)", SHOWN(k), in, s);
        return fail(p, k, "unknown key '%s'%s", SHOWN(k), in);
    }
    return 0;
}

/* ---- typed getters ---- */

static int expect_map(struct rp *p, const struct ynode *n, const char *what)
{
    if (n->kind != YNODE_MAP)
        return fail(p, n, "'%s' must be a mapping, not %s", what, describe(n));
    return 0;
}

static int expect_seq(struct rp *p, const struct ynode *n, const char *what)
{
    if (n->kind != YNODE_SEQ)
        return fail(p, n, "'%s' must be a list, not %s", what, describe(n));
    return 0;
}

/* A string scalar (numbers are taken as written); never empty, no NUL. */
static int get_str(struct rp *p, const struct ynode *n, const char *what, char **out)
{
    if (n->kind != YNODE_SCALAR || n->type == YS_NULL || n->type == YS_BOOL)
        return fail(p, n, "'%s' must be a string, not %s%s", what, describe(n),
                    n->kind == YNODE_SCALAR && n->type == YS_BOOL ? " (quote it)" : "");
    if (n->len == 0)
        return fail(p, n, "'%s' must not be empty", what);
    if (strlen(n->str) != n->len)
        return fail(p, n, "'%s' contains a NUL byte", what);
    *out = xstrdup(n->str);
    return 0;
}

static int get_bool(struct rp *p, const struct ynode *n, const char *what, int *out)
{
    if (n->kind != YNODE_SCALAR || n->type != YS_BOOL)
        return fail(p, n, "'%s' must be true or false, not %s", what, describe(n));
    *out = n->str[0] == 't' || n->str[0] == 'T';
    return 0;
}

/* Parses a core-schema integer; 0 on success. */
static int parse_int(const char *s, long long *out)
{
    int base = 10;
    const char *d = s;
    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        d = s + 2;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(d, &end, base);
    if (errno || !end || *end || end == d)
        return -1;
    *out = v;
    return 0;
}

static int get_uint(struct rp *p, const struct ynode *n, const char *what, long long min, long long max,
                    long long *out)
{
    long long v;
    if (n->kind != YNODE_SCALAR || n->type != YS_INT)
        return fail(p, n, "'%s' must be an integer, not %s", what, describe(n));
    if (parse_int(n->str, &v) < 0 || v < min || v > max)
        return fail(p, n, "'%s' must be between %lld and %lld, not %s", what, min, max, SHOWN(n));
    *out = v;
    return 0;
}

static void strv_push(struct strv *sv, char *s)
{
    sv->v = xrealloc(sv->v, (sv->n + 2) * sizeof(*sv->v));
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void strv_release(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

struct dupref {
    const char *s;
    size_t idx;
};

static int dupref_cmp(const void *a, const void *b)
{
    const struct dupref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Finds the earliest repeated string in v[0..n) by sorting (lists may be
 * long); returns 1 and the indexes of both occurrences if there is one. */
static int find_dup(const char *const *v, size_t n, size_t *first, size_t *second)
{
    if (n < 2)
        return 0;
    struct dupref *refs = xcalloc(n, sizeof(*refs));
    for (size_t i = 0; i < n; i++) {
        refs[i].s = v[i];
        refs[i].idx = i;
    }
    qsort(refs, n, sizeof(*refs), dupref_cmp);
    int found = 0;
    size_t start = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(refs[i].s, refs[start].s) != 0) {
            start = i;
            continue;
        }
        if (i == start + 1 && (!found || refs[i].idx < *second)) {
            *first = refs[start].idx;
            *second = refs[i].idx;
            found = 1;
        }
    }
    free(refs);
    return found;
}

typedef int (*str_check_fn)(struct rp *p, const struct ynode *n, const char *what, const char *s);

/* A list of strings, each checked by check (may be NULL); duplicates refused if nodup. */
static int get_strv(struct rp *p, const struct ynode *n, const char *what, str_check_fn check, int nodup,
                    struct strv *out)
{
    int r = expect_seq(p, n, what);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *it = n->items[i];
        char w[160];
        snprintf(w, sizeof(w), "%s[%zu]", what, i);
        char *s = NULL;
        r = get_str(p, it, w, &s);
        if (r == 0 && check)
            r = check(p, it, w, s);
        if (r < 0) {
            free(s);
            return r;
        }
        strv_push(out, s);
    }
    size_t a, b;
    if (nodup && find_dup((const char *const *)out->v, out->n, &a, &b))
        return fail(p, n->items[b], "'%s' lists '%s' twice", what, SHOWS(out->v[b]));
    return 0;
}

/* ---- value checks ---- */

static int is_in(char c, const char *set)
{
    return c && strchr(set, c);
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT "0123456789"

static int all_in(const char *s, const char *set)
{
    return s[strspn(s, set)] == '\0';
}

/* Name and version are the store's (images/ref.h), so that a recipe that
 * passes `kiln check` names an image the store accepts. */
static int check_ref_part(struct rp *p, const struct ynode *n, int (*check)(const char *, struct kiln_err *),
                          const char *s)
{
    struct kiln_err e = KILN_ERR_INIT;
    if (check(s, &e) < 0)
        return fail(p, n, "%s", e.msg);
    return 0;
}

static int check_hostname(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    (void)what;
    size_t len = strlen(s), label = 0;
    int ok = len <= MAX_HOSTNAME && all_in(s, LOWER UPPER DIGIT "-.");
    for (size_t i = 0; ok && i <= len; i++) {
        if (i == len || s[i] == '.') {
            ok = label > 0 && label <= 63 && s[i - 1] != '-' && s[i - label] != '-';
            label = 0;
        } else {
            label++;
        }
    }
    if (!ok)
        return fail(p, n, "hostname '%s' is invalid: use letters, digits and '-' in dot-separated "
                          "labels, at most %d characters", SHOWS(s), MAX_HOSTNAME);
    return 0;
}

static int is_username(const char *s)
{
    return strlen(s) <= MAX_USERNAME && is_in(s[0], LOWER "_") && all_in(s, LOWER DIGIT "_-");
}

static int check_username(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    if (!is_username(s))
        return fail(p, n, "'%s': '%s' is not a valid user or group name (lowercase letters, digits, "
                          "'_' and '-', starting with a letter or '_', at most %d characters)",
                    what, SHOWS(s), MAX_USERNAME);
    return 0;
}

static int check_package(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    /* name[:arch][=version] */
    size_t nl = strcspn(s, ":=");
    int ok = nl >= 1 && is_in(s[0], LOWER DIGIT);
    for (size_t i = 0; ok && i < nl; i++)
        ok = is_in(s[i], LOWER DIGIT "+.-");
    const char *rest = s + nl;
    if (ok && *rest == ':') {
        size_t al = strcspn(rest + 1, "=");
        ok = al > 0;
        for (size_t i = 1; ok && i <= al; i++)
            ok = is_in(rest[i], LOWER DIGIT "-");
        rest += 1 + al;
    }
    if (ok && *rest == '=')
        ok = rest[1] && all_in(rest + 1, LOWER UPPER DIGIT ".+~:-");
    if (!ok)
        return fail(p, n, "'%s': '%s' is not a Debian package name (NAME, NAME:ARCH or NAME=VERSION)",
                    what, SHOWS(s));
    return 0;
}

static int check_unit(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    if (strlen(s) > 255 || s[0] == '-' || !all_in(s, LOWER UPPER DIGIT ":_.@\\-"))
        return fail(p, n, "'%s': '%s' is not a systemd unit name", what, SHOWS(s));
    return 0;
}

/* The drift checker's own pattern validator (fleet/drift.h). */
static int check_drift_pattern(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    struct kiln_err e = KILN_ERR_INIT;
    if (drift_pattern_check(s, what, &e) < 0)
        return fail(p, n, "%s", e.msg);
    return 0;
}

static int check_abs(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    if (s[0] != '/')
        return fail(p, n, "'%s' must be an absolute path, not '%s'", what, SHOWS(s));
    if (strlen(s) >= MAX_PATH)
        return fail(p, n, "'%s' is longer than %d characters", what, MAX_PATH - 1);
    return 0;
}

static int check_oneline(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    if (strchr(s, '\n') || strchr(s, '\r'))
        return fail(p, n, "'%s' must be a single line", what);
    return 0;
}

/* Resolves a host path against the recipe's directory (caller-owned). */
static char *host_path(struct rp *p, const char *s)
{
    if (s[0] == '/')
        return xstrdup(s);
    while (s[0] == '.' && s[1] == '/')
        s += 2;
    return path_join(p->dir, s);
}

static int get_host_path(struct rp *p, const struct ynode *n, const char *what, char **out)
{
    _cleanup_free_ char *s = NULL;
    int r = get_str(p, n, what, &s);
    if (r < 0)
        return r;
    if (strlen(s) >= MAX_PATH)
        return fail(p, n, "'%s' is longer than %d characters", what, MAX_PATH - 1);
    *out = host_path(p, s);
    return 0;
}

/* "sha256:HEX" or "HEX", any case -> lowercase hex. */
static int get_sha256(struct rp *p, const struct ynode *n, const char *what, char out[HASH_HEX_LEN + 1])
{
    _cleanup_free_ char *s = NULL;
    int r = get_str(p, n, what, &s);
    if (r < 0)
        return r;
    const char *h = strncmp(s, "sha256:", 7) == 0 ? s + 7 : s;
    char low[HASH_HEX_LEN + 1];
    size_t len = strlen(h);
    if (len != HASH_HEX_LEN)
        return fail(p, n, "'%s' must be 64 hexadecimal digits, not '%s'", what, SHOWS(s));
    for (size_t i = 0; i < len; i++)
        low[i] = (h[i] >= 'A' && h[i] <= 'F') ? (char)(h[i] - 'A' + 'a') : h[i];
    low[len] = '\0';
    if (!hash_is_hex(low))
        return fail(p, n, "'%s' must be 64 hexadecimal digits, not '%s'", what, SHOWS(s));
    memcpy(out, low, sizeof(low));
    return 0;
}

/* A required key: its value node, or an error at the mapping. */
static int need(struct rp *p, const struct ynode *m, const char *key, const char *where, struct ynode **out)
{
    *out = ymap_get(m, key, NULL);
    if (!*out) {
        if (where)
            return fail(p, m, "'%s' is missing the required key '%s'", where, key);
        return fail(p, m, "missing required key '%s'", key);
    }
    return 0;
}

/* ---- base ---- */

static int parse_path_sha(struct rp *p, const struct ynode *v, const char *where, struct recipe_base *b)
{
    static const char *const keys[] = { "path", "sha256", NULL };
    int r = expect_map(p, v, where);
    if (r == 0)
        r = check_keys(p, v, keys, where);
    struct ynode *n;
    char w[64];
    if (r == 0)
        r = need(p, v, "path", where, &n);
    snprintf(w, sizeof(w), "%s.path", where);
    if (r == 0) {
        b->path_pos = n->pos;
        r = get_host_path(p, n, w, &b->path);
    }
    snprintf(w, sizeof(w), "%s.sha256", where);
    if (r == 0 && (n = ymap_get(v, "sha256", NULL)))
        r = get_sha256(p, n, w, b->sha256);
    return r;
}

static const char *const debian_variants[] = { "extract", "custom", "essential", "apt", "required", "minbase",
                                              "buildd", "important", "debootstrap", "standard", NULL };

static int check_suite(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    if (!is_in(s[0], LOWER DIGIT) || !all_in(s, LOWER DIGIT "-") || strlen(s) > 64)
        return fail(p, n, "'%s': '%s' is not a Debian suite name", what, SHOWS(s));
    return 0;
}

static int check_component(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
    if (!is_in(s[0], LOWER DIGIT) || !all_in(s, LOWER DIGIT "-/") || strstr(s, "//") || strlen(s) > 64 ||
        s[strlen(s) - 1] == '/')
        return fail(p, n, "'%s': '%s' is not an archive component (such as main, contrib, non-free-firmware)",
                    what, SHOWS(s));
    return 0;
}

/* A mirror URL: http://, https:// or file:///, one line, no spaces; "{timestamp}"
 * is the only placeholder (filled from base.debian.snapshot). */
static int get_mirror(struct rp *p, const struct ynode *x, const char *what, char **out)
{
    int r = get_str(p, x, what, out);
    const char *m = *out;
    if (r == 0 && strncmp(m, "http://", 7) && strncmp(m, "https://", 8) && strncmp(m, "file:///", 8))
        r = fail(p, x, "'%s' must be an http://, https:// or file:/// URL", what);
    if (r == 0)
        r = check_oneline(p, x, what, m);
    if (r == 0 && strpbrk(m, " \t\"[]"))
        r = fail(p, x, "'%s' must not contain spaces, quotes or brackets", what);
    /* a file:/// mirror is a host folder, checked against the build
     * context as written: no URL escapes that apt would decode */
    if (r == 0 && !strncmp(m, "file://", 7) && strchr(m, '%'))
        r = fail(p, x, "'%s': a file:/// URL must not contain '%%'", what);
    if (r == 0 && !strncmp(m, "file://", 7) && strchr(m, '{'))
        r = fail(p, x, "'%s': a file:/// URL cannot be a snapshot template", what);
    if (r == 0) {
        const char *t = strstr(m, "{timestamp}");
        const char *rest = t ? t + 11 : m;
        if ((t && memchr(m, '{', (size_t)(t - m))) || strpbrk(rest, "{}") || (!t && strchr(m, '}')))
            r = fail(p, x, "'%s': '{timestamp}' is the only placeholder a mirror URL may hold", what);
    }
    return r;
}

static int has_timestamp(const char *m)
{
    return m && strstr(m, "{timestamp}") != NULL;
}

/* YYYYMMDDTHHMMSSZ, as snapshot.debian.org names its states. */
static int check_snapshot(struct rp *p, const struct ynode *n, const char *s)
{
    int ok = strlen(s) == 16 && s[8] == 'T' && s[15] == 'Z';
    for (size_t i = 0; ok && i < 15; i++)
        ok = i == 8 || is_in(s[i], DIGIT);
    if (ok) {
        int mo = (s[4] - '0') * 10 + (s[5] - '0'), d = (s[6] - '0') * 10 + (s[7] - '0');
        int h = (s[9] - '0') * 10 + (s[10] - '0'), mi = (s[11] - '0') * 10 + (s[12] - '0');
        int sec = (s[13] - '0') * 10 + (s[14] - '0');
        ok = mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 60;
    }
    if (!ok)
        return fail(p, n, "'base.debian.snapshot': '%s' is not a snapshot time (YYYYMMDDTHHMMSSZ, "
                          "such as 20250520T000000Z)", SHOWS(s));
    return 0;
}

static int parse_suites(struct rp *p, const struct ynode *v, struct recipe_base *b)
{
    int r = expect_seq(p, v, "base.debian.suites");
    for (size_t i = 0; r == 0 && i < v->n; i++) {
        const struct ynode *it = v->items[i], *s = it;
        struct ynode *x;
        char w[64], wm[80];
        snprintf(w, sizeof(w), "base.debian.suites[%zu]", i);
        b->suites = xrealloc(b->suites, (b->n_suites + 1) * sizeof(*b->suites));
        struct recipe_suite *rs = &b->suites[b->n_suites++];
        *rs = (struct recipe_suite){ .pos = it->pos };
        if (it->kind == YNODE_MAP) {
            static const char *const keys[] = { "suite", "mirror", NULL };
            r = check_keys(p, it, keys, w);
            if (r == 0)
                r = need(p, it, "suite", w, &x);
            if (r == 0)
                s = x;
            snprintf(wm, sizeof(wm), "%s.mirror", w);
            if (r == 0 && (x = ymap_get(it, "mirror", NULL)))
                r = get_mirror(p, x, wm, &rs->mirror);
        }
        if (r == 0)
            r = get_str(p, s, w, &rs->suite);
        if (r == 0)
            r = check_suite(p, s, w, rs->suite);
        for (size_t k = 0; r == 0 && k + 1 < b->n_suites; k++)
            if (!strcmp(b->suites[k].suite, rs->suite))
                r = fail(p, s, "'base.debian.suites' lists '%s' twice", SHOWS(rs->suite));
        if (r == 0 && !strcmp(rs->suite, b->suite))
            r = fail(p, s, "'%s': '%s' is the base's suite already", w, SHOWS(rs->suite));
    }
    return r;
}

static int parse_debian(struct rp *p, const struct ynode *n, struct recipe_base *b)
{
    static const char *const keys[] = { "suite", "variant", "mirror", "packages", "components", "suites",
                                        "snapshot", "keyring", NULL };
    struct ynode *s, *x;
    int r = expect_map(p, n, "base.debian");
    if (r == 0)
        r = check_keys(p, n, keys, "base.debian");
    if (r == 0)
        r = need(p, n, "suite", "base.debian", &s);
    if (r == 0)
        r = get_str(p, s, "base.debian.suite", &b->suite);
    if (r == 0)
        r = check_suite(p, s, "base.debian.suite", b->suite);
    if (r == 0 && (x = ymap_get(n, "variant", NULL))) {
        r = get_str(p, x, "base.debian.variant", &b->variant);
        int known = 0;
        for (size_t i = 0; r == 0 && debian_variants[i]; i++)
            known |= !strcmp(b->variant, debian_variants[i]);
        if (r == 0 && !known)
            r = fail(p, x, "'base.debian.variant': '%s' is not an mmdebstrap variant (e.g. minbase, "
                           "apt, standard)", SHOWS(b->variant));
    }
    if (r == 0 && (x = ymap_get(n, "mirror", NULL))) {
        b->path_pos = x->pos;
        r = get_mirror(p, x, "base.debian.mirror", &b->mirror);
    }
    if (r == 0 && (x = ymap_get(n, "packages", NULL)))
        r = get_strv(p, x, "base.debian.packages", check_package, 1, &b->packages);
    if (r == 0 && (x = ymap_get(n, "components", NULL))) {
        r = get_strv(p, x, "base.debian.components", check_component, 1, &b->components);
        if (r == 0 && b->components.n == 0)
            r = fail(p, x, "'base.debian.components' must name at least one component");
    }
    if (r == 0 && (x = ymap_get(n, "suites", NULL)))
        r = parse_suites(p, x, b);
    if (r == 0 && (x = ymap_get(n, "snapshot", NULL))) {
        r = get_str(p, x, "base.debian.snapshot", &b->snapshot);
        if (r == 0)
            r = check_snapshot(p, x, b->snapshot);
        if (r == 0 && b->mirror && !has_timestamp(b->mirror))
            r = fail(p, x, "'base.debian.snapshot' needs a 'mirror' URL template with {timestamp} (such as "
                           "http://snapshot.debian.org/archive/debian/{timestamp})");
        for (size_t i = 0; r == 0 && i < b->n_suites; i++)
            if (b->suites[i].mirror && !has_timestamp(b->suites[i].mirror))
                r = fail(p, x, "'base.debian.snapshot' needs every suite's mirror to be a template with "
                               "{timestamp}, and 'base.debian.suites[%zu].mirror' is not", i);
    }
    if (r == 0 && !b->snapshot) {
        int tmpl = has_timestamp(b->mirror);
        for (size_t i = 0; i < b->n_suites; i++)
            tmpl |= has_timestamp(b->suites[i].mirror);
        if (tmpl)
            r = fail(p, n, "'base.debian': a mirror URL template with {timestamp} needs 'snapshot'");
    }
    if (r == 0 && (x = ymap_get(n, "keyring", NULL))) {
        b->keyring_pos = x->pos;
        r = get_host_path(p, x, "base.debian.keyring", &b->keyring);
    }
    if (r == 0 && !b->variant)
        b->variant = xstrdup("minbase");
    if (r == 0 && !b->mirror)
        b->mirror = xstrdup(b->snapshot ? "http://snapshot.debian.org/archive/debian/{timestamp}"
                                        : "http://deb.debian.org/debian");
    if (r == 0 && b->components.n == 0)
        strv_push(&b->components, xstrdup("main"));
    return r;
}

static int parse_base(struct rp *p, const struct ynode *v, struct recipe_base *b)
{
    static const char *const kinds[] = { "scratch", "tarball", "directory", "oci", "debian", "disk", NULL };
    b->pos = v->pos;
    int r = expect_map(p, v, "base");
    if (r == 0)
        r = check_keys(p, v, kinds, "base");
    if (r < 0)
        return r;
    if (v->n != 1)
        return fail(p, v->n ? YMAP_KEY(v, 1) : v,
                    "'base' must name exactly one of scratch, tarball, directory, oci, debian, disk");
    const struct ynode *k = YMAP_KEY(v, 0), *n = YMAP_VAL(v, 0), *x;
    b->pos = k->pos;
    const char *kind = k->str;
    if (!strcmp(kind, "scratch")) {
        int on = 0;
        b->kind = BASE_SCRATCH;
        r = get_bool(p, n, "base.scratch", &on);
        if (r == 0 && !on)
            r = fail(p, n, "'base.scratch' must be true (name another base instead)");
    } else if (!strcmp(kind, "tarball")) {
        b->kind = BASE_TARBALL;
        r = parse_path_sha(p, n, "base.tarball", b);
    } else if (!strcmp(kind, "disk")) {
        b->kind = BASE_DISK;
        r = parse_path_sha(p, n, "base.disk", b);
    } else if (!strcmp(kind, "directory")) {
        b->kind = BASE_DIRECTORY;
        b->path_pos = n->pos;
        r = get_host_path(p, n, "base.directory", &b->path);
    } else if (!strcmp(kind, "oci")) {
        static const char *const keys[] = { "layout", "ref", NULL };
        struct ynode *l;
        b->kind = BASE_OCI;
        r = expect_map(p, n, "base.oci");
        if (r == 0)
            r = check_keys(p, n, keys, "base.oci");
        if (r == 0)
            r = need(p, n, "layout", "base.oci", &l);
        if (r == 0) {
            b->path_pos = l->pos;
            r = get_host_path(p, l, "base.oci.layout", &b->path);
        }
        if (r == 0 && (x = ymap_get(n, "ref", NULL))) {
            r = get_str(p, x, "base.oci.ref", &b->ref);
            struct kiln_err e = KILN_ERR_INIT;
            if (r == 0 && ref_check_layout_name(b->ref, &e) < 0)
                r = fail(p, x, "'base.oci.ref': %s", e.msg);
        }
        if (r == 0 && !b->ref)
            b->ref = xstrdup("latest");
    } else {
        b->kind = BASE_DEBIAN;
        r = parse_debian(p, n, b);
    }
    return r;
}

/* ---- files ---- */

/* Normalises an absolute image path: collapses '//' and '.', refuses '..'. */
static int normalise_dest(struct rp *p, const struct ynode *n, const char *what, const char *s, char **out)
{
    int r = check_abs(p, n, what, s);
    if (r < 0)
        return r;
    struct buf b;
    buf_init(&b, 0);
    const char *c = s;
    while (*c) {
        while (*c == '/')
            c++;
        size_t l = strcspn(c, "/");
        if (l == 0)
            break;
        if (l == 2 && c[0] == '.' && c[1] == '.') {
            buf_release(&b);
            return fail(p, n, "'%s': '%s' has a '..' component", what, SHOWS(s));
        }
        if (l > 255) {
            buf_release(&b);
            return fail(p, n, "'%s' has a component longer than 255 characters", what);
        }
        if (!(l == 1 && c[0] == '.')) {
            buf_addch(&b, '/', NULL);
            buf_add(&b, c, l, NULL);
        }
        c += l;
    }
    if (b.len == 0) {
        buf_release(&b);
        return fail(p, n, "'%s' must name a path below '/'", what);
    }
    *out = buf_detach(&b, NULL);
    return 0;
}

/* 0NNN (plain or quoted), 0oNNN; at most 07777.  Plain 644 is refused with a hint. */
static int get_mode(struct rp *p, const struct ynode *n, const char *what, unsigned *out)
{
    if (n->kind != YNODE_SCALAR || (n->type != YS_INT && n->type != YS_STR))
        return fail(p, n, "'%s' must be an octal mode like 0644, not %s", what, describe(n));
    const char *s = n->str;
    const char *digits = NULL;
    if (s[0] == '0' && s[1] == 'o')
        digits = s + 2;
    else if (s[0] == '0' && s[1])
        digits = s + 1;
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    if (!digits) {
        if (s[0] && all_in(s, DIGIT) && strlen(s) <= 4 && all_in(s, "01234567"))
            return fail(p, n, "'%s': mode %s needs a leading 0 (write 0%s, an octal number)", what, s, s);
        return fail(p, n, "'%s': '%s' is not an octal mode like 0644", what, SHOWN(n));
    }
    if (!digits[0] || !all_in(digits, "01234567"))
        return fail(p, n, "'%s': '%s' is not an octal mode like 0644", what, SHOWN(n));
    size_t sig = strspn(digits, "0");
    if (strlen(digits + sig) > 4)
        return fail(p, n, "'%s': mode %s is larger than 07777", what, SHOWN(n));
    unsigned long v = strtoul(digits, NULL, 8);
    if (v > 07777)
        return fail(p, n, "'%s': mode %s is larger than 07777", what, SHOWN(n));
    *out = (unsigned)v;
    return 0;
}

/* USER[:GROUP] or UID[:GID] */
static int get_owner(struct rp *p, const struct ynode *n, const char *what, char **out)
{
    _cleanup_free_ char *s = NULL;
    int r = get_str(p, n, what, &s);
    if (r < 0)
        return r;
    char *colon = strchr(s, ':');
    const char *parts[2] = { s, colon ? colon + 1 : NULL };
    if (colon)
        *colon = '\0';
    for (size_t i = 0; i < 2; i++) {
        const char *x = parts[i];
        if (!x)
            continue;
        long long id;
        int ok = all_in(x, DIGIT) && x[0] ? (parse_int(x, &id) == 0 && id <= 65534) : is_username(x);
        if (!ok) {
            if (colon)
                *colon = ':';
            return fail(p, n, "'%s': '%s' is not USER[:GROUP] or UID[:GID]", what, SHOWS(s));
        }
    }
    if (colon)
        *colon = ':';
    *out = TAKE_PTR(s);
    return 0;
}

static void file_release(struct recipe_file *f)
{
    free(f->src);
    free(f->content);
    free(f->link);
    free(f->dest);
    free(f->owner);
}

static int parse_file(struct rp *p, const struct ynode *n, size_t idx, struct recipe_file *f)
{
    static const char *const keys[] = { "src", "content", "link", "dest", "mode", "owner", "after_run", NULL };
    char w[64], ww[80];
    snprintf(w, sizeof(w), "files[%zu]", idx);
    f->pos = n->pos;
    int r = expect_map(p, n, w);
    if (r == 0)
        r = check_keys(p, n, keys, w);
    if (r < 0)
        return r;
    struct ynode *src = ymap_get(n, "src", NULL), *content = ymap_get(n, "content", NULL),
                 *link = ymap_get(n, "link", NULL), *x;
    int count = !!src + !!content + !!link;
    if (count != 1)
        return fail(p, n, "'%s' must have exactly one of 'src', 'content' or 'link'", w);
    r = need(p, n, "dest", w, &x);
    snprintf(ww, sizeof(ww), "%s.dest", w);
    _cleanup_free_ char *dest = NULL;
    if (r == 0)
        r = get_str(p, x, ww, &dest);
    if (r == 0)
        r = normalise_dest(p, x, ww, dest, &f->dest);
    if (r < 0)
        return r;
    if (src) {
        snprintf(ww, sizeof(ww), "%s.src", w);
        f->src_pos = src->pos;
        r = get_host_path(p, src, ww, &f->src);
    } else if (link) {
        snprintf(ww, sizeof(ww), "%s.link", w);
        r = get_str(p, link, ww, &f->link);
        if (r == 0 && strlen(f->link) >= MAX_PATH)
            r = fail(p, link, "'%s' is longer than %d characters", ww, MAX_PATH - 1);
    } else {
        snprintf(ww, sizeof(ww), "%s.content", w);
        if (content->kind != YNODE_SCALAR || content->type != YS_STR)
            return fail(p, content, "'%s' must be a string, not %s (quote it)", ww, describe(content));
        f->content = xmalloc(content->len + 1);
        memcpy(f->content, content->str, content->len + 1);
        f->content_len = content->len;
    }
    if (r == 0 && (x = ymap_get(n, "mode", NULL))) {
        snprintf(ww, sizeof(ww), "%s.mode", w);
        if (link)
            return fail(p, x, "'%s': a symlink has no mode", ww);
        r = get_mode(p, x, ww, &f->mode);
        f->has_mode = 1;
    }
    if (r == 0 && (x = ymap_get(n, "owner", NULL))) {
        snprintf(ww, sizeof(ww), "%s.owner", w);
        r = get_owner(p, x, ww, &f->owner);
    }
    if (r == 0 && (x = ymap_get(n, "after_run", NULL))) {
        snprintf(ww, sizeof(ww), "%s.after_run", w);
        r = get_bool(p, x, ww, &f->after_run);
    }
    if (r == 0 && !f->has_mode)
        f->mode = 0644;
    return r;
}

/* ---- users ---- */

static void user_release(struct recipe_user *u)
{
    free(u->name);
    strv_release(&u->groups);
    free(u->shell);
    strv_release(&u->ssh_authorized_keys);
}

static int parse_user(struct rp *p, const struct ynode *n, size_t idx, struct recipe_user *u)
{
    static const char *const keys[] = { "name", "uid", "groups", "shell", "ssh_authorized_keys", NULL };
    char w[64], ww[96];
    snprintf(w, sizeof(w), "users[%zu]", idx);
    u->pos = n->pos;
    u->uid = -1;
    int r = expect_map(p, n, w);
    if (r == 0)
        r = check_keys(p, n, keys, w);
    struct ynode *x;
    if (r == 0)
        r = need(p, n, "name", w, &x);
    snprintf(ww, sizeof(ww), "%s.name", w);
    if (r == 0)
        r = get_str(p, x, ww, &u->name);
    if (r == 0)
        r = check_username(p, x, ww, u->name);
    if (r == 0 && (x = ymap_get(n, "uid", NULL))) {
        long long uid;
        snprintf(ww, sizeof(ww), "%s.uid", w);
        r = get_uint(p, x, ww, 0, MAX_UID, &uid);
        if (r == 0 && uid == 0 && strcmp(u->name, "root") != 0)
            r = fail(p, x, "'%s': uid 0 belongs to root", ww);
        u->uid = (long)uid;
    }
    if (r == 0 && (x = ymap_get(n, "groups", NULL))) {
        snprintf(ww, sizeof(ww), "%s.groups", w);
        r = get_strv(p, x, ww, check_username, 1, &u->groups);
    }
    if (r == 0 && (x = ymap_get(n, "shell", NULL))) {
        snprintf(ww, sizeof(ww), "%s.shell", w);
        r = get_str(p, x, ww, &u->shell);
        if (r == 0)
            r = check_abs(p, x, ww, u->shell);
        if (r == 0)
            r = check_oneline(p, x, ww, u->shell);
        if (r == 0 && strchr(u->shell, ':'))
            r = fail(p, x, "'%s' must not contain ':'", ww);
    }
    if (r == 0 && (x = ymap_get(n, "ssh_authorized_keys", NULL))) {
        snprintf(ww, sizeof(ww), "%s.ssh_authorized_keys", w);
        r = get_strv(p, x, ww, check_oneline, 0, &u->ssh_authorized_keys);
    }
    return r;
}

/* ---- run ---- */

static int parse_run(struct rp *p, const struct ynode *n, size_t idx, struct recipe_run *c)
{
    static const char *const keys[] = { "command", "timeout", NULL };
    char w[64], ww[80];
    snprintf(w, sizeof(w), "run[%zu]", idx);
    c->pos = n->pos;
    c->timeout = RECIPE_DEFAULT_RUN_TIMEOUT;
    if (n->kind == YNODE_SCALAR)
        return get_str(p, n, w, &c->command);
    if (n->kind != YNODE_MAP)
        return fail(p, n, "'%s' must be a command string or a mapping with 'command', not %s", w,
                    describe(n));
    int r = check_keys(p, n, keys, w);
    struct ynode *x;
    if (r == 0)
        r = need(p, n, "command", w, &x);
    snprintf(ww, sizeof(ww), "%s.command", w);
    if (r == 0)
        r = get_str(p, x, ww, &c->command);
    if (r == 0 && (x = ymap_get(n, "timeout", NULL))) {
        long long t;
        snprintf(ww, sizeof(ww), "%s.timeout", w);
        r = get_uint(p, x, ww, 1, MAX_TIMEOUT, &t);
        c->timeout = (unsigned)t;
    }
    return r;
}

/* ---- container ---- */

/* A string is the shell form (/bin/sh -c STRING); a list is the argv. */
static int get_argv(struct rp *p, const struct ynode *n, const char *what, struct strv *out)
{
    if (n->kind == YNODE_SCALAR) {
        char *s = NULL;
        int r = get_str(p, n, what, &s);
        if (r < 0)
            return r;
        strv_push(out, xstrdup("/bin/sh"));
        strv_push(out, xstrdup("-c"));
        strv_push(out, s);
        return 0;
    }
    if (n->kind == YNODE_SEQ && n->n == 0)
        return fail(p, n, "'%s' must not be an empty list", what);
    return get_strv(p, n, what, NULL, 0, out);
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct recipe_kv *)a)->key, ((const struct recipe_kv *)b)->key);
}

/* A mapping of strings; values may be numbers or booleans, taken as written. */
static int get_kv(struct rp *p, const struct ynode *n, const char *what, int env, struct recipe_kv **out,
                  size_t *nout)
{
    int r = expect_map(p, n, what);
    if (r < 0)
        return r;
    *out = xcalloc(n->n ? n->n : 1, sizeof(**out));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = YMAP_KEY(n, i), *v = YMAP_VAL(n, i);
        char w[200];
        snprintf(w, sizeof(w), "%s.%s", what, SHOWN(k));
        if (k->len == 0)
            return fail(p, k, "'%s' has an empty key", what);
        if (env && (!is_in(k->str[0], LOWER UPPER "_") || !all_in(k->str, LOWER UPPER DIGIT "_")))
            return fail(p, k, "'%s': '%s' is not a valid environment variable name", what, SHOWN(k));
        if (!env && strpbrk(k->str, " \t\r\n"))
            return fail(p, k, "'%s': label key '%s' must not contain white space", what, SHOWN(k));
        if (v->kind != YNODE_SCALAR || v->type == YS_NULL)
            return fail(p, v, "'%s' must be a string, not %s", w, describe(v));
        if (strlen(v->str) != v->len)
            return fail(p, v, "'%s' contains a NUL byte", w);
        (*out)[i].key = xstrdup(k->str);
        (*out)[i].value = xstrdup(v->str);
        (*nout)++;
    }
    return 0;
}

static int get_ports(struct rp *p, const struct ynode *n, struct strv *out)
{
    int r = expect_seq(p, n, "container.ports");
    for (size_t i = 0; r == 0 && i < n->n; i++) {
        const struct ynode *it = n->items[i];
        char w[64];
        snprintf(w, sizeof(w), "container.ports[%zu]", i);
        if (it->kind != YNODE_SCALAR || (it->type != YS_INT && it->type != YS_STR))
            return fail(p, it, "'%s' must be a port like 8080 or '53/udp', not %s", w, describe(it));
        const char *s = it->str;
        size_t d = strspn(s, DIGIT);
        const char *proto = s[d] == '/' ? s + d + 1 : (s[d] ? NULL : "tcp");
        long long port;
        if (d == 0 || d > 5 || !proto || (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")))
            return fail(p, it, "'%s': '%s' is not a port like 8080, '8080/tcp' or '53/udp'", w, SHOWN(it));
        char num[8];
        memcpy(num, s, d);
        num[d] = '\0';
        if (parse_int(num, &port) < 0 || port < 1 || port > 65535 || (d > 1 && num[0] == '0'))
            return fail(p, it, "'%s': port %s is not between 1 and 65535", w, num);
        strv_push(out, xasprintf("%lld/%s", port, proto));
    }
    size_t a, b;
    if (r == 0 && find_dup((const char *const *)out->v, out->n, &a, &b))
        return fail(p, n->items[b], "'container.ports[%zu]': port '%s' is listed twice", b, SHOWN(n->items[b]));
    return r;
}

static int parse_container(struct rp *p, const struct ynode *n, struct recipe_container *c)
{
    static const char *const keys[] = { "entrypoint", "cmd", "env", "workdir", "user", "ports", NULL };
    int r = expect_map(p, n, "container");
    if (r == 0)
        r = check_keys(p, n, keys, "container");
    struct ynode *x;
    if (r == 0 && (x = ymap_get(n, "entrypoint", NULL)))
        r = get_argv(p, x, "container.entrypoint", &c->entrypoint);
    if (r == 0 && (x = ymap_get(n, "cmd", NULL)))
        r = get_argv(p, x, "container.cmd", &c->cmd);
    if (r == 0 && (x = ymap_get(n, "env", NULL)))
        r = get_kv(p, x, "container.env", 1, &c->env, &c->n_env);
    if (r == 0 && (x = ymap_get(n, "workdir", NULL))) {
        r = get_str(p, x, "container.workdir", &c->workdir);
        if (r == 0)
            r = check_abs(p, x, "container.workdir", c->workdir);
    }
    if (r == 0 && (x = ymap_get(n, "user", NULL))) {
        r = get_owner(p, x, "container.user", &c->user);
    }
    if (r == 0 && (x = ymap_get(n, "ports", NULL)))
        r = get_ports(p, x, &c->ports);
    return r;
}

/* ---- outputs ---- */

static const char *const output_names[] = { "oci", "tar", "qcow2", "raw", NULL };

const char *recipe_output_name(enum recipe_output_type t)
{
    if ((unsigned)t < ARRAY_SIZE(output_names) - 1)
        return output_names[t];
    return "unknown";
}

/* "4G", "512M", "1T", "100K" or plain bytes; never 0, never overflowing. */
static int get_size(struct rp *p, const struct ynode *n, const char *what, uint64_t *out)
{
    if (n->kind != YNODE_SCALAR || (n->type != YS_INT && n->type != YS_STR))
        return fail(p, n, "'%s' must be a size like '4G', not %s", what, describe(n));
    const char *s = n->str;
    size_t d = strspn(s, DIGIT);
    uint64_t mult = 1;
    const char *u = s + d;
    if (*u) {
        static const char units[] = "KMGT";
        const char *k = u[1] == '\0' ? strchr(units, *u) : NULL;
        if (!k || !*u)
            d = 0;
        else
            mult = (uint64_t)1 << (10 * (1 + (k - units)));
    }
    if (d == 0 || d > 20)
        return fail(p, n, "'%s': '%s' is not a size (bytes, or a number with K, M, G or T, e.g. '4G')",
                    what, SHOWN(n));
    char num[24];
    memcpy(num, s, d);
    num[d] = '\0';
    errno = 0;
    unsigned long long v = strtoull(num, NULL, 10);
    if (errno == ERANGE || (mult > 1 && v > UINT64_MAX / mult))
        return fail(p, n, "'%s': size '%s' is too large", what, SHOWN(n));
    if (v == 0)
        return fail(p, n, "'%s': size must not be 0", what);
    *out = (uint64_t)v * mult;
    return 0;
}

const char *recipe_firmware_name(enum recipe_firmware f)
{
    static const char *const names[] = { "none", "bios", "uefi", "hybrid" };
    return names[f];
}

/* firmware and secure_boot of a disk output, checked against its
 * bootable, partition_table and size (the ESP must fit). */
static int parse_firmware(struct rp *p, const struct ynode *opts, const char *w, struct recipe_output *o)
{
    char ww[96];
    struct ynode *x, *fw = NULL, *sb = NULL;
    int r = 0;
    o->firmware = FIRMWARE_NONE;
    if ((x = ymap_get(opts, "firmware", &fw))) {
        snprintf(ww, sizeof(ww), "%s.firmware", w);
        static const char *const names[] = { "bios", "uefi", "hybrid", NULL };
        for (size_t i = 0; names[i] && x->kind == YNODE_SCALAR; i++)
            if (strcmp(x->str, names[i]) == 0)
                o->firmware = (enum recipe_firmware)(i + 1);
        if (o->firmware == FIRMWARE_NONE)
            return fail(p, x, "'%s' must be bios, uefi or hybrid", ww);
    }
    if ((x = ymap_get(opts, "secure_boot", &sb))) {
        snprintf(ww, sizeof(ww), "%s.secure_boot", w);
        if ((r = get_bool(p, x, ww, &o->secure_boot)) < 0)
            return r;
    }
    if (!o->bootable) {
        if (fw)
            return fail(p, fw, "'%s.firmware' applies to bootable disks only: add bootable: true", w);
        if (o->secure_boot)
            return fail(p, sb, "'%s.secure_boot' applies to bootable disks only: add bootable: true", w);
        return 0;
    }
    if (o->firmware == FIRMWARE_NONE)
        o->firmware = o->partition_table == PARTITION_MBR ? FIRMWARE_BIOS : FIRMWARE_HYBRID;
    if (o->firmware != FIRMWARE_BIOS && o->partition_table == PARTITION_MBR)
        return fail(p, fw, "'%s.firmware' %s needs a GPT partition table for its EFI System Partition: use partition_table: gpt, or firmware: bios",
                    w, recipe_firmware_name(o->firmware));
    if (o->secure_boot && o->firmware == FIRMWARE_BIOS)
        return fail(p, sb, "'%s.secure_boot' needs UEFI firmware, and the disk boots through BIOS only: use firmware: uefi or hybrid", w);
    if (o->firmware != FIRMWARE_BIOS && o->size && o->size < RECIPE_UEFI_MIN_SIZE) {
        struct ynode *sz = NULL;
        ymap_get(opts, "size", &sz);
        return fail(p, sz, "'%s.size' %llu MiB is too small for the %llu MiB EFI System Partition and a root file system: make it at least %lluM, or use firmware: bios",
                    w, (unsigned long long)(o->size >> 20), (unsigned long long)(RECIPE_ESP_SIZE >> 20),
                    (unsigned long long)(RECIPE_UEFI_MIN_SIZE >> 20));
    }
    return 0;
}

static int parse_output(struct rp *p, const struct ynode *n, size_t idx, struct recipe_output *o)
{
    char w[64], ww[96];
    snprintf(w, sizeof(w), "outputs[%zu]", idx);
    o->pos = n->pos;
    const struct ynode *tn = n, *opts = NULL;
    if (n->kind == YNODE_MAP) {
        if (n->n != 1)
            return fail(p, n, "'%s' must be an output type, or a mapping of one type to its options", w);
        tn = YMAP_KEY(n, 0);
        opts = YMAP_VAL(n, 0);
    } else if (n->kind != YNODE_SCALAR || n->type != YS_STR) {
        return fail(p, n, "'%s' must be one of oci, tar, qcow2, raw, not %s", w, describe(n));
    }
    int found = 0;
    for (size_t i = 0; output_names[i]; i++) {
        if (!strcmp(tn->str, output_names[i])) {
            o->type = (enum recipe_output_type)i;
            found = 1;
        }
    }
    if (!found) {
        const char *s = suggest(tn->str, output_names);
        if (s)
            return fail(p, tn, "unknown output type '%s' (did you mean '%s'?)", SHOWN(tn), s);
        return fail(p, tn, "unknown output type '%s' (one of oci, tar, qcow2, raw)", SHOWN(tn));
    }
    o->compression = COMPRESSION_GZIP;
    o->partition_table = PARTITION_GPT;
    int disk = o->type == OUTPUT_QCOW2 || o->type == OUTPUT_RAW;
    if (disk)
        o->filesystem = xstrdup("ext4");
    if (!opts || (opts->kind == YNODE_SCALAR && opts->type == YS_NULL))
        return 0;
    snprintf(w, sizeof(w), "outputs[%zu].%s", idx, tn->str);
    int r = expect_map(p, opts, w);
    if (r < 0)
        return r;
    static const char *const oci_keys[] = { "compression", NULL };
    static const char *const tar_keys[] = { NULL };
    static const char *const qcow2_keys[] = { "size", "partition_table", "filesystem", "bootable", "firmware",
                                              "secure_boot", "compress", NULL };
    static const char *const raw_keys[] = { "size", "partition_table", "filesystem", "bootable", "firmware",
                                            "secure_boot", NULL };
    const char *const *keys = o->type == OUTPUT_OCI ? oci_keys : o->type == OUTPUT_TAR ? tar_keys
                            : o->type == OUTPUT_QCOW2 ? qcow2_keys : raw_keys;
    if (o->type == OUTPUT_RAW && ymap_get(opts, "compress", NULL)) {
        struct ynode *k = NULL;
        ymap_get(opts, "compress", &k);
        return fail(p, k, "'compress' applies to qcow2 outputs only");
    }
    r = check_keys(p, opts, keys, w);
    struct ynode *x;
    if (r == 0 && (x = ymap_get(opts, "compression", NULL))) {
        snprintf(ww, sizeof(ww), "%s.compression", w);
        if (x->kind == YNODE_SCALAR && !strcmp(x->str, "gzip"))
            o->compression = COMPRESSION_GZIP;
        else if (x->kind == YNODE_SCALAR && !strcmp(x->str, "zstd"))
            o->compression = COMPRESSION_ZSTD;
        else
            r = fail(p, x, "'%s' must be gzip or zstd", ww);
    }
    if (r == 0 && (x = ymap_get(opts, "size", NULL))) {
        snprintf(ww, sizeof(ww), "%s.size", w);
        r = get_size(p, x, ww, &o->size);
    }
    if (r == 0 && (x = ymap_get(opts, "partition_table", NULL))) {
        snprintf(ww, sizeof(ww), "%s.partition_table", w);
        if (x->kind == YNODE_SCALAR && !strcmp(x->str, "gpt"))
            o->partition_table = PARTITION_GPT;
        else if (x->kind == YNODE_SCALAR && !strcmp(x->str, "mbr"))
            o->partition_table = PARTITION_MBR;
        else
            r = fail(p, x, "'%s' must be gpt or mbr", ww);
    }
    if (r == 0 && (x = ymap_get(opts, "filesystem", NULL))) {
        snprintf(ww, sizeof(ww), "%s.filesystem", w);
        if (x->kind != YNODE_SCALAR || strcmp(x->str, "ext4") != 0)
            r = fail(p, x, "'%s' must be ext4 (the only file system supported)", ww);
    }
    if (r == 0 && (x = ymap_get(opts, "bootable", NULL))) {
        snprintf(ww, sizeof(ww), "%s.bootable", w);
        r = get_bool(p, x, ww, &o->bootable);
    }
    if (r == 0 && (x = ymap_get(opts, "compress", NULL))) {
        snprintf(ww, sizeof(ww), "%s.compress", w);
        r = get_bool(p, x, ww, &o->compress);
    }
    if (r == 0 && disk)
        r = parse_firmware(p, opts, w, o);
    return r;
}

static int lists_package(const struct recipe *r, const char *name)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct strv *v = pass == 0 ? &r->base.packages : &r->packages;
        for (size_t i = 0; i < v->n; i++)
            if (strcmp(v->v[i], name) == 0)
                return 1;
    }
    return 0;
}

/* What a UEFI or Secure Boot disk needs from the packages, refused before
 * any work when the recipe's own package lists show it is missing.  (An
 * image from another base, or one changed by run commands, is checked on
 * its tree before the disk is laid out.) */
static int check_boot_packages(struct rp *p, const struct ynode *n, size_t idx, const struct recipe *r,
                               const struct recipe_output *o)
{
    if (o->firmware != FIRMWARE_UEFI && o->firmware != FIRMWARE_HYBRID)
        return 0;
    if (o->secure_boot) {
        for (int pass = 0; pass < 2; pass++) {
            const struct strv *v = pass == 0 ? &r->base.packages : &r->packages;
            for (size_t i = 0; i < v->n; i++) {
                size_t len = strlen(v->v[i]);
                if (strncmp(v->v[i], "linux-image-", 12) == 0 && len > 9 &&
                    strcmp(v->v[i] + len - 9, "-unsigned") == 0)
                    return fail(p, n, "outputs[%zu].secure_boot: '%s' is an unsigned kernel, which Secure Boot firmware refuses to start: use the signed linux-image-amd64 instead",
                                idx, SHOWS(v->v[i]));
            }
        }
        return 0; /* the appliance installs shim-signed, which brings grub-efi-amd64-bin */
    }
    if (r->base.kind != BASE_DEBIAN || r->n_run)
        return 0;
    static const char *const efi[] = { "grub-efi-amd64-bin", "grub-efi-amd64", "shim-signed", NULL };
    for (const char *const *e = efi; *e; e++)
        if (lists_package(r, *e))
            return 0;
    return fail(p, n, "outputs[%zu]: firmware %s boots through UEFI, and the image will have no GRUB EFI files ('/usr/lib/grub/x86_64-efi'): add grub-efi-amd64-bin to the packages, or use firmware: bios",
                idx, recipe_firmware_name(o->firmware));
}

/* Files after the guest stage need the disk laid out after them, on the
 * host: a disk the appliance must lay out inside the guest stage (Secure
 * Boot's signed chain, a file system other than ext4) cannot have them.
 * (Whether this host can lay a disk out at all is the build's to check.) */
static int check_after_run(struct rp *p, const struct ynode *files, const struct recipe *r)
{
    const struct recipe_output *d = recipe_first_disk(r);
    if (!d || !recipe_needs_guest(r))
        return 0;
    const char *why = d->bootable && d->secure_boot ? "a secure_boot disk"
                      : d->filesystem && strcmp(d->filesystem, "ext4") != 0 ? "a disk whose file system is not ext4"
                                                                            : NULL;
    for (size_t i = 0; why && i < r->n_files; i++)
        if (r->files[i].after_run)
            return fail(p, files->items[i], "'files[%zu].after_run': %s is laid out inside the guest stage, "
                        "before files marked after_run: drop after_run", i, why);
    return 0;
}

/* ---- the recipe ---- */

/* cloud_init: true installs these: with a debian base in the bootstrap
 * (base.debian.packages, mmdebstrap runs their maintainer scripts on the
 * host), else through `packages`; after the recipe's own, and a package
 * the recipe lists already in either, at any version or architecture, is
 * not added again. */
static const char *const cloud_init_packages[] = { RECIPE_CLOUD_INIT_PACKAGES, NULL };

static int strv_has_package(const struct strv *pk, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < pk->n; i++)
        if (strncmp(pk->v[i], name, n) == 0 && (pk->v[i][n] == '\0' || strchr(":=", pk->v[i][n])))
            return 1;
    return 0;
}

static void add_cloud_init_packages(struct recipe *r)
{
    struct strv *into = r->base.kind == BASE_DEBIAN ? &r->base.packages : &r->packages;
    for (const char *const *c = cloud_init_packages; *c; c++)
        if (!strv_has_package(&r->base.packages, *c) && !strv_has_package(&r->packages, *c))
            strv_push(into, xstrdup(*c));
}

/* cloud_init: true also makes C.UTF-8 the image's locale, as in Debian's
 * cloud images, unless the recipe writes /etc/default/locale itself: with no
 * locale set, cloud-init's locale module asks for en_US.UTF-8, which a
 * minimal image cannot generate, and warns at every first boot. */
static void add_cloud_init_locale(struct recipe *r)
{
    for (size_t i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i].dest, RECIPE_CLOUD_INIT_LOCALE_FILE) == 0)
            return;
    r->files = xrealloc(r->files, (r->n_files + 1) * sizeof(*r->files));
    struct recipe_file *f = &r->files[r->n_files++];
    memset(f, 0, sizeof(*f));
    f->content = xstrdup(RECIPE_CLOUD_INIT_LOCALE);
    f->content_len = strlen(f->content);
    f->dest = xstrdup(RECIPE_CLOUD_INIT_LOCALE_FILE);
    f->mode = 0644;
}

static int parse_root(struct rp *p, const struct ynode *root, struct recipe *r)
{
    static const char *const keys[] = { "name", "version", "description", "labels", "base", "packages",
                                        "files", "users", "hostname", "services", "run", "sysprep",
                                        "container", "outputs", "boot_test", "drift", "cloud_init", NULL };
    if (root->kind != YNODE_MAP)
        return fail(p, root, "a recipe must be a mapping of keys (name, version, base, ...), not %s",
                    describe(root));
    int rc = check_keys(p, root, keys, NULL);
    struct ynode *x;
    if (rc == 0)
        rc = need(p, root, "name", NULL, &x);
    if (rc == 0)
        rc = get_str(p, x, "name", &r->name);
    if (rc == 0)
        rc = check_ref_part(p, x, ref_check_name, r->name);
    if (rc == 0)
        rc = need(p, root, "version", NULL, &x);
    if (rc == 0)
        rc = get_str(p, x, "version", &r->version);
    if (rc == 0)
        rc = check_ref_part(p, x, ref_check_version, r->version);
    if (rc == 0)
        rc = need(p, root, "base", NULL, &x);
    if (rc == 0)
        rc = parse_base(p, x, &r->base);
    if (rc == 0 && (x = ymap_get(root, "description", NULL)))
        rc = get_str(p, x, "description", &r->description);
    if (rc == 0 && (x = ymap_get(root, "labels", NULL))) {
        rc = get_kv(p, x, "labels", 0, &r->labels, &r->n_labels);
        if (rc == 0)
            qsort(r->labels, r->n_labels, sizeof(*r->labels), kv_cmp);
    }
    if (rc == 0 && (x = ymap_get(root, "packages", NULL)))
        rc = get_strv(p, x, "packages", check_package, 1, &r->packages);
    if (rc == 0 && (x = ymap_get(root, "cloud_init", NULL)))
        rc = get_bool(p, x, "cloud_init", &r->cloud_init);
    if (rc == 0 && r->cloud_init)
        add_cloud_init_packages(r);
    if (rc == 0 && (x = ymap_get(root, "files", NULL))) {
        rc = expect_seq(p, x, "files");
        if (rc == 0)
            r->files = xcalloc(x->n ? x->n : 1, sizeof(*r->files));
        for (size_t i = 0; rc == 0 && i < x->n; i++) {
            r->n_files++;
            rc = parse_file(p, x->items[i], i, &r->files[i]);
        }
        if (rc == 0 && r->n_files > 1) {
            const char **dests = xcalloc(r->n_files, sizeof(*dests));
            size_t a, b;
            for (size_t i = 0; i < r->n_files; i++)
                dests[i] = r->files[i].dest;
            if (find_dup(dests, r->n_files, &a, &b))
                rc = fail(p, x->items[b], "'files[%zu]': dest '%s' is already given at line %u", b,
                          SHOWS(r->files[b].dest), r->files[a].pos.line);
            free(dests);
        }
    }
    if (rc == 0 && r->cloud_init)
        add_cloud_init_locale(r);
    if (rc == 0 && (x = ymap_get(root, "users", NULL))) {
        rc = expect_seq(p, x, "users");
        if (rc == 0)
            r->users = xcalloc(x->n ? x->n : 1, sizeof(*r->users));
        for (size_t i = 0; rc == 0 && i < x->n; i++) {
            r->n_users++;
            rc = parse_user(p, x->items[i], i, &r->users[i]);
        }
        if (rc == 0 && r->n_users > 1) {
            char **ukeys = xcalloc(r->n_users, sizeof(*ukeys));
            size_t a, b, nu = 0;
            for (size_t i = 0; i < r->n_users; i++)
                ukeys[i] = xstrdup(r->users[i].name);
            if (find_dup((const char *const *)ukeys, r->n_users, &a, &b))
                rc = fail(p, x->items[b], "'users[%zu]': user '%s' is already given at line %u", b,
                          r->users[b].name, r->users[a].pos.line);
            /* uids given explicitly; "#i" placeholders never collide */
            for (size_t i = 0; i < r->n_users; i++) {
                free(ukeys[i]);
                ukeys[i] = r->users[i].uid >= 0 ? xasprintf("%ld", r->users[i].uid) : xasprintf("#%zu", i);
                nu++;
            }
            if (rc == 0 && find_dup((const char *const *)ukeys, nu, &a, &b))
                rc = fail(p, x->items[b], "'users[%zu]': uid %ld is already given to '%s'", b,
                          r->users[b].uid, r->users[a].name);
            for (size_t i = 0; i < r->n_users; i++)
                free(ukeys[i]);
            free(ukeys);
        }
    }
    if (rc == 0 && (x = ymap_get(root, "hostname", NULL))) {
        rc = get_str(p, x, "hostname", &r->hostname);
        if (rc == 0)
            rc = check_hostname(p, x, "hostname", r->hostname);
    }
    if (rc == 0 && (x = ymap_get(root, "services", NULL))) {
        static const char *const skeys[] = { "enable", "disable", NULL };
        struct ynode *y;
        rc = expect_map(p, x, "services");
        if (rc == 0)
            rc = check_keys(p, x, skeys, "services");
        if (rc == 0 && (y = ymap_get(x, "enable", NULL)))
            rc = get_strv(p, y, "services.enable", check_unit, 1, &r->services_enable);
        if (rc == 0 && (y = ymap_get(x, "disable", NULL))) {
            rc = get_strv(p, y, "services.disable", check_unit, 1, &r->services_disable);
            size_t ne = r->services_enable.n, nd = r->services_disable.n, a, b;
            const char **all = xcalloc(ne + nd + 1, sizeof(*all));
            for (size_t i = 0; i < ne; i++)
                all[i] = r->services_enable.v[i];
            for (size_t i = 0; i < nd; i++)
                all[ne + i] = r->services_disable.v[i];
            /* neither list repeats itself, so a repeat is one unit in both */
            if (rc == 0 && find_dup(all, ne + nd, &a, &b))
                rc = fail(p, y->items[b - ne], "service '%s' is both enabled and disabled", SHOWS(all[b]));
            free(all);
        }
    }
    if (rc == 0 && (x = ymap_get(root, "run", NULL))) {
        rc = expect_seq(p, x, "run");
        if (rc == 0)
            r->run = xcalloc(x->n ? x->n : 1, sizeof(*r->run));
        for (size_t i = 0; rc == 0 && i < x->n; i++) {
            r->n_run++;
            rc = parse_run(p, x->items[i], i, &r->run[i]);
        }
    }
    r->sysprep = 1;
    if (rc == 0 && (x = ymap_get(root, "sysprep", NULL)))
        rc = get_bool(p, x, "sysprep", &r->sysprep);
    if (rc == 0 && (x = ymap_get(root, "container", NULL))) {
        r->has_container = 1;
        rc = parse_container(p, x, &r->container);
    }
    if (rc == 0 && (x = ymap_get(root, "outputs", NULL))) {
        rc = expect_seq(p, x, "outputs");
        if (rc == 0 && x->n == 0)
            rc = fail(p, x, "'outputs' must list at least one output");
        if (rc == 0)
            r->outputs = xcalloc(x->n, sizeof(*r->outputs));
        for (size_t i = 0; rc == 0 && i < x->n; i++) {
            r->n_outputs++;
            rc = parse_output(p, x->items[i], i, &r->outputs[i]);
            if (rc == 0)
                rc = check_boot_packages(p, x->items[i], i, r, &r->outputs[i]);
            for (size_t j = 0; rc == 0 && j < i; j++)
                if (r->outputs[j].type == r->outputs[i].type)
                    rc = fail(p, x->items[i], "output '%s' is listed twice",
                              recipe_output_name(r->outputs[i].type));
        }
    } else if (rc == 0) {
        r->outputs = xcalloc(1, sizeof(*r->outputs));
        r->n_outputs = 1;
        r->outputs[0].type = OUTPUT_OCI;
        r->outputs[0].compression = COMPRESSION_GZIP;
    }
    if (rc == 0)
        rc = check_after_run(p, ymap_get(root, "files", NULL), r);
    r->boot_test.timeout = 300;
    if (rc == 0 && (x = ymap_get(root, "boot_test", NULL))) {
        static const char *const bkeys[] = { "marker", "timeout", NULL };
        struct ynode *y;
        rc = expect_map(p, x, "boot_test");
        if (rc == 0)
            rc = check_keys(p, x, bkeys, "boot_test");
        if (rc == 0 && (y = ymap_get(x, "marker", NULL)))
            rc = get_str(p, y, "boot_test.marker", &r->boot_test.marker);
        if (rc == 0 && (y = ymap_get(x, "timeout", NULL))) {
            long long t;
            rc = get_uint(p, y, "boot_test.timeout", 1, MAX_TIMEOUT, &t);
            r->boot_test.timeout = (unsigned)t;
        }
    }
    if (rc == 0 && !r->boot_test.marker)
        r->boot_test.marker = xstrdup("login:");
    if (rc == 0 && (x = ymap_get(root, "drift", NULL))) {
        static const char *const dkeys[] = { "ignore", NULL };
        struct ynode *y;
        rc = expect_map(p, x, "drift");
        if (rc == 0)
            rc = check_keys(p, x, dkeys, "drift");
        if (rc == 0 && (y = ymap_get(x, "ignore", NULL))) {
            rc = get_strv(p, y, "drift.ignore", check_drift_pattern, 1, &r->drift_ignore);
            if (rc == 0 && r->drift_ignore.n > DRIFT_MAX_PATTERNS)
                rc = fail(p, y, "'drift.ignore' lists more than %d patterns", DRIFT_MAX_PATTERNS);
        }
    }
    return rc;
}

void recipe_free(struct recipe *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->source);
    free(r->name);
    free(r->version);
    free(r->description);
    for (size_t i = 0; i < r->n_labels; i++) {
        free(r->labels[i].key);
        free(r->labels[i].value);
    }
    free(r->labels);
    free(r->base.path);
    free(r->base.ref);
    free(r->base.suite);
    free(r->base.variant);
    free(r->base.mirror);
    strv_release(&r->base.packages);
    strv_release(&r->base.components);
    for (size_t i = 0; i < r->base.n_suites; i++) {
        free(r->base.suites[i].suite);
        free(r->base.suites[i].mirror);
    }
    free(r->base.suites);
    free(r->base.snapshot);
    free(r->base.keyring);
    strv_release(&r->packages);
    for (size_t i = 0; i < r->n_files; i++)
        file_release(&r->files[i]);
    free(r->files);
    for (size_t i = 0; i < r->n_users; i++)
        user_release(&r->users[i]);
    free(r->users);
    free(r->hostname);
    strv_release(&r->services_enable);
    strv_release(&r->drift_ignore);
    strv_release(&r->services_disable);
    for (size_t i = 0; i < r->n_run; i++)
        free(r->run[i].command);
    free(r->run);
    strv_release(&r->container.entrypoint);
    strv_release(&r->container.cmd);
    for (size_t i = 0; i < r->container.n_env; i++) {
        free(r->container.env[i].key);
        free(r->container.env[i].value);
    }
    free(r->container.env);
    free(r->container.workdir);
    free(r->container.user);
    strv_release(&r->container.ports);
    for (size_t i = 0; i < r->n_outputs; i++)
        free(r->outputs[i].filesystem);
    free(r->outputs);
    free(r->boot_test.marker);
    strv_release(&r->context);
    free(r);
}

DEFINE_CLEANUP(struct recipe, recipe_free)
DEFINE_CLEANUP(struct ynode, ynode_free)

static char *basename_of(const char *s)
{
    const char *slash = strrchr(s, '/');
    return xstrdup(slash && slash[1] ? slash + 1 : s);
}

/* An absolute form of dir (caller-owned). */
static char *absolute_dir(const char *dir)
{
    if (dir && dir[0] == '/')
        return xstrdup(dir);
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        cwd = xstrdup("/");
    char *out = (!dir || !dir[0] || !strcmp(dir, ".")) ? xstrdup(cwd) : path_join(cwd, dir);
    free(cwd);
    return out;
}

static int parse_internal(const char *data, size_t len, const char *name, const char *abs_dir,
                          const char *abs_path, struct recipe **out, struct kiln_err *err)
{
    *out = NULL;
    _cleanup_(ynode_freep) struct ynode *root = NULL;
    int r = ytree_parse(data, len, name, &root, err);
    if (r < 0)
        return r;
    _cleanup_(recipe_freep) struct recipe *rec = xcalloc(1, sizeof(*rec));
    rec->path = xstrdup(abs_path);
    rec->source = xstrdup(name);
    hash_sha256_hex(data, len, rec->sha256);
    struct rp p = { name, abs_dir, err };
    r = parse_root(&p, root, rec);
    if (r < 0)
        return r;
    char *real = realpath(abs_dir, NULL);
    strv_push(&rec->context, real ? real : xstrdup(abs_dir));
    *out = TAKE_PTR(rec);
    return 0;
}

int recipe_parse(const char *data, size_t len, const char *name, const char *base_dir,
                 struct recipe **out, struct kiln_err *err)
{
    if (!name)
        name = "recipe.yaml";
    _cleanup_free_ char *dir = absolute_dir(base_dir);
    _cleanup_free_ char *base = basename_of(name);
    _cleanup_free_ char *path = path_join(dir, base);
    return parse_internal(data, len, name, dir, path, out, err);
}

int recipe_load(const char *path, struct recipe **out, struct kiln_err *err)
{
    *out = NULL;
    struct buf b;
    buf_init(&b, 0);
    int r = fs_read_file(path, RECIPE_MAX_BYTES, &b, err);
    if (r < 0) {
        buf_release(&b);
        if (r == KILN_ENOTFOUND)
            return kiln_errf(err, KILN_EINVAL, "recipe '%s' does not exist", path);
        if (r == KILN_EINVAL && strstr(err->msg, "larger than"))
            return kiln_errf(err, KILN_EINVAL, "%s: recipe is larger than %u bytes", path,
                             (unsigned)RECIPE_MAX_BYTES);
        return r;
    }
    /* The folder as the user sees it (a symlinked recipe file resolves
     * relative paths next to the link), made absolute and canonical. */
    _cleanup_free_ char *given_dir = path_dirname(path);
    char *real = realpath(given_dir, NULL);
    _cleanup_free_ char *dir = real ? real : absolute_dir(given_dir);
    _cleanup_free_ char *base = basename_of(path);
    _cleanup_free_ char *abs = path_join(dir, base);
    r = parse_internal(b.data, b.len, path, dir, abs, out, err);
    buf_release(&b);
    return r;
}

int recipe_context_add(struct recipe *r, const char *dir, struct kiln_err *err)
{
    char *real = realpath(dir, NULL);
    if (!real)
        return kiln_errno(err, KILN_EINVAL, errno, "build context '%s'", dir);
    struct stat st;
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return kiln_errf(err, KILN_EINVAL, "build context '%s' is not a directory", dir);
    }
    for (size_t i = 0; i < r->context.n; i++) {
        if (!strcmp(r->context.v[i], real)) {
            free(real);
            return 0;
        }
    }
    strv_push(&r->context, real);
    return 0;
}
