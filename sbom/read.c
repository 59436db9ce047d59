/* read.c - sbom_read(): the dpkg database, the copyright files, os-release
 * and the files no package owns, read from a tree as hostile input. */
#include "sbom/sbom.h"
#include "sbom/sbom-internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/text.h"
#include "tree/tree.h"
#include "common/banned.h"

#define STATUS_PATH "/var/lib/dpkg/status"
#define INFO_DIR "/var/lib/dpkg/info/"
#define DIVERSIONS_PATH "/var/lib/dpkg/diversions"
#define MAX_NAME 256       /* package, version, architecture, source */
#define MAX_LICENSES 64    /* distinct License expressions in one copyright file */
#define MAX_EXPRESSION 4096

/* ---- text checks ------------------------------------------------------------ */

/* 1 when every byte of s is in the set (a string of allowed punctuation plus
 * lowercase letters and digits, and uppercase when upper is set). */
static int chars_ok(const char *s, const char *punct, int upper)
{
    if (!*s || strlen(s) > MAX_NAME)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z') ||
            (c && strchr(punct, c)))
            continue;
        return 0;
    }
    return 1;
}

static int pkg_name_ok(const char *s)
{
    return strlen(s) >= 2 && s[0] != '+' && s[0] != '-' && s[0] != '.' && chars_ok(s, "+.-", 0);
}

static int version_ok(const char *s)
{
    return chars_ok(s, ".+~:-", 1) && s[0] >= '0' && s[0] <= '9';
}

/* ---- deb822 paragraphs ------------------------------------------------------ */

struct d822 {
    const char *p, *end;
    size_t line;       /* of the line just read */
    const char *what;  /* the file, in errors */
    int in_field;      /* a field was read in this paragraph (continuations allowed) */
};

struct d822_field {
    const char *name;
    size_t name_len;
    const char *value; /* the first line, trimmed */
    size_t value_len;
    size_t line;
};

enum { D822_EOF = 0, D822_FIELD = 1, D822_END = 2 };

/* The next field of the current paragraph (its continuation lines are
 * skipped), D822_END after a paragraph's last field, D822_EOF at the end. */
static int d822_next(struct d822 *d, struct d822_field *f, struct kiln_err *err)
{
    for (;;) {
        if (d->p >= d->end) {
            if (d->in_field) {
                d->in_field = 0;
                return D822_END;
            }
            return D822_EOF;
        }
        const char *nl = memchr(d->p, '\n', (size_t)(d->end - d->p));
        const char *le = nl ? nl : d->end;
        const char *line = d->p;
        d->p = nl ? nl + 1 : d->end;
        d->line++;
        size_t len = (size_t)(le - line);
        if (len && line[len - 1] == '\r')
            len--;
        size_t blank = 0;
        while (blank < len && (line[blank] == ' ' || line[blank] == '\t'))
            blank++;
        if (blank == len) {
            if (d->in_field) {
                d->in_field = 0;
                return D822_END;
            }
            continue;
        }
        if (blank) {
            if (!d->in_field)
                return kiln_errf(err, KILN_EINVAL, "%s:%zu: continuation line outside a field", d->what, d->line);
            continue;
        }
        const char *colon = memchr(line, ':', len);
        size_t nlen = colon ? (size_t)(colon - line) : 0;
        int name_ok = nlen > 0 && nlen <= 128 && line[0] != '-' && line[0] != '#';
        for (size_t i = 0; name_ok && i < nlen; i++)
            name_ok = line[i] > ' ' && line[i] < 127;
        if (!name_ok)
            return kiln_errf(err, KILN_EINVAL, "%s:%zu: expected 'Field: value'", d->what, d->line);
        const char *v = colon + 1, *ve = line + len;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        *f = (struct d822_field){ line, nlen, v, (size_t)(ve - v), d->line };
        d->in_field = 1;
        return D822_FIELD;
    }
}

