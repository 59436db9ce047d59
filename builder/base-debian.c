/* base-debian.c - a Debian root filesystem from mmdebstrap, cached by its
 * parameters and the signed state of its mirror, checked before every use. */
#include "builder/base.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/debian-mirror.h"
#include "builder/plan.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define DEFAULT_MIRROR "http://deb.debian.org/debian"
#define DEFAULT_VARIANT "minbase"
#define DEFAULT_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"
#define KEYRING_LIMIT (16u << 20)
#define RECORD_LIMIT (64u << 20)
#define MMDEBSTRAP_TIMEOUT 3600

extern char **environ;

struct debian_base {
    const struct recipe_base *b;
    struct debian_mirror *m;
    char *dir;                    /* scratch/debian: the keyring copy and the fetched indices */
    char *keydir;                 /* holds only the keyring, apt's TrustedParts: a directory of its
                                   * own that apt's sandbox user can read (the scratch one is private) */
    char *keyring;                /* keydir/kiln-archive.gpg */
    const char **digests;         /* the InRelease digests, in suite order (into m) */
    int64_t sde;                  /* mmdebstrap's SOURCE_DATE_EPOCH: the build's, else the base suite's
                                   * Release date (a function of the mirror state); -1: none */
    char key[HASH_HEX_LEN + 1];   /* of the cached tarball */
    struct debian_pkg *pkgs;      /* the installed packages, once known */
    size_t n_pkgs;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The packages, sorted and comma-joined (caller-owned); "" when none. */
static char *include_list(const struct recipe_base *b)
{
    struct buf out = BUF_INIT;
    buf_init(&out, 0);
    if (b->packages.n) {
        char **v = xcalloc(b->packages.n, sizeof(char *));
        memcpy(v, b->packages.v, b->packages.n * sizeof(char *));
        qsort(v, b->packages.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < b->packages.n; i++) {
            if (i && strcmp(v[i], v[i - 1]) == 0)
                continue;
            if (out.len)
                buf_addch(&out, ',', NULL);
            buf_adds(&out, v[i], NULL);
        }
        free(v);
    }
    return buf_detach(&out, NULL);
}

/* The components, space-separated (caller-owned); "main" when none. */
static char *component_list(const struct recipe_base *b)
{
    if (!b->components.n)
        return xstrdup("main");
    struct buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i < b->components.n; i++) {
        if (i)
            buf_addch(&out, ' ', NULL);
        buf_adds(&out, b->components.v[i], NULL);
    }
    return buf_detach(&out, NULL);
}

void base_debian_key(const struct recipe_base *b, const char *const *states, size_t n,
                     char key[HASH_HEX_LEN + 1])
{
    _cleanup_free_ char *inc = include_list(b);
    _cleanup_free_ char *comps = component_list(b);
    struct buf s;
    buf_init(&s, 0);
    buf_addf(&s, NULL, "kiln-debian-v2\nsuite=%s\nvariant=%s\nmirror=%s\ninclude=%s\ncomponents=%s\nsnapshot=%s\n"
             "arch=amd64\n", b->suite ? b->suite : "", b->variant ? b->variant : DEFAULT_VARIANT,
             b->mirror ? b->mirror : DEFAULT_MIRROR, inc, comps, b->snapshot ? b->snapshot : "");
    for (size_t i = 0; i < b->n_suites; i++)
        buf_addf(&s, NULL, "suite+=%s %s\n", b->suites[i].suite, b->suites[i].mirror ? b->suites[i].mirror : "");
    for (size_t i = 0; i < n; i++)
        buf_addf(&s, NULL, "inrelease=%s\n", states[i]);
    hash_sha256_hex(s.data, s.len, key);
    buf_release(&s);
}

void base_debian_free(struct debian_base *d)
{
    if (!d)
        return;
    debian_mirror_free(d->m);
    free(d->dir);
    if (d->keydir)
        fs_rm_rf(d->keydir, NULL);
    free(d->keydir);
    free(d->keyring);
    free(d->digests);
    debian_pkgs_free(d->pkgs, d->n_pkgs);
    free(d);
}

