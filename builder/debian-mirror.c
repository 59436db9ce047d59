/* debian-mirror.c - a Debian mirror's signed state: InRelease over libcurl,
 * its signature checked by gpgv, and the Packages indices it signs. */
#include "builder/debian-mirror.h"

#include <archive.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/run.h"
#include "common/curl-init.h"
#include "common/banned.h"

#define FETCH_CONNECT_TIMEOUT 30L
#define FETCH_LOW_SPEED_TIME 60L
#define GPGV_TIMEOUT 120

/* ---- fetching ------------------------------------------------------------ */

struct sink {
    int fd;
    const char *path;
    struct hash_ctx *h;
    uint64_t size, limit;
    int too_big;
    struct kiln_err werr;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t len = size * nmemb;
    if (s->size + len > s->limit) {
        s->too_big = 1;
        return 0;
    }
    if (fs_write_all(s->fd, data, len, s->path, &s->werr) < 0)
        return 0;
    hash_update(s->h, data, len);
    s->size += len;
    return len;
}

/* Fetches url into the new file path, at most limit bytes; sha256 and size
 * receive what was fetched.  what names the file in messages.  A missing
 * file (HTTP 404/410, no such local file) is KILN_ENOTFOUND. */
static int fetch(const char *url, const char *what, const char *path, uint64_t limit, char sha256[HASH_HEX_LEN + 1],
                 uint64_t *size, struct kiln_err *err)
{
    int ir = curl_init_once(err);
    if (ir < 0)
        return ir;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", path);
    CURL *c = curl_easy_init();
    struct sink s = { .fd = fd, .path = path, .h = hash_new(), .limit = limit };
    if (!c || !s.h) {
        if (c)
            curl_easy_cleanup(c);
        hash_free(s.h);
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, FETCH_LOW_SPEED_TIME);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int r = 0;
    if (s.too_big)
        r = kiln_errf(err, KILN_EINVAL, "%s at '%s' is larger than %llu bytes", what, url,
                      (unsigned long long)limit);
    else if (s.werr.code)
        r = kiln_errf(err, s.werr.code, "%s", s.werr.msg);
    else if (rc == CURLE_FILE_COULDNT_READ_FILE || status == 404 || status == 410)
        r = kiln_errf(err, KILN_ENOTFOUND, "%s is not at '%s' (%s)", what, url,
                      status ? "HTTP 404" : "no such file");
    else if (rc != CURLE_OK)
        r = kiln_errf(err, KILN_EFAIL, "cannot fetch %s from '%s': %s", what, url,
                      errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (status >= 400)
        r = kiln_errf(err, KILN_EFAIL, "cannot fetch %s from '%s': HTTP %ld", what, url, status);
    if (r == 0) {
        hash_final_hex(s.h, sha256);
        *size = s.size;
    } else {
        unlink(path);
    }
    hash_free(s.h);
    return r;
}

/* ---- the signed Release ----------------------------------------------------- */

char *debian_mirror_url(const char *tmpl, const char *snapshot)
{
    struct buf b;
    buf_init(&b, 0);
    const char *t = snapshot ? strstr(tmpl, "{timestamp}") : NULL;
    if (t) {
        buf_add(&b, tmpl, (size_t)(t - tmpl), NULL);
        buf_adds(&b, snapshot, NULL);
        buf_adds(&b, t + 11, NULL);
    } else {
        buf_adds(&b, tmpl, NULL);
    }
    while (b.len && b.data[b.len - 1] == '/')
        b.data[--b.len] = '\0';
    return buf_detach(&b, NULL);
}

/* The value of a single-line field of a deb822 paragraph (caller-owned), or NULL. */
static char *field(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            v += strspn(v, " \t");
            size_t len = strcspn(v, "\n");
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r'))
                len--;
            return xstrndup(v, len);
        }
        if (*l == '\n')
            break; /* end of the first paragraph */
    }
    return NULL;
}

/* The digest and size the Release's SHA256 list gives path; 0 when listed. */
static int release_entry(const char *release, const char *path, char sha256[HASH_HEX_LEN + 1], uint64_t *size)
{
    const char *l = release;
    int in = 0;
    while (l && *l) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (l[0] != ' ') {
            in = len >= 7 && strncmp(l, "SHA256:", 7) == 0;
        } else if (in) {
            char hex[HASH_HEX_LEN + 2], name[512];
            unsigned long long sz;
            _cleanup_free_ char *line = xstrndup(l, len);
            if (sscanf(line, " %65s %llu %511s", hex, &sz, name) == 3 && strlen(hex) == HASH_HEX_LEN &&
                hash_is_hex(hex) && strcmp(name, path) == 0) {
                memcpy(sha256, hex, HASH_HEX_LEN + 1);
                *size = sz;
                return 0;
            }
        }
        l = end ? end + 1 : NULL;
    }
    return -1;
}