static int field_is(const struct d822_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

static char *field_dup(const struct d822_field *f)
{
    char *s = xmalloc(f->value_len + 1);
    memcpy(s, f->value, f->value_len);
    s[f->value_len] = '\0';
    return s;
}

/* ---- the status file ---------------------------------------------------------- */

struct para {
    char *package, *version, *arch, *source, *status;
    size_t line;
};

static void para_release(struct para *p)
{
    free(p->package);
    free(p->version);
    free(p->arch);
    free(p->source);
    free(p->status);
    memset(p, 0, sizeof(*p));
}

static void package_release(struct sbom_package *p)
{
    free(p->name);
    free(p->version);
    free(p->arch);
    free(p->source);
    free(p->source_version);
    free(p->license);
    free(p->purl);
}

/* 1 when the Status field says the package's files are on disk. */
static int status_installed(const char *status)
{
    const char *last = strrchr(status, ' ');
    last = last ? last + 1 : status;
    return strcmp(last, "not-installed") != 0 && strcmp(last, "config-files") != 0;
}

/* Adds the finished paragraph p as a package. */
static int para_add(struct sbom *s, struct para *p, const char *what, struct kiln_err *err)
{
    if (!p->package)
        return kiln_errf(err, KILN_EINVAL, "%s:%zu: paragraph without a Package field", what, p->line);
    if (!pkg_name_ok(p->package))
        return kiln_errf(err, KILN_EINVAL, "%s:%zu: invalid package name '%.64s'", what, p->line, p->package);
    if (!p->status)
        return kiln_errf(err, KILN_EINVAL, "%s:%zu: package '%s' has no Status field", what, p->line, p->package);
    if (!status_installed(p->status))
        return 0;
    if (!p->version || !version_ok(p->version))
        return kiln_errf(err, KILN_EINVAL, "%s:%zu: package '%s' has %s version%s%.64s%s", what, p->line, p->package,
                         p->version ? "an invalid" : "no", p->version ? " '" : "", p->version ? p->version : "",
                         p->version ? "'" : "");
    if (!p->arch || !chars_ok(p->arch, "-", 0))
        return kiln_errf(err, KILN_EINVAL, "%s:%zu: package '%s' has %s architecture", what, p->line, p->package,
                         p->arch ? "an invalid" : "no");
    char *src = NULL, *src_version = NULL;
    if (p->source) {
        char *open = strchr(p->source, ' ');
        if (open) {
            *open = '\0';
            char *v = open + 1;
            size_t vl = strlen(v);
            if (vl < 3 || v[0] != '(' || v[vl - 1] != ')') {
                *open = ' ';
                return kiln_errf(err, KILN_EINVAL, "%s:%zu: package '%s': Source '%.64s' is not 'NAME (VERSION)'",
                                 what, p->line, p->package, p->source);
            }
            v[vl - 1] = '\0';
            src_version = xstrdup(v + 1);
        }
        src = xstrdup(p->source);
        if (!pkg_name_ok(src) || (src_version && !version_ok(src_version))) {
            free(src);
            free(src_version);
            return kiln_errf(err, KILN_EINVAL, "%s:%zu: package '%s' has an invalid Source field", what, p->line,
                             p->package);
        }
    }
    if (s->n_pkgs == SBOM_MAX_PACKAGES) {
        free(src);
        free(src_version);
        return kiln_errf(err, KILN_EINVAL, "%s: more than %d packages", what, SBOM_MAX_PACKAGES);
    }
    if (s->n_pkgs % 64 == 0)
        s->pkgs = xrealloc(s->pkgs, (s->n_pkgs + 64) * sizeof(*s->pkgs));
    struct sbom_package *k = &s->pkgs[s->n_pkgs++];
    *k = (struct sbom_package){
        .name = TAKE_PTR(p->package),
        .version = TAKE_PTR(p->version),
        .arch = TAKE_PTR(p->arch),
        .source = src,
        .source_version = src_version,
    };
    if (!k->source)
        k->source = xstrdup(k->name);
    if (!k->source_version)
        k->source_version = xstrdup(k->version);
    return 0;
}

static int set_once(char **slot, const struct d822_field *f, const char *what, struct kiln_err *err)
{
    if (*slot)
        return kiln_errf(err, KILN_EINVAL, "%s:%zu: field '%.*s' given twice in one paragraph", what, f->line,
                         (int)f->name_len, f->name);
    *slot = field_dup(f);
    return 0;
}

static int cmp_pkg(const void *a, const void *b)
{
    const struct sbom_package *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->arch, y->arch);
}