/* Copies the recipe's keyring (or Debian's) to d->keyring, alone in its directory. */
static int copy_keyring(const struct recipe *r, struct debian_base *d, struct kiln_err *err)
{
    struct buf data;
    buf_init(&data, 0);
    int rc;
    if (r->base.keyring) {
        _cleanup_close_ int fd = recipe_open_keyring(r, err);
        if (fd < 0) {
            buf_release(&data);
            return fd;
        }
        rc = fs_read_fd(fd, r->base.keyring, KEYRING_LIMIT, &data, err);
    } else if (!fs_exists(DEFAULT_KEYRING)) {
        rc = kiln_errf(err, KILN_EFAIL, "base 'debian' needs Debian's archive keyring '%s' (debian-archive-keyring), "
                       "or 'base.debian.keyring'", DEFAULT_KEYRING);
    } else {
        rc = fs_read_file(DEFAULT_KEYRING, KEYRING_LIMIT, &data, err);
    }
    if (rc == 0)
        rc = fs_write_atomic(d->keyring, data.data, data.len, 0644, err);
    buf_release(&data);
    return rc;
}

int base_debian_begin(struct build_ctx *ctx, struct build_plan *plan, struct kiln_err *err)
{
    const struct recipe *r = ctx->recipe;
    const struct recipe_base *b = &r->base;
    if (!b->suite || !*b->suite)
        return kiln_errf(err, KILN_EINVAL, "base 'debian' needs a suite");
    if (!ctx->opts->cache_dir)
        return kiln_errf(err, KILN_EFAIL, "base 'debian' needs a cache directory");
    int rc = recipe_check_mirror(r, err);
    if (rc < 0)
        return rc;
    if (!run_have("gpgv"))
        return kiln_errf(err, KILN_EFAIL, "base 'debian' needs gpgv to check the mirror, and it is not installed");
    struct debian_base *d = xcalloc(1, sizeof(*d));
    d->b = b;
    d->dir = path_join(ctx->scratch, "debian");
    const char *parent = ctx->opts->scratch_parent ? ctx->opts->scratch_parent : "/tmp";
    if ((rc = fs_mkdir_p(d->dir, 0700, err)) == 0 &&
        (rc = fs_mkdtemp(parent, "kiln-keys-", &d->keydir, err)) == 0 && chmod(d->keydir, 0755) < 0)
        rc = kiln_errno(err, KILN_EFAIL, errno, "cannot make '%s' readable", d->keydir);
    if (rc == 0) {
        d->keyring = path_join(d->keydir, "kiln-archive.gpg");
        rc = copy_keyring(r, d, err);
    }
    if (rc == 0) {
        kiln_log(KILN_LOG_INFO, "checking the mirror state of Debian %s", b->suite);
        rc = debian_mirror_check(b, d->keyring, d->dir, &d->m, err);
    }
    if (rc < 0) {
        base_debian_free(d);
        return kiln_err_prefix(err, "base 'debian %s'", b->suite);
    }
    d->digests = xcalloc(d->m->n, sizeof(*d->digests));
    for (size_t i = 0; i < d->m->n; i++)
        d->digests[i] = d->m->suites[i].sha256;
    d->sde = ctx->opts->has_source_date_epoch ? ctx->opts->source_date_epoch : d->m->suites[0].date;
    base_debian_key(b, d->digests, d->m->n, d->key);
    if (ctx->opts->has_source_date_epoch) {
        /* the build's time changes the rootfs: part of the cached one's key */
        _cleanup_free_ char *k = xasprintf("%s\nsource_date_epoch=%lld\n", d->key, (long long)d->sde);
        hash_sha256_hex(k, strlen(k), d->key);
    }
    ctx->debian = d;
    /* The base's key is known now, before any bootstrap. */
    return plan_complete_step(plan, 0, d->digests, d->m->n, err);
}

/* ---- the cache ------------------------------------------------------------------ */

