/* export.c - resolve an image for export, the format table, and the
 * atomic hand-over of the finished output. */
#include "images/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "images/export-store.h"
#include "common/banned.h"


const struct export_format export_formats[] = {
    { "oci", export_write_oci },
    { "oci-archive", export_write_oci_archive },
    { "docker-archive", export_write_docker_archive },
    { "tar", export_write_rootfs_tar },
    { NULL, NULL },
};

const struct export_format *export_format_find(const char *name)
{
    for (const struct export_format *f = export_formats; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* ---- blobs ---------------------------------------------------------- */

static int digest_hex(const char *digest, const char **hex)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || !hash_is_hex(digest + 7))
        return -1;
    *hex = digest + 7;
    return 0;
}

char *export_blob_path(const struct export_source *s, const char *digest)
{
    const char *hex;
    if (digest_hex(digest, &hex) < 0)
        return NULL;
    return xasprintf("%s/blobs/sha256/%s", s->store, hex);
}

int export_blob_open(const struct export_source *s, const char *digest, int *fd, uint64_t *size,
                     struct kiln_err *err)
{
    _cleanup_free_ char *path = export_blob_path(s, digest);
    if (!path)
        return kiln_errf(err, KILN_EINVAL, "'%s' is not a sha256 digest", digest ? digest : "");
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EFAIL, errno,
                          "blob '%s' is missing from the store", digest);
    struct stat st;
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return kiln_errf(err, KILN_EFAIL, "blob '%s' is not a regular file", digest);
    }
    if (size)
        *size = (uint64_t)st.st_size;
    *fd = f;
    return 0;
}

int export_blob_hash_check(struct hash_ctx *h, const char *digest, struct kiln_err *err)
{
    char hex[HASH_HEX_LEN + 1];
    hash_final_hex(h, hex);
    hash_free(h);
    if (strncmp(digest, "sha256:", 7) != 0 || strcmp(digest + 7, hex) != 0)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' is corrupt: its content hashes to sha256:%s",
                         digest, hex);
    return 0;
}

int export_blob_json(const struct export_source *s, const char *digest, size_t limit, json_t **out,
                     struct kiln_err *err)
{
    _cleanup_free_ char *path = export_blob_path(s, digest);
    if (!path)
        return kiln_errf(err, KILN_EINVAL, "'%s' is not a sha256 digest", digest ? digest : "");
    struct buf b BUF_CLEANUP = BUF_INIT;
    int r = fs_read_file(path, limit, &b, err);
    if (r == KILN_ENOTFOUND)
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' is missing from the store", digest);
    if (r < 0)
        return r;
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(b.data, b.len, hex);
    if (strcmp(digest + 7, hex) != 0)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' is corrupt: its content hashes to sha256:%s",
                         digest, hex);
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return kiln_errf(err, KILN_EINVAL, "blob '%s' is not a JSON object", digest);
    }
    *out = j;
    return 0;
}

/* ---- the closure ---------------------------------------------------- */

struct strset {
    char **v;
    size_t n, cap;
};

static int strset_has(const struct strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 1;
    return 0;
}

/* Returns 1 if added, 0 if already there. */
static int strset_add(struct strset *s, const char *x)
{
    if (strset_has(s, x))
        return 0;
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = xstrdup(x);
    s->v[s->n] = NULL;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define CLOSURE_MAX_BLOBS 100000
#define CLOSURE_MAX_DEPTH 8

static const char *desc_digest(json_t *d)
{
    return json_string_value(json_object_get(d, "digest"));
}

static int check_digest(const char *what, const char *digest, struct kiln_err *err)
{
    const char *hex;
    if (digest_hex(digest, &hex) < 0)
        return kiln_errf(err, KILN_EINVAL, "%s: '%s' is not a sha256 digest", what,
                         digest ? digest : "(none)");
    return 0;
}

static int closure_add_blob(const struct export_source *s, struct strset *set, const char *what,
                            const char *digest, struct kiln_err *err)
{
    int r = check_digest(what, digest, err);
    if (r < 0)
        return r;
    if (!strset_add(set, digest))
        return 0;
    if (set->n > CLOSURE_MAX_BLOBS)
        return kiln_errf(err, KILN_EINVAL, "image '%s' reaches more than %d blobs", s->ref,
                         CLOSURE_MAX_BLOBS);
    _cleanup_free_ char *path = export_blob_path(s, digest);
    if (!fs_exists(path))
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' of image '%s' is missing from the store",
                         digest, s->ref);
    return 0;
}