static int parse_status(struct sbom *s, const char *data, size_t len, struct kiln_err *err)
{
    const char *what = STATUS_PATH;
    if (memchr(data, '\0', len))
        return kiln_errf(err, KILN_EINVAL, "%s: holds a NUL byte", what);
    if (!utf8_valid((const unsigned char *)data, len))
        return kiln_errf(err, KILN_EINVAL, "%s: not valid UTF-8", what);
    struct d822 d = { data, data + len, 0, what, 0 };
    struct para p = { 0 };
    struct d822_field f;
    int r;
    while ((r = d822_next(&d, &f, err)) > 0) {
        if (r == D822_END) {
            r = para_add(s, &p, what, err);
            para_release(&p);
            if (r < 0)
                return r;
            continue;
        }
        if (!p.line)
            p.line = f.line;
        if (field_is(&f, "Package"))
            r = set_once(&p.package, &f, what, err);
        else if (field_is(&f, "Version"))
            r = set_once(&p.version, &f, what, err);
        else if (field_is(&f, "Architecture"))
            r = set_once(&p.arch, &f, what, err);
        else if (field_is(&f, "Source"))
            r = set_once(&p.source, &f, what, err);
        else if (field_is(&f, "Status"))
            r = set_once(&p.status, &f, what, err);
        if (r < 0) {
            para_release(&p);
            return r;
        }
    }
    para_release(&p);
    if (r < 0)
        return r;
    if (s->n_pkgs)
        qsort(s->pkgs, s->n_pkgs, sizeof(*s->pkgs), cmp_pkg);
    for (size_t i = 1; i < s->n_pkgs; i++)
        if (cmp_pkg(&s->pkgs[i - 1], &s->pkgs[i]) == 0)
            return kiln_errf(err, KILN_EINVAL, "%s: package '%s' of architecture '%s' is listed twice", what,
                             s->pkgs[i].name, s->pkgs[i].arch);
    return 0;
}

/* ---- licenses from machine-readable copyright files ------------------------------ */

static const struct {
    const char *debian, *spdx;
} license_map[] = {
    { "GPL-1", "GPL-1.0-only" },         { "GPL-1+", "GPL-1.0-or-later" },     { "GPL-2", "GPL-2.0-only" },
    { "GPL-2+", "GPL-2.0-or-later" },    { "GPL-2.0", "GPL-2.0-only" },        { "GPL-2.0+", "GPL-2.0-or-later" },
    { "GPL-3", "GPL-3.0-only" },         { "GPL-3+", "GPL-3.0-or-later" },     { "GPL-3.0", "GPL-3.0-only" },
    { "GPL-3.0+", "GPL-3.0-or-later" },  { "LGPL-2", "LGPL-2.0-only" },        { "LGPL-2+", "LGPL-2.0-or-later" },
    { "LGPL-2.1", "LGPL-2.1-only" },     { "LGPL-2.1+", "LGPL-2.1-or-later" }, { "LGPL-3", "LGPL-3.0-only" },
    { "LGPL-3+", "LGPL-3.0-or-later" },  { "AGPL-3", "AGPL-3.0-only" },        { "AGPL-3+", "AGPL-3.0-or-later" },
    { "GFDL-1.2", "GFDL-1.2-only" },     { "GFDL-1.2+", "GFDL-1.2-or-later" }, { "GFDL-1.3", "GFDL-1.3-only" },
    { "GFDL-1.3+", "GFDL-1.3-or-later" }, { "Expat", "MIT" },                  { "MIT", "MIT" },
    { "BSD-2-clause", "BSD-2-Clause" },  { "BSD-3-clause", "BSD-3-Clause" },   { "BSD-4-clause", "BSD-4-Clause" },
    { "Apache-2", "Apache-2.0" },        { "Apache-2.0", "Apache-2.0" },       { "Artistic", "Artistic-1.0" },
    { "Artistic-1.0", "Artistic-1.0" },  { "Artistic-2.0", "Artistic-2.0" },   { "Zlib", "Zlib" },
    { "ISC", "ISC" },                    { "MPL-1.1", "MPL-1.1" },             { "MPL-2.0", "MPL-2.0" },
    { "CC0", "CC0-1.0" },                { "CC0-1.0", "CC0-1.0" },             { "OpenSSL", "OpenSSL" },
    { "curl", "curl" },                  { "X11", "X11" },                     { "BSL-1.0", "BSL-1.0" },
    { "Unicode-DFS-2016", "Unicode-DFS-2016" }, { "Python-2.0", "Python-2.0" }, { "PSF-2", "PSF-2.0" },
    { "OFL-1.1", "OFL-1.1" },            { "FTL", "FTL" },                     { "Sleepycat", "Sleepycat" },
};

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct sbom_license_ref *)a)->id, ((const struct sbom_license_ref *)b)->id);
}