/* "Sat, 10 Jun 2023 09:46:08 UTC" as seconds since the epoch, or -1. */
static int64_t release_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm);
    if (!end || (strcmp(end, " UTC") != 0 && strcmp(end, " +0000") != 0))
        return -1;
    return (int64_t)timegm(&tm);
}

static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        if (n == wl && strncmp(p, word, n) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static int check_suite(const struct recipe_base *b, const char *suite, const char *tmpl, const char *keyring,
                       const char *dir, struct debian_suite_state *st, struct kiln_err *err)
{
    st->suite = xstrdup(suite);
    st->url = debian_mirror_url(tmpl, b->snapshot);
    _cleanup_free_ char *url = xasprintf("%s/dists/%s/InRelease", st->url, suite);
    _cleanup_free_ char *in = xasprintf("%s/InRelease.%s", dir, suite);
    _cleanup_free_ char *out = xasprintf("%s/Release.%s", dir, suite);
    _cleanup_free_ char *what = xasprintf("the InRelease of suite '%s'", suite);
    uint64_t size = 0;
    int r = fetch(url, what, in, DEBIAN_INRELEASE_LIMIT, st->sha256, &size, err);
    if (r == KILN_ENOTFOUND) {
        if (b->snapshot)
            return kiln_errf(err, KILN_EINVAL, "snapshot '%s' does not exist, or has no suite '%s', at '%s' "
                             "(no '%s')", b->snapshot, suite, st->url, url);
        return kiln_errf(err, KILN_EINVAL, "suite '%s' is not on the mirror '%s' (no '%s')", suite, st->url, url);
    }
    if (r < 0)
        return r;
    /* gpgv writes the signed text only: nothing outside the signature is read. */
    _cleanup_free_ char *home = xasprintf("%s/gnupg", dir);
    if (mkdir(home, 0700) < 0 && errno != EEXIST)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", home);
    char *argv[] = { "gpgv", "--homedir", home, "--keyring", (char *)keyring, "--output", out, in, NULL };
    struct buf log;
    buf_init(&log, 64 << 10);
    struct run_opts opts = { .out = &log, .timeout_sec = GPGV_TIMEOUT };
    int status = 0;
    r = run_argv(argv, &opts, &status, err);
    if (r == 0 && status != 0) {
        /* gpgv's last line says why ("BAD signature", "No public key"). */
        while (log.len && log.data[log.len - 1] == '\n')
            log.data[--log.len] = '\0';
        const char *last = strrchr(log.data, '\n');
        last = last ? last + 1 : log.data;
        char shown[200];
        r = kiln_errf(err, KILN_EVERIFY, "the InRelease of suite '%s' at '%s' does not verify against the "
                      "keyring '%s': %s", suite, st->url, keyring,
                      kiln_err_shown(last, strlen(last), shown, sizeof(shown)));
    }
    buf_release(&log);
    if (r < 0)
        return r;
    struct buf text;
    buf_init(&text, 0);
    if ((r = fs_read_file(out, DEBIAN_INRELEASE_LIMIT, &text, err)) < 0) {
        buf_release(&text);
        return r;
    }
    st->release = buf_detach(&text, NULL);
    /* A signed Release of another suite is not this suite's state. */
    _cleanup_free_ char *s = field(st->release, "Suite");
    _cleanup_free_ char *c = field(st->release, "Codename");
    if ((!s || strcmp(s, suite)) && (!c || strcmp(c, suite)))
        return kiln_errf(err, KILN_EVERIFY, "the signed Release at '%s' is for suite '%s' (codename '%s'), not "
                         "'%s'", url, s ? s : "?", c ? c : "?", suite);
    /* An expired Release is a mirror frozen in the past (a snapshot is old on purpose). */
    _cleanup_free_ char *until = b->snapshot ? NULL : field(st->release, "Valid-Until");
    if (until) {
        int64_t t = release_time(until);
        if (t < 0)
            return kiln_errf(err, KILN_EVERIFY, "the signed Release at '%s' has a Valid-Until that is not a time: "
                             "'%s'", url, until);
        if (t < (int64_t)time(NULL))
            return kiln_errf(err, KILN_EVERIFY, "the signed Release at '%s' expired on %s: the mirror is out of date "
                             "(or frozen)", url, until);
    }
    _cleanup_free_ char *date = field(st->release, "Date");
    st->date = date ? release_time(date) : -1;
    _cleanup_free_ char *comps = field(st->release, "Components");
    for (size_t i = 0; i < b->components.n; i++) {
        /* security's components are "updates/main"; apt matches either form */
        const char *cmp = b->components.v[i];
        _cleanup_free_ char *alt = xasprintf("updates/%s", cmp);
        if (!comps || (!has_word(comps, cmp) && !has_word(comps, alt)))
            return kiln_errf(err, KILN_EINVAL, "suite '%s' at '%s' has no component '%s' (it has: %s)", suite,
                             st->url, cmp, comps ? comps : "none");
    }
    return 0;
}

int debian_mirror_check(const struct recipe_base *b, const char *keyring, const char *tmpdir,
                        struct debian_mirror **out, struct kiln_err *err)
{
    struct debian_mirror *m = xcalloc(1, sizeof(*m));
    m->suites = xcalloc(b->n_suites + 1, sizeof(*m->suites));
    int r = 0;
    for (size_t i = 0; r == 0 && i <= b->n_suites; i++) {
        const char *suite = i ? b->suites[i - 1].suite : b->suite;
        const char *tmpl = i && b->suites[i - 1].mirror ? b->suites[i - 1].mirror : b->mirror;
        m->n++;
        r = check_suite(b, suite, tmpl, keyring, tmpdir, &m->suites[i], err);
    }
    if (r < 0) {
        debian_mirror_free(m);
        return r;
    }
    *out = m;
    return 0;
}

void debian_mirror_free(struct debian_mirror *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->suites[i].suite);
        free(m->suites[i].url);
        free(m->suites[i].release);
    }
    free(m->suites);
    for (size_t i = 0; i < m->n_indices; i++) {
        unlink(m->indices[i].path);
        free(m->indices[i].path);
        free(m->indices[i].what);
    }
    free(m->indices);
    free(m);
}