/* Reads KEY.json: the tarball's digest and the packages it holds. */
static int read_record(const char *path, char sha256[HASH_HEX_LEN + 1], struct debian_pkg **pkgs, size_t *n,
                       struct kiln_err *err)
{
    struct buf text;
    buf_init(&text, 0);
    int rc = fs_read_file(path, RECORD_LIMIT, &text, err);
    json_t *j = rc == 0 ? json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    buf_release(&text);
    if (rc < 0)
        return rc;
    const char *hex = json_string_value(json_object_get(j, "sha256"));
    json_t *a = json_object_get(j, "packages");
    if (!hex || strlen(hex) != HASH_HEX_LEN || !hash_is_hex(hex) || !json_is_array(a)) {
        json_decref(j);
        return kiln_errf(err, KILN_EVERIFY, "'%s' is not a cache record", path);
    }
    memcpy(sha256, hex, HASH_HEX_LEN + 1);
    struct debian_pkg *v = xcalloc(json_array_size(a) + 1, sizeof(*v));
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o) {
        const char *nm = json_string_value(json_object_get(o, "name"));
        const char *ver = json_string_value(json_object_get(o, "version"));
        const char *ar = json_string_value(json_object_get(o, "architecture"));
        const char *h = json_string_value(json_object_get(o, "sha256"));
        if (!nm || !ver || !ar || !h || strlen(h) != HASH_HEX_LEN || !hash_is_hex(h)) {
            debian_pkgs_free(v, i);
            json_decref(j);
            return kiln_errf(err, KILN_EVERIFY, "'%s': package %zu is not a name, version, architecture and "
                             "sha256", path, i);
        }
        v[i] = (struct debian_pkg){ xstrdup(nm), xstrdup(ver), xstrdup(ar), "" };
        memcpy(v[i].sha256, h, HASH_HEX_LEN + 1);
    }
    *n = json_array_size(a);
    *pkgs = v;
    json_decref(j);
    return 0;
}

static int write_record(const char *path, const char *sha256, const struct debian_base *d, struct kiln_err *err)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->n_pkgs; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "name", d->pkgs[i].name, "version",
                                           d->pkgs[i].version, "architecture", d->pkgs[i].arch, "sha256",
                                           d->pkgs[i].sha256));
    json_t *inr = json_array();
    for (size_t i = 0; i < d->m->n; i++)
        json_array_append_new(inr, json_pack("{s:s,s:s,s:s}", "suite", d->m->suites[i].suite, "mirror",
                                             d->m->suites[i].url, "sha256", d->m->suites[i].sha256));
    json_t *j = json_pack("{s:s,s:o,s:o}", "sha256", sha256, "inrelease", inr, "packages", a);
    _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!s)
        return kiln_errf(err, KILN_EFAIL, "cannot encode the cache record '%s'", path);
    return fs_write_atomic(path, s, strlen(s), 0644, err);
}