/* Records the LicenseRef id standing for the Debian short name `name` in s. */
static void add_ref(struct sbom *s, const char *id, const char *name)
{
    struct sbom_license_ref key = { (char *)id, NULL };
    if (s->n_refs && bsearch(&key, s->refs, s->n_refs, sizeof(*s->refs), cmp_ref))
        return;
    s->refs = xrealloc(s->refs, (s->n_refs + 1) * sizeof(*s->refs));
    s->refs[s->n_refs++] = (struct sbom_license_ref){ xstrdup(id), xstrdup(name) };
    qsort(s->refs, s->n_refs, sizeof(*s->refs), cmp_ref);
}

/* The SPDX form of one Debian short name (caller-owned); *is_ref is set
 * when SPDX has no identifier for it and it becomes LicenseRef-NAME ('+'
 * written "plus", other characters SPDX ids cannot hold as '-'). */
static char *license_id(const char *name, int *is_ref)
{
    *is_ref = 0;
    for (size_t i = 0; i < ARRAY_SIZE(license_map); i++)
        if (strcasecmp(license_map[i].debian, name) == 0)
            return xstrdup(license_map[i].spdx);
    *is_ref = 1;
    struct buf b;
    buf_init(&b, 0);
    buf_adds(&b, "LicenseRef-", NULL);
    for (const char *c = name; *c; c++) {
        if (*c == '+')
            buf_adds(&b, "plus", NULL);
        else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
                 *c == '-')
            buf_addch(&b, *c, NULL);
        else
            buf_addch(&b, '-', NULL);
    }
    return buf_detach(&b, NULL);
}

/* One License field's first line ("GPL-2+ or Artistic", "GPL-2+ with
 * OpenSSL exception") as an SPDX expression; NULL when it holds anything
 * but names, "and", "or", "with NAME [exception]" and commas.  The
 * LicenseRef-s it uses are recorded in s only when it is valid. */