/* Adds a manifest or index and everything it reaches. */
static int closure_walk(const struct export_source *s, struct strset *set, json_t *desc, int depth,
                        struct kiln_err *err)
{
    const char *digest = desc_digest(desc);
    int r = check_digest("descriptor", digest, err);
    if (r < 0)
        return r;
    if (strset_has(set, digest))
        return 0;
    if (depth > CLOSURE_MAX_DEPTH)
        return kiln_errf(err, KILN_EINVAL, "image '%s' nests indexes deeper than %d", s->ref,
                         CLOSURE_MAX_DEPTH);
    r = closure_add_blob(s, set, "manifest", digest, err);
    if (r < 0)
        return r;
    _cleanup_(json_decrefp) json_t *doc = NULL;
    r = export_blob_json(s, digest, EXPORT_MAX_JSON, &doc, err);
    if (r < 0)
        return r;
    json_t *manifests = json_object_get(doc, "manifests");
    if (json_is_array(manifests)) {
        size_t i;
        json_t *m;
        json_array_foreach(manifests, i, m) {
            r = closure_walk(s, set, m, depth + 1, err);
            if (r < 0)
                return r;
        }
    }
    json_t *config = json_object_get(doc, "config");
    if (config) {
        r = closure_add_blob(s, set, "config", desc_digest(config), err);
        if (r < 0)
            return r;
    }
    json_t *layers = json_object_get(doc, "layers");
    if (json_is_array(layers)) {
        size_t i;
        json_t *l;
        json_array_foreach(layers, i, l) {
            r = closure_add_blob(s, set, "layer", desc_digest(l), err);
            if (r < 0)
                return r;
        }
    }
    const char *files = json_string_value(
        json_object_get(json_object_get(doc, "annotations"), EXPORT_ANN_FILES));
    if (files) {
        r = closure_add_blob(s, set, "file manifest", files, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- loading -------------------------------------------------------- */

static int64_t parse_rfc3339(const char *s)
{
    if (!s)
        return 0;
    struct tm tm = { 0 };
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return 0;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t;
}

/* Picks the container image of an index: the first linux/amd64 image
 * manifest, else the first image manifest without an artifactType. */
static json_t *index_pick_image(json_t *index)
{
    json_t *manifests = json_object_get(index, "manifests");
    json_t *fallback = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(manifests, i, m) {
        const char *mt = json_string_value(json_object_get(m, "mediaType"));
        if (!mt || strcmp(mt, EXPORT_MEDIA_MANIFEST) != 0 || json_object_get(m, "artifactType"))
            continue;
        json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0)
            return m;
        if (!fallback)
            fallback = m;
    }
    return fallback;
}

void export_source_free(struct export_source *s)
{
    if (!s)
        return;
    free(s->store);
    free(s->ref);
    free(s->ref_name);
    free(s->name);
    free(s->version);
    json_decref(s->top);
    json_decref(s->top_doc);
    free(s->image_digest);
    json_decref(s->image);
    json_decref(s->config);
    json_decref(s->referrers);
    strv_free(s->closure);
    free(s);
}

DEFINE_CLEANUP(struct export_source, export_source_free)

int export_source_load(const char *store, const char *ref, struct export_source **out,
                       struct kiln_err *err)
{
    _cleanup_(export_source_freep) struct export_source *s = xcalloc(1, sizeof(*s));
    s->store = xstrdup(store);
    s->ref = xstrdup(ref);

    struct export_store_ref found = { 0 };
    int r = export_store_resolve(store, ref, &found, err);
    if (r < 0)
        return r;
    s->top = found.desc;
    s->name = found.name;
    s->version = found.version;
    if (s->name && s->version)
        s->ref_name = xasprintf("%s:%s", s->name, s->version);

    const char *top_digest = desc_digest(s->top);
    r = export_blob_json(s, top_digest, EXPORT_MAX_JSON, &s->top_doc, err);
    if (r < 0)
        return kiln_err_prefix(err, "image '%s'", ref);

    json_t *image_desc = NULL;
    if (json_is_array(json_object_get(s->top_doc, "manifests"))) {
        image_desc = index_pick_image(s->top_doc);
    } else if (json_object_get(s->top_doc, "config")) {
        image_desc = s->top;
    }
    if (image_desc) {
        s->image_digest = xstrdup(desc_digest(image_desc));
        if (image_desc == s->top) {
            s->image = json_incref(s->top_doc);
        } else {
            r = export_blob_json(s, s->image_digest, EXPORT_MAX_JSON, &s->image, err);
            if (r < 0)
                return kiln_err_prefix(err, "image '%s'", ref);
        }
        const char *cfg = desc_digest(json_object_get(s->image, "config"));
        r = check_digest("config", cfg, err);
        if (r < 0)
            return kiln_err_prefix(err, "image '%s'", ref);
        r = export_blob_json(s, cfg, EXPORT_MAX_JSON, &s->config, err);
        if (r < 0)
            return kiln_err_prefix(err, "image '%s'", ref);
        s->created = parse_rfc3339(json_string_value(json_object_get(s->config, "created")));
    }

    /* The closure, then every referrer of anything in it, until nothing new. */
    struct strset set = { 0 };
    r = closure_walk(s, &set, s->top, 0, err);
    s->referrers = json_array();
    _cleanup_(json_decrefp) json_t *all = NULL;
    if (r == 0)
        r = export_store_referrer_candidates(store, &all, err);
    for (int changed = 1; r == 0 && changed;) {
        changed = 0;
        size_t i;
        json_t *d;
        json_array_foreach(all, i, d) {
            const char *subject = json_string_value(
                json_object_get(json_object_get(d, "annotations"), EXPORT_ANN_SUBJECT));
            const char *dg = desc_digest(d);
            if (!subject || !dg || !strset_has(&set, subject) || strset_has(&set, dg))
                continue;
            r = closure_walk(s, &set, d, 0, err);
            if (r < 0)
                break;
            json_array_append(s->referrers, d);
            changed = 1;
        }
    }
    if (r < 0) {
        strv_free(set.v);
        return r;
    }
    if (set.v)
        qsort(set.v, set.n, sizeof(*set.v), cmp_str);
    s->closure = set.v ? set.v : xcalloc(1, sizeof(char *));
    *out = TAKE_PTR(s);
    return 0;
}

int export_source_files(const struct export_source *s, json_t **out, struct kiln_err *err)
{
    const char *files = json_string_value(
        json_object_get(json_object_get(s->top_doc, "annotations"), EXPORT_ANN_FILES));
    if (!files && s->image)
        files = json_string_value(
            json_object_get(json_object_get(s->image, "annotations"), EXPORT_ANN_FILES));
    if (!files)
        return kiln_errf(err, KILN_ENOTFOUND, "image '%s' has no file manifest", s->ref);
    int r = check_digest("file manifest", files, err);
    if (r < 0)
        return kiln_err_prefix(err, "image '%s'", s->ref);
    r = export_blob_json(s, files, EXPORT_MAX_FILES_JSON, out, err);
    if (r < 0)
        return kiln_err_prefix(err, "image '%s'", s->ref);
    if (!json_is_array(json_object_get(*out, "files"))) {
        json_decref(*out);
        *out = NULL;
        return kiln_errf(err, KILN_EINVAL, "image '%s': file manifest '%s' has no \"files\" array",
                         s->ref, files);
    }
    return 0;
}

/* ---- running an export ---------------------------------------------- */

void export_result_release(struct export_result *r)
{
    free(r->ref_name);
    r->ref_name = NULL;
}

/* 1 if path exists and is a non-empty directory or anything but an empty file. */
static int output_nonempty(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return st.st_size > 0 || !S_ISREG(st.st_mode);
    DIR *d = opendir(path);
    if (!d)
        return 1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n > 0;
}

/* Moves tmp over output: a plain rename, except that a directory (or a
 * replaced non-empty output) first moves the old one aside. */
static int commit_output(const char *tmp, const char *output, int force, struct kiln_err *err)
{
    struct stat st;
    int exists = lstat(output, &st) == 0;
    _cleanup_free_ char *dir = path_dirname(output);
    if (exists && S_ISDIR(st.st_mode) && rmdir(output) < 0) {
        if (!force)
            return kiln_errf(err, KILN_EEXIST, "'%s' exists and is not empty (use --force)", output);
        _cleanup_free_ char *old = NULL;
        int r = fs_mkdtemp(dir, ".kiln-old.", &old, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *aside = path_join(old, "x");
        if (rename(output, aside) < 0) {
            fs_rm_rf(old, NULL);
            return kiln_errno(err, KILN_EFAIL, errno, "cannot move '%s' aside", output);
        }
        if (rename(tmp, output) < 0) {
            int e = errno;
            rename(aside, output);
            fs_rm_rf(old, NULL);
            return kiln_errno(err, KILN_EFAIL, e, "cannot rename '%s' to '%s'", tmp, output);
        }
        fs_rm_rf(old, NULL);
        return fs_fsync_dir(dir, err);
    }
    struct stat tst;
    if (exists && !S_ISDIR(st.st_mode) && lstat(tmp, &tst) == 0 && S_ISDIR(tst.st_mode) &&
        unlink(output) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot replace '%s'", output);
    if (rename(tmp, output) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot rename '%s' to '%s'", tmp, output);
    return fs_fsync_dir(dir, err);
}

int export_run(const struct export_opts *o, struct export_result *res, struct kiln_err *err)
{
    const struct export_format *fmt = export_format_find(o->format);
    if (!fmt)
        return kiln_errf(err, KILN_EINVAL, "unknown export format '%s'", o->format);
    if (!o->force && output_nonempty(o->output))
        return kiln_errf(err, KILN_EEXIST, "'%s' exists and is not empty (use --force)", o->output);

    _cleanup_(export_source_freep) struct export_source *s = NULL;
    int r = export_source_load(o->store, o->ref, &s, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *dir = path_dirname(o->output);
    _cleanup_free_ char *work = NULL;
    r = fs_mkdtemp(dir, ".kiln-export.", &work, err);
    if (r < 0)
        return kiln_err_prefix(err, "export to '%s'", o->output);
    _cleanup_free_ char *tmp = path_join(work, "out");
    kiln_log(KILN_LOG_INFO, "exporting '%s' as %s to '%s'", o->ref, fmt->name, o->output);
    r = fmt->write(s, tmp, err);
    if (r == 0) {
        r = commit_output(tmp, o->output, o->force, err);
    }
    struct kiln_err ignored = KILN_ERR_INIT;
    fs_rm_rf(work, &ignored);
    if (r < 0)
        return r;
    if (res) {
        snprintf(res->digest, sizeof(res->digest), "%s", desc_digest(s->top));
        res->ref_name = s->ref_name ? xstrdup(s->ref_name) : NULL;
    }
    return 0;
}