/* Reads /var/lib/dpkg/status out of the rootfs tar ("" when there is none). */
static int tar_dpkg_status(const char *tar, struct buf *out, struct kiln_err *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    archive_read_support_format_tar(a);
    struct archive_entry *e;
    int rc = 0; /* no status file (variant extract): dpkg installed nothing */
    if (archive_read_open_filename(a, tar, 1 << 16) != ARCHIVE_OK) {
        rc = kiln_errf(err, KILN_EFAIL, "cannot read '%s': %s", tar, archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    int ar;
    /* ARCHIVE_WARN: a name libarchive cannot convert from UTF-8 in the C
     * locale, kept as its bytes (see tree/tree.h). */
    while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        const char *p = archive_entry_pathname(e);
        if (!p || (strcmp(p, "./var/lib/dpkg/status") && strcmp(p, "var/lib/dpkg/status")))
            continue;
        if (archive_entry_size(e) > (la_int64_t)DEBIAN_STATUS_LIMIT) {
            rc = kiln_errf(err, KILN_EINVAL, "'%s': /var/lib/dpkg/status is larger than %u bytes", tar,
                           DEBIAN_STATUS_LIMIT);
            break;
        }
        char chunk[1 << 16];
        la_ssize_t n;
        rc = 0;
        while (rc == 0 && (n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
            rc = buf_add(out, chunk, (size_t)n, err);
        if (rc == 0 && n < 0)
            rc = kiln_errf(err, KILN_EFAIL, "cannot read '%s': %s", tar, archive_error_string(a));
        break;
    }
    if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN && ar != ARCHIVE_EOF)
        rc = kiln_errf(err, KILN_EFAIL, "cannot read '%s': %s", tar, archive_error_string(a));
    archive_read_free(a);
    return rc;
}

/* The packages mmdebstrap installed, each with the digest of its .deb. */
static int resolve_packages(struct debian_base *d, const char *tar, struct kiln_err *err)
{
    struct buf status;
    buf_init(&status, DEBIAN_STATUS_LIMIT);
    int rc = tar_dpkg_status(tar, &status, err);
    if (rc == 0)
        rc = debian_dpkg_status(status.data, status.len, &d->pkgs, &d->n_pkgs, err);
    buf_release(&status);
    if (rc == 0) {
        kiln_log(KILN_LOG_INFO, "recording %zu packages with the digests of the mirror's signed indices",
                 d->n_pkgs);
        rc = debian_mirror_resolve(d->m, d->pkgs, d->n_pkgs, err);
    }
    return rc;
}

static void add_arg(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* Runs mmdebstrap into tmp: apt trusts only d->keyring, every suite is a
 * "deb URL SUITE COMPONENTS" line of its own (signature checks on). */
static int bootstrap(struct debian_base *d, const char *tmp, struct kiln_err *err)
{
    const struct recipe_base *b = d->b;
    _cleanup_free_ char *inc = include_list(b);
    _cleanup_free_ char *comps = component_list(b);
    char **argv = NULL, **owned = NULL;
    size_t n = 0, no = 0;
    add_arg(&argv, &n, "mmdebstrap");
    add_arg(&argv, &n, "--quiet");
    add_arg(&owned, &no, xasprintf("--variant=%s", b->variant ? b->variant : DEFAULT_VARIANT));
    add_arg(&owned, &no, xasprintf("--keyring=%s", d->keydir));
    add_arg(&owned, &no, xasprintf("--keyring=%s", d->keyring));
    if (*inc)
        add_arg(&owned, &no, xasprintf("--include=%s", inc));
    for (size_t i = 0; i < no; i++)
        add_arg(&argv, &n, owned[i]);
    add_arg(&argv, &n, "--skip=check/signed-by");
    add_arg(&argv, &n, (char *)b->suite);
    add_arg(&argv, &n, (char *)tmp);
    size_t first_line = no;
    for (size_t i = 0; i < d->m->n; i++)
        add_arg(&owned, &no, xasprintf("deb %s%s %s %s", b->snapshot ? "[check-valid-until=no] " : "",
                                       d->m->suites[i].url, d->m->suites[i].suite, comps));
    for (size_t i = first_line; i < no; i++)
        add_arg(&argv, &n, owned[i]);
    kiln_log(KILN_LOG_INFO, "bootstrapping Debian %s (%s%s%s) with mmdebstrap", b->suite,
             b->variant ? b->variant : DEFAULT_VARIANT, *inc ? " + " : "", inc);
    /* With SOURCE_DATE_EPOCH, the same mirror state gives the same rootfs bytes. */
    char **envp = NULL, **owned_env = NULL;
    size_t ne = 0, noe = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "SOURCE_DATE_EPOCH=", 18) != 0)
            add_arg(&envp, &ne, *e);
    if (d->sde >= 0) {
        add_arg(&owned_env, &noe, xasprintf("SOURCE_DATE_EPOCH=%lld", (long long)d->sde));
        add_arg(&envp, &ne, owned_env[0]);
    }
    struct buf log;
    buf_init(&log, 1 << 20);
    struct run_opts opts = { .out = &log, .log_lines = 1, .timeout_sec = MMDEBSTRAP_TIMEOUT, .envp = envp };
    int status = 0;
    int rc = run_argv(argv, &opts, &status, err);
    if (rc == 0 && status != 0) {
        /* apt's and mmdebstrap's first error says why ("Unable to locate package x") */
        const char *e = strstr(log.data, "E: ");
        if (e && e != log.data && e[-1] != '\n')
            e = strstr(e, "\nE: ") ? strstr(e, "\nE: ") + 1 : NULL;
        char shown[240];
        rc = kiln_errf(err, KILN_EFAIL, "mmdebstrap failed with exit status %d%s%s", status, e ? ": " : "",
                       e ? kiln_err_shown(e + 3, strcspn(e + 3, "\n"), shown, sizeof(shown)) : "");
    }
    buf_release(&log);
    for (size_t i = 0; i < noe; i++)
        free(owned_env[i]);
    free(owned_env);
    free(envp);
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    return rc;
}

/* Uses cache_dir/debian/KEY.tar when its digest is the one KEY.json records;
 * a tarball that does not match (or has no record) is removed. 1: usable. */
static int cached(struct debian_base *d, const char *tar, const char *rec, char sha256[HASH_HEX_LEN + 1])
{
    if (!fs_exists(tar) && !fs_exists(rec))
        return 0;
    struct kiln_err e = KILN_ERR_INIT;
    char want[HASH_HEX_LEN + 1];
    struct debian_pkg *pkgs = NULL;
    size_t n = 0;
    int rc = read_record(rec, want, &pkgs, &n, &e);
    if (rc == 0 && (rc = hash_file_sha256(tar, sha256, NULL, &e)) == 0 && strcmp(sha256, want) != 0)
        rc = kiln_errf(&e, KILN_EVERIFY, "its sha256 is %s, and %s was recorded", sha256, want);
    if (rc < 0) {
        debian_pkgs_free(pkgs, n);
        kiln_log(KILN_LOG_WARN, "the cached Debian base '%s' is discarded and made again: %s", tar, e.msg);
        unlink(rec);
        unlink(tar);
        return 0;
    }
    d->pkgs = pkgs;
    d->n_pkgs = n;
    return 1;
}

int base_debian_tar(struct debian_base *d, const char *cache_dir, char **tar_path, char sha256[HASH_HEX_LEN + 1],
                    struct kiln_err *err)
{
    const struct recipe_base *b = d->b;
    _cleanup_free_ char *dir = path_join(cache_dir, "debian");
    _cleanup_free_ char *name = xasprintf("%s.tar", d->key);
    _cleanup_free_ char *rname = xasprintf("%s.json", d->key);
    _cleanup_free_ char *dest = path_join(dir, name);
    _cleanup_free_ char *rec = path_join(dir, rname);
    if (cached(d, dest, rec, sha256)) {
        kiln_log(KILN_LOG_INFO, "using the cached Debian %s rootfs (the mirror is unchanged)", b->suite);
        *tar_path = TAKE_PTR(dest);
        return 0;
    }
    int ret = fs_mkdir_p(dir, 0755, err);
    if (ret < 0)
        return ret;
    if (!run_have("mmdebstrap"))
        return kiln_errf(err, KILN_EFAIL, "base 'debian' needs mmdebstrap, and it is not installed");
    _cleanup_free_ char *tmpdir = NULL;
    if ((ret = fs_mkdtemp(dir, "partial.", &tmpdir, err)) < 0)
        return ret;
    _cleanup_free_ char *tmp = path_join(tmpdir, "rootfs.tar");
    /* The signed indices, first: a package the mirror does not have is named before any bootstrap. */
    ret = debian_mirror_fetch_indices(d->m, &b->components, d->dir, err);
    if (ret == 0)
        ret = debian_mirror_check_names(d->m, &b->packages, err);
    if (ret == 0)
        ret = bootstrap(d, tmp, err);
    if (ret == 0)
        ret = resolve_packages(d, tmp, err);
    if (ret == 0)
        ret = hash_file_sha256(tmp, sha256, NULL, err);
    /* The tarball first, then its record: a tarball without one is never used. */
    if (ret == 0 && rename(tmp, dest) < 0)
        ret = kiln_errno(err, KILN_EFAIL, errno, "cannot move the Debian rootfs to '%s'", dest);
    if (ret == 0)
        ret = fs_fsync_dir(dir, err);
    if (ret == 0)
        ret = write_record(rec, sha256, d, err);
    fs_rm_rf(tmpdir, NULL);
    if (ret < 0)
        return kiln_err_prefix(err, "base 'debian %s'", b->suite);
    *tar_path = TAKE_PTR(dest);
    return 0;
}

void base_debian_inputs(struct build_ctx *ctx, const struct debian_base *d)
{
    for (size_t i = 0; i < d->m->n; i++) {
        const struct debian_suite_state *s = &d->m->suites[i];
        _cleanup_free_ char *name = xasprintf("InRelease %s", s->suite);
        _cleanup_free_ char *uri = xasprintf("%s/dists/%s/InRelease", s->url, s->suite);
        json_array_append_new(ctx->inputs, json_pack("{s:s,s:s,s:s}", "name", name, "uri", uri, "sha256",
                                                     s->sha256));
    }
    for (size_t i = 0; i < d->n_pkgs; i++) {
        const struct debian_pkg *p = &d->pkgs[i];
        _cleanup_free_ char *purl = debian_purl(p);
        json_array_append_new(ctx->inputs,
                              json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "name", p->name, "uri", purl, "sha256",
                                        p->sha256, "annotations", "version", p->version, "architecture", p->arch));
    }
}