static char *license_expression(struct sbom *s, const char *line)
{
    _cleanup_free_ char *copy = xstrdup(line);
    char *words[64];
    size_t n = 0;
    for (char *p = copy; *p && n < ARRAY_SIZE(words);) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            *p++ = '\0';
        if (!*p)
            break;
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ',')
            p++;
    }
    if (n == 0 || n == ARRAY_SIZE(words))
        return NULL;
    struct buf b;
    buf_init(&b, MAX_EXPRESSION);
    char *refs[ARRAY_SIZE(words)][2];
    size_t n_refs = 0;
    int want_name = 1, ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        const char *w = words[i];
        if (!want_name && (strcasecmp(w, "or") == 0 || strcasecmp(w, "and") == 0)) {
            ok = buf_adds(&b, strcasecmp(w, "or") == 0 ? " OR " : " AND ", NULL) == 0;
            want_name = 1;
            continue;
        }
        if (!want_name || !chars_ok(w, ".+_-", 1)) {
            ok = 0;
            break;
        }
        _cleanup_free_ char *name = NULL;
        if (i + 2 < n && strcasecmp(words[i + 1], "with") == 0 && chars_ok(words[i + 2], ".+_-", 1)) {
            /* SPDX 2.3 allows only listed exceptions after WITH: the pair is one LicenseRef. */
            name = xasprintf("%s-with-%s-exception", w, words[i + 2]);
            i += 2;
            if (i + 1 < n && strcasecmp(words[i + 1], "exception") == 0)
                i++;
        } else {
            name = xstrdup(w);
        }
        int is_ref = 0;
        char *id = license_id(name, &is_ref);
        ok = buf_adds(&b, id, NULL) == 0;
        if (is_ref) {
            refs[n_refs][0] = id;
            refs[n_refs++][1] = TAKE_PTR(name);
        } else {
            free(id);
        }
        want_name = 0;
    }
    ok = ok && !want_name;
    for (size_t i = 0; i < n_refs; i++) {
        if (ok)
            add_ref(s, refs[i][0], refs[i][1]);
        free(refs[i][0]);
        free(refs[i][1]);
    }
    if (!ok) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The license of package k from /usr/share/doc/NAME/copyright when it is
 * machine-readable; nothing when it is not, or does not read. */
static void read_license(struct tree *t, struct sbom *s, struct sbom_package *k)
{
    _cleanup_free_ char *path = xasprintf("/usr/share/doc/%s/copyright", k->name);
    struct tree_entry *e = tree_resolve(t, path);
    if (!e || e->type != TREE_FILE || !e->content || e->content->size > SBOM_MAX_COPYRIGHT_BYTES)
        return;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    if (tree_read_content(t, e, SBOM_MAX_COPYRIGHT_BYTES, &data, &len, NULL) < 0 || memchr(data, '\0', len) ||
        !utf8_valid((unsigned char *)data, len))
        return;
    struct d822 d = { data, data + len, 0, path, 0 };
    struct d822_field f;
    int r, para = 0, dep5 = 0, files = 0;
    char *exprs[MAX_LICENSES];
    size_t n = 0;
    _cleanup_free_ char *lic = NULL;
    while ((r = d822_next(&d, &f, NULL)) > 0) {
        if (r == D822_END) {
            /* The header's License, and each Files paragraph's. */
            if (lic && (para == 0 || files)) {
                char *x = license_expression(s, lic);
                int dup = 0;
                for (size_t i = 0; x && i < n; i++)
                    dup |= strcmp(exprs[i], x) == 0;
                if (!x || dup || n == MAX_LICENSES)
                    free(x);
                else
                    exprs[n++] = x;
            }
            free(TAKE_PTR(lic));
            files = 0;
            para++;
            if (!dep5)
                break;
            continue;
        }
        if (para == 0 && field_is(&f, "Format"))
            dep5 = f.value_len > 0 && (memmem(f.value, f.value_len, "copyright-format/1.0", 20) ||
                                       memmem(f.value, f.value_len, "/dep5", 5));
        else if (field_is(&f, "Files"))
            files = 1;
        else if (field_is(&f, "License") && !lic)
            lic = field_dup(&f);
    }
    if (r < 0 || !dep5 || n == 0) {
        for (size_t i = 0; i < n; i++)
            free(exprs[i]);
        return;
    }
    qsort(exprs, n, sizeof(*exprs), cmp_str);
    struct buf b;
    buf_init(&b, MAX_EXPRESSION);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        int paren = n > 1 && strstr(exprs[i], " OR ");
        if (ok)
            ok = buf_addf(&b, NULL, "%s%s%s%s", i ? " AND " : "", paren ? "(" : "", exprs[i], paren ? ")" : "") == 0;
        free(exprs[i]);
    }
    if (ok)
        k->license = buf_detach(&b, NULL);
    else
        buf_release(&b);
}