/* ---- packages ------------------------------------------------------------------ */

static int pkg_cmp(const void *a, const void *b)
{
    const struct debian_pkg *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->arch, y->arch);
    return c ? c : strcmp(x->version, y->version);
}

static int name_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct debian_pkg *)elem)->name);
}

void debian_pkgs_free(struct debian_pkg *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].version);
        free(p[i].arch);
    }
    free(p);
}

/* One paragraph's fields, as the parsers below need them. */
struct para {
    char *package, *version, *arch, *status, *sha256;
};

static void para_release(struct para *p)
{
    free(p->package);
    free(p->version);
    free(p->arch);
    free(p->status);
    free(p->sha256);
    memset(p, 0, sizeof(*p));
}

/* Takes one line (without '\n') into p; continuation lines are skipped. */
static void para_line(struct para *p, const char *l, size_t len)
{
    static const struct { const char *name; size_t off; } fields[] = {
        { "Package", offsetof(struct para, package) },   { "Version", offsetof(struct para, version) },
        { "Architecture", offsetof(struct para, arch) }, { "Status", offsetof(struct para, status) },
        { "SHA256", offsetof(struct para, sha256) },
    };
    if (len == 0 || l[0] == ' ' || l[0] == '\t')
        return;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t nl = strlen(fields[i].name);
        if (len > nl && strncmp(l, fields[i].name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            size_t vl = len - nl - 1;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
                vl--;
            char **slot = (char **)((char *)p + fields[i].off);
            free(*slot);
            *slot = xstrndup(v, vl);
            return;
        }
    }
}

/* "install ok installed", "hold ok installed": unpacked and configured. */
static int installed(const struct para *p)
{
    size_t n = p->status ? strlen(p->status) : 0;
    return p->package && p->version && p->arch && n >= 10 && strcmp(p->status + n - 10, " installed") == 0;
}

static void take_installed(struct para *p, struct debian_pkg **v, size_t *nv)
{
    if (installed(p)) {
        *v = xrealloc(*v, (*nv + 1) * sizeof(**v));
        (*v)[(*nv)++] = (struct debian_pkg){ TAKE_PTR(p->package), TAKE_PTR(p->version), TAKE_PTR(p->arch), "" };
    }
    para_release(p);
}