/* ---- os-release ------------------------------------------------------------------ */

static int parse_os_release(struct sbom *s, const char *what, const char *data, size_t len, struct kiln_err *err)
{
    if (memchr(data, '\0', len) || !utf8_valid((const unsigned char *)data, len))
        return kiln_errf(err, KILN_EINVAL, "%s: holds a NUL byte or invalid UTF-8", what);
    size_t line = 0;
    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *l = p;
        p = nl ? nl + 1 : end;
        line++;
        while (l < le && (*l == ' ' || *l == '\t'))
            l++;
        if (l == le || *l == '#')
            continue;
        const char *eq = memchr(l, '=', (size_t)(le - l));
        int ok = eq && eq > l;
        for (const char *c = l; ok && c < eq; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
        if (!ok)
            return kiln_errf(err, KILN_EINVAL, "%s:%zu: expected KEY=VALUE", what, line);
        struct buf v;
        buf_init(&v, 4096);
        const char *c = eq + 1;
        char quote = (c < le && (*c == '"' || *c == '\'')) ? *c++ : 0;
        int closed = !quote;
        for (; c < le; c++) {
            if (quote && *c == quote) {
                closed = 1;
                c++;
                break;
            }
            if (quote == '"' && *c == '\\' && c + 1 < le)
                c++;
            if ((unsigned char)*c < ' ' || (!quote && (*c == ' ' || *c == '"' || *c == '\'')) ||
                buf_addch(&v, *c, NULL) < 0) {
                closed = 0;
                break;
            }
        }
        while (closed && c < le && (*c == ' ' || *c == '\t' || *c == '\r'))
            c++;
        if (!closed || c != le) {
            buf_release(&v);
            return kiln_errf(err, KILN_EINVAL, "%s:%zu: malformed value", what, line);
        }
        char *val = buf_detach(&v, NULL);
        size_t kl = (size_t)(eq - l);
        char **slot = NULL;
        static const char *const keys[] = { "ID", "NAME", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME",
                                            "HOME_URL" };
        char **slots[] = { &s->os_id, &s->os_name, &s->os_version_id, &s->os_pretty, &s->os_codename,
                           &s->os_home };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
            if (kl == strlen(keys[i]) && memcmp(l, keys[i], kl) == 0)
                slot = slots[i];
        if (slot) {
            free(*slot);
            *slot = val;
        } else {
            free(val);
        }
    }
    if (s->os_id && !chars_ok(s->os_id, "._-", 0))
        return kiln_errf(err, KILN_EINVAL, "%s: invalid ID '%.64s'", what, s->os_id);
    if (s->os_version_id && !chars_ok(s->os_version_id, "._~-", 1))
        return kiln_errf(err, KILN_EINVAL, "%s: invalid VERSION_ID '%.64s'", what, s->os_version_id);
    return 0;
}

/* A file of the tree, read whole when it exists (*data NULL when it does not). */
static int read_file(struct tree *t, const char *path, size_t limit, char **data, size_t *len, struct kiln_err *err)
{
    *data = NULL;
    *len = 0;
    struct tree_entry *e = tree_resolve(t, path);
    if (!e)
        return 0;
    if (e->type != TREE_FILE)
        return kiln_errf(err, KILN_EINVAL, "'%s' is not a regular file", path);
    if (e->content && e->content->size > limit)
        return kiln_errf(err, KILN_EINVAL, "'%s' is %llu bytes, more than the %zu bytes allowed", path,
                         (unsigned long long)e->content->size, limit);
    return tree_read_content(t, e, limit, data, len, err);
}

/* ---- purl ------------------------------------------------------------------------ */

/* Percent-encodes everything but unreserved characters (and ':' in versions,
 * as the purl reference implementations leave it). */
static void purl_add(struct buf *b, const char *s, int keep_colon)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
            c == '_' || c == '~' || (keep_colon && c == ':'))
            buf_addch(b, (char)c, NULL);
        else
            buf_addf(b, NULL, "%%%02X", c);
    }
}

static char *make_purl(const struct sbom *s, const struct sbom_package *k)
{
    struct buf b;
    buf_init(&b, 0);
    buf_adds(&b, "pkg:deb/", NULL);
    purl_add(&b, s->os_id ? s->os_id : "debian", 0);
    buf_addch(&b, '/', NULL);
    purl_add(&b, k->name, 0);
    buf_addch(&b, '@', NULL);
    purl_add(&b, k->version, 1);
    buf_adds(&b, "?arch=", NULL);
    purl_add(&b, k->arch, 0);
    if (s->os_version_id) {
        buf_adds(&b, "&distro=", NULL);
        purl_add(&b, s->os_id ? s->os_id : "debian", 0);
        buf_addch(&b, '-', NULL);
        purl_add(&b, s->os_version_id, 0);
    }
    return buf_detach(&b, NULL);
}

/* ---- owned and unowned files ---------------------------------------------------- */

struct strs {
    char **v;
    size_t n, cap;
};

static void strs_add(struct strs *s, char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = str;
}

/* The path dpkg names, as the tree holds it: its directory resolved through
 * symlinks (/bin/ls of a merged /usr is /usr/bin/ls); NULL when absent. */
static char *canonical(struct tree *t, const char *line, size_t len)
{
    _cleanup_free_ char *raw = xmalloc(len + 1);
    memcpy(raw, line, len);
    raw[len] = '\0';
    _cleanup_free_ char *p = NULL;
    if (tree_normalize("dpkg file list", raw, &p, NULL) < 0 || strcmp(p, "/") == 0)
        return NULL;
    if (tree_get(t, p))
        return TAKE_PTR(p);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    const struct tree_entry *dir = tree_resolve(t, p[0] ? p : "/");
    if (!dir || dir->type != TREE_DIR)
        return NULL;
    char *c = xasprintf("%s/%s", strcmp(dir->path, "/") ? dir->path : "", slash + 1);
    if (!tree_get(t, c)) {
        free(c);
        return NULL;
    }
    return c;
}

/* Every path of a file list (one per line; every_third: the diversions
 * file, whose second line of each three is the diverted-to path). */
static void owned_from(struct tree *t, struct strs *owned, const char *data, size_t len, int diversions)
{
    size_t line = 0;
    for (const char *p = data, *end = data + len; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *l = p;
        p = nl ? nl + 1 : end;
        if ((diversions && line % 3 != 1) || le == l || *l != '/' || (size_t)(le - l) > TREE_MAX_PATH)
            continue;
        char *c = canonical(t, l, (size_t)(le - l));
        if (c)
            strs_add(owned, c);
    }
}

static int owned_paths(struct tree *t, struct tree_entry **es, size_t n, struct strs *owned, struct kiln_err *err)
{
    size_t plen = strlen(INFO_DIR);
    for (size_t i = 0; i < n; i++) {
        const struct tree_entry *e = es[i];
        size_t l = strlen(e->path);
        int list = strncmp(e->path, INFO_DIR, plen) == 0 && !strchr(e->path + plen, '/') && l > plen + 5 &&
                   strcmp(e->path + l - 5, ".list") == 0;
        int div = strcmp(e->path, DIVERSIONS_PATH) == 0;
        if ((!list && !div) || e->type != TREE_FILE)
            continue;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_file(t, e->path, SBOM_MAX_LIST_BYTES, &data, &len, err);
        if (r < 0)
            return r;
        owned_from(t, owned, data, len, div);
    }
    if (owned->n)
        qsort(owned->v, owned->n, sizeof(*owned->v), cmp_str);
    return 0;
}