int debian_dpkg_status(const char *text, size_t len, struct debian_pkg **out, size_t *n, struct kiln_err *err)
{
    (void)err;
    struct debian_pkg *v = NULL;
    size_t nv = 0;
    struct para p = { 0 };
    const char *l = text, *end = text + len;
    while (l <= end) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        size_t ll = nl ? (size_t)(nl - l) : (size_t)(end - l);
        if (ll == 0 || (ll == 1 && l[0] == '\r'))
            take_installed(&p, &v, &nv);
        else
            para_line(&p, l, ll);
        if (!nl)
            break;
        l = nl + 1;
    }
    take_installed(&p, &v, &nv);
    if (nv)
        qsort(v, nv, sizeof(*v), pkg_cmp);
    *out = v;
    *n = nv;
    return 0;
}

typedef void (*para_fn)(const struct para *p, void *ud);

struct pkg_set {
    struct debian_pkg *v;
    size_t n;
};

/* Gives the package of paragraph p its digest when it is one of the set's. */
static void match(const struct para *p, void *ud)
{
    struct pkg_set *set = ud;
    struct debian_pkg *pkgs = set->v;
    size_t n = set->n;
    if (!n || !p->package || !p->version || !p->arch || !p->sha256 || strlen(p->sha256) != HASH_HEX_LEN ||
        !hash_is_hex(p->sha256))
        return;
    struct debian_pkg *f = bsearch(p->package, pkgs, n, sizeof(*pkgs), name_cmp);
    if (!f)
        return;
    while (f > pkgs && strcmp(f[-1].name, p->package) == 0)
        f--;
    for (; f < pkgs + n && strcmp(f->name, p->package) == 0; f++)
        if (!strcmp(f->version, p->version) && !strcmp(f->arch, p->arch))
            memcpy(f->sha256, p->sha256, HASH_HEX_LEN + 1);
}

/* Reads the (compressed) Packages index at path paragraph by paragraph. */
static int scan_packages(const char *path, const char *what, para_fn fn, void *ud, struct kiln_err *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    struct archive_entry *e;
    int r = 0;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        r = kiln_errf(err, KILN_EVERIFY, "%s cannot be read: %s", what, archive_error_string(a));
        archive_read_free(a);
        return r;
    }
    struct buf line;
    buf_init(&line, 1 << 20);
    struct para p = { 0 };
    unsigned long long total = 0;
    char chunk[1 << 16];
    for (;;) {
        la_ssize_t got = archive_read_data(a, chunk, sizeof(chunk));
        if (got < 0) {
            r = kiln_errf(err, KILN_EVERIFY, "%s cannot be read: %s", what, archive_error_string(a));
            break;
        }
        total += (unsigned long long)got;
        if (total > DEBIAN_PACKAGES_EXPANDED_LIMIT) {
            r = kiln_errf(err, KILN_EINVAL, "%s expands to more than %llu bytes", what,
                          (unsigned long long)DEBIAN_PACKAGES_EXPANDED_LIMIT);
            break;
        }
        size_t i = 0;
        for (;;) {
            const char *nl = got ? memchr(chunk + i, '\n', (size_t)got - i) : NULL;
            if (!nl && got) {
                if ((r = buf_add(&line, chunk + i, (size_t)got - i, err)) < 0)
                    kiln_err_prefix(err, "%s: a line", what);
                break;
            }
            if (nl && (r = buf_add(&line, chunk + i, (size_t)(nl - chunk) - i, err)) < 0) {
                kiln_err_prefix(err, "%s: a line", what);
                break;
            }
            if (line.len == 0) {
                fn(&p, ud);
                para_release(&p);
            } else {
                para_line(&p, line.data, line.len);
            }
            buf_reset(&line);
            if (!nl)
                break;
            i = (size_t)(nl - chunk) + 1;
        }
        if (r < 0 || got == 0)
            break;
    }
    para_release(&p);
    buf_release(&line);
    archive_read_free(a);
    return r;
}

/* Fetches one Packages index into tmpdir and checks it against the signed Release. */
static int fetch_index(struct debian_mirror *m, const struct debian_suite_state *st, const char *comp,
                       const char *tmpdir, struct kiln_err *err)
{
    static const char *const exts[] = { ".xz", ".gz", "", NULL };
    for (const char *const *x = exts; *x; x++) {
        _cleanup_free_ char *rel = xasprintf("%s/binary-amd64/Packages%s", comp, *x);
        char want[HASH_HEX_LEN + 1], got[HASH_HEX_LEN + 1];
        uint64_t want_size = 0, size = 0;
        if (release_entry(st->release, rel, want, &want_size) < 0)
            continue;
        _cleanup_free_ char *url = xasprintf("%s/dists/%s/%s", st->url, st->suite, rel);
        char *path = xasprintf("%s/Packages.%zu%s", tmpdir, m->n_indices, *x);
        _cleanup_free_ char *what = xasprintf("the Packages index '%s' of suite '%s'", rel, st->suite);
        int r = fetch(url, what, path, DEBIAN_PACKAGES_LIMIT, got, &size, err);
        if (r == 0 && (strcmp(got, want) != 0 || size != want_size)) {
            r = kiln_errf(err, KILN_EVERIFY, "%s at '%s' does not match the signed Release (sha256 %s, %llu "
                          "bytes; the Release says %s, %llu bytes)", what, url, got, (unsigned long long)size,
                          want, (unsigned long long)want_size);
            unlink(path);
        }
        if (r < 0) {
            free(path);
            return r;
        }
        m->indices = xrealloc(m->indices, (m->n_indices + 1) * sizeof(*m->indices));
        m->indices[m->n_indices++] = (struct debian_index){ path, xstrdup(what) };
        return 0;
    }
    return kiln_errf(err, KILN_EVERIFY, "the signed Release of suite '%s' at '%s' lists no Packages index for "
                     "'%s' (amd64)", st->suite, st->url, comp);
}

int debian_mirror_fetch_indices(struct debian_mirror *m, const struct strv *components, const char *tmpdir,
                                struct kiln_err *err)
{
    if (m->n_indices)
        return 0;
    for (size_t s = 0; s < m->n; s++)
        for (size_t c = 0; c < components->n; c++) {
            int r = fetch_index(m, &m->suites[s], components->v[c], tmpdir, err);
            if (r < 0)
                return r;
        }
    return 0;
}

static int scan_all(const struct debian_mirror *m, para_fn fn, void *ud, struct kiln_err *err)
{
    for (size_t i = 0; i < m->n_indices; i++) {
        int r = scan_packages(m->indices[i].path, m->indices[i].what, fn, ud, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int debian_mirror_resolve(const struct debian_mirror *m, struct debian_pkg *pkgs, size_t n, struct kiln_err *err)
{
    struct pkg_set set = { pkgs, n };
    int r = scan_all(m, match, &set, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (!pkgs[i].sha256[0])
            return kiln_errf(err, KILN_EVERIFY, "installed package '%s' %s (%s) is not in the mirror's signed "
                             "Packages indices (did the mirror change during the build?)", pkgs[i].name,
                             pkgs[i].version, pkgs[i].arch);
    return 0;
}

struct wanted {
    char **names;  /* sorted */
    int *found;
    size_t n;
};

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void mark(const struct para *p, void *ud)
{
    struct wanted *w = ud;
    if (!p->package)
        return;
    const char *key = p->package;
    char **f = bsearch(&key, w->names, w->n, sizeof(*w->names), str_cmp);
    if (f)
        w->found[f - w->names] = 1;
}

int debian_mirror_check_names(const struct debian_mirror *m, const struct strv *packages, struct kiln_err *err)
{
    if (!packages->n)
        return 0;
    struct wanted w = { xcalloc(packages->n, sizeof(char *)), xcalloc(packages->n, sizeof(int)), packages->n };
    for (size_t i = 0; i < w.n; i++)
        w.names[i] = xstrndup(packages->v[i], strcspn(packages->v[i], ":="));
    qsort(w.names, w.n, sizeof(*w.names), str_cmp);
    int r = scan_all(m, mark, &w, err);
    for (size_t i = 0; r == 0 && i < w.n; i++)
        if (!w.found[i]) {
            _cleanup_free_ char *suites = NULL;
            struct buf b;
            buf_init(&b, 0);
            for (size_t s = 0; s < m->n; s++)
                buf_addf(&b, NULL, "%s%s", s ? ", " : "", m->suites[s].suite);
            suites = buf_detach(&b, NULL);
            r = kiln_errf(err, KILN_EINVAL, "package '%s' is not in the signed Packages indices of %s at '%s'",
                          w.names[i], suites, m->suites[0].url);
        }
    for (size_t i = 0; i < w.n; i++)
        free(w.names[i]);
    free(w.names);
    free(w.found);
    return r;
}

/* Percent-encodes everything but purl's unreserved characters. */
static void purl_add(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
            c == '_' || c == '~')
            buf_addch(b, (char)c, NULL);
        else
            buf_addf(b, NULL, "%%%02X", c);
    }
}

char *debian_purl(const struct debian_pkg *p)
{
    struct buf b;
    buf_init(&b, 0);
    buf_adds(&b, "pkg:deb/debian/", NULL);
    purl_add(&b, p->name);
    buf_addch(&b, '@', NULL);
    purl_add(&b, p->version);
    buf_adds(&b, "?arch=", NULL);
    purl_add(&b, p->arch);
    return buf_detach(&b, NULL);
}