static int file_sha1(struct tree *t, const struct tree_entry *e, char hex[HASH_HEX_LEN + 1], struct kiln_err *err)
{
    struct hash_ctx *h = hash_new_sha1();
    if (!h)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    static __thread unsigned char chunk[1 << 16];
    uint64_t size = e->content ? e->content->size : 0;
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof(chunk) ? (size_t)(size - off) : sizeof(chunk);
        int r = tree_pread(t, e, chunk, n, off, err);
        if (r < 0) {
            hash_free(h);
            return r;
        }
        hash_update(h, chunk, n);
        off += n;
    }
    hash_final_hex(h, hex);
    hash_free(h);
    return 0;
}

static int unowned_files(struct tree *t, struct sbom *s, struct kiln_err *err)
{
    struct tree_entry **es = NULL;
    size_t n = 0;
    int r = tree_sorted(t, &es, &n, err);
    if (r < 0)
        return r;
    struct strs owned = { 0 };
    if (s->has_dpkg)
        r = owned_paths(t, es, n, &owned, err);
    for (size_t i = 0; i < n && r == 0; i++) {
        const struct tree_entry *e = es[i];
        const char *key = e->path;
        if (e->type != TREE_FILE || (owned.n && bsearch(&key, owned.v, owned.n, sizeof(*owned.v), cmp_str)))
            continue;
        if (s->n_files % 256 == 0)
            s->files = xrealloc(s->files, (s->n_files + 256) * sizeof(*s->files));
        struct sbom_file *f = &s->files[s->n_files];
        *f = (struct sbom_file){ .path = xstrdup(e->path), .size = e->content ? e->content->size : 0 };
        s->n_files++;
        if (e->content)
            memcpy(f->sha256, e->content->sha256, sizeof(f->sha256));
        else
            hash_sha256_hex("", 0, f->sha256);
        r = file_sha1(t, e, f->sha1, err);
    }
    for (size_t i = 0; i < owned.n; i++)
        free(owned.v[i]);
    free(owned.v);
    free(es);
    return r;
}

/* ---- the whole ------------------------------------------------------------------ */

int sbom_read(struct tree *t, struct sbom **out, struct kiln_err *err)
{
    *out = NULL;
    struct sbom *s = xcalloc(1, sizeof(*s));
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    const char *osr = tree_resolve(t, "/etc/os-release") ? "/etc/os-release" : "/usr/lib/os-release";
    int r = read_file(t, osr, SBOM_MAX_OS_RELEASE_BYTES, &data, &len, err);
    if (r == 0 && data)
        r = parse_os_release(s, osr, data, len, err);
    free(TAKE_PTR(data));
    if (r == 0)
        r = read_file(t, STATUS_PATH, SBOM_MAX_STATUS_BYTES, &data, &len, err);
    if (r == 0 && data) {
        s->has_dpkg = 1;
        r = parse_status(s, data, len, err);
    }
    for (size_t i = 0; i < s->n_pkgs && r == 0; i++) {
        read_license(t, s, &s->pkgs[i]);
        s->pkgs[i].purl = make_purl(s, &s->pkgs[i]);
    }
    if (r == 0)
        r = unowned_files(t, s, err);
    if (r < 0) {
        sbom_free(s);
        return kiln_err_prefix(err, "sbom");
    }
    *out = s;
    return 0;
}

void sbom_free(struct sbom *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_pkgs; i++)
        package_release(&s->pkgs[i]);
    free(s->pkgs);
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i].path);
    free(s->files);
    for (size_t i = 0; i < s->n_refs; i++) {
        free(s->refs[i].id);
        free(s->refs[i].name);
    }
    free(s->refs);
    free(s->os_id);
    free(s->os_name);
    free(s->os_version_id);
    free(s->os_pretty);
    free(s->os_codename);
    free(s->os_home);
    free(s);
}

size_t sbom_package_count(const struct sbom *s)
{
    return s->n_pkgs;
}

size_t sbom_unowned_count(const struct sbom *s)
{
    return s->n_files;
}
