/* export.c - resolve an image for export, the format table, and the
 * atomic hand-over of the finished output. */
#include "images/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "images/layout.h"
#include "images/manifest.h"
#include "images/ref.h"
#include "images/store.h"
#include "common/banned.h"


const struct export_format export_formats[] = {
    { "oci", export_write_oci },
    { "oci-archive", export_write_oci_archive },
    { "docker-archive", export_write_docker_archive },
    { "tar", export_write_rootfs_tar },
    { "qcow2", export_write_qcow2 },
    { "raw", export_write_raw },
    { "containerdisk", export_write_containerdisk },
    { "vmdk", export_write_vmdk },
    { "vhdx", export_write_vhdx },
    { "vhd", export_write_vhd },
    { "ova", export_write_ova },
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

#define EXPORT_COPY_CHUNK (1u << 20)

char *export_blob_path(const struct export_source *s, const char *digest)
{
    return store_blob_path(s->st, digest);
}

int export_blob_open(const struct export_source *s, const char *digest, int *fd, uint64_t *size,
                     struct kiln_err *err)
{
    int r = store_blob_open(s->st, digest, fd, size, err);
    if (r == KILN_ENOTFOUND)
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' is missing from the store", digest);
    return r;
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

int export_blob_copy(int in, uint64_t size, const char *digest, export_sink_fn sink, void *ud,
                     struct kiln_err *err)
{
    struct hash_ctx *h = hash_new();
    if (!h)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    _cleanup_free_ char *chunk = xmalloc(EXPORT_COPY_CHUNK);
    uint64_t done = 0;
    int r = 0;
    for (;;) {
        ssize_t n = read(in, chunk, EXPORT_COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot read blob '%s'", digest);
            break;
        }
        if (n == 0)
            break;
        if (done + (uint64_t)n > size) {
            r = kiln_errf(err, KILN_EVERIFY, "blob '%s' changed while it was copied", digest);
            break;
        }
        done += (uint64_t)n;
        hash_update(h, chunk, (size_t)n);
        if (sink && (r = sink(ud, chunk, (size_t)n, err)) < 0)
            break;
    }
    if (r == 0 && done != size)
        r = kiln_errf(err, KILN_EVERIFY, "blob '%s' changed while it was copied", digest);
    if (r < 0) {
        hash_free(h);
        return r;
    }
    return export_blob_hash_check(h, digest, err);
}

int export_fd_sink(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    const struct export_fd_out *o = ud;
    return fs_write_all(o->fd, data, len, o->path, err);
}

int export_blob_json(const struct export_source *s, const char *digest, size_t limit, json_t **out,
                     struct kiln_err *err)
{
    struct buf b BUF_CLEANUP = BUF_INIT;
    int r = store_blob_read(s->st, digest, limit, &b, err);
    if (r == KILN_ENOTFOUND)
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' is missing from the store", digest);
    if (r < 0)
        return r;
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

static const char *desc_digest(json_t *d)
{
    return json_string_value(json_object_get(d, "digest"));
}

struct closure {
    const struct export_source *src;
    struct strset set;
};

static int closure_visit(const struct oci_desc *d, const struct oci_desc *parent, void *ud,
                         struct kiln_err *err)
{
    (void)parent;
    struct closure *c = ud;
    if (!strset_add(&c->set, d->digest))
        return 1;
    if (c->set.n > CLOSURE_MAX_BLOBS)
        return kiln_errf(err, KILN_EINVAL, "image '%s' reaches more than %d blobs", c->src->ref,
                         CLOSURE_MAX_BLOBS);
    if (!store_blob_exists(c->src->st, d->digest))
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' of image '%s' is missing from the store",
                         d->digest, c->src->ref);
    return 0;
}

static int closure_walk(struct closure *c, json_t *desc_json, struct kiln_err *err)
{
    struct oci_desc d = { 0 };
    int r = oci_desc_parse(desc_json, "descriptor", &d, err);
    if (r == 0)
        r = store_walk(c->src->st, &d, 0, closure_visit, c, err);
    oci_desc_release(&d);
    return r;
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

/* Picks the container image of an index: its linux/amd64 image manifest,
 * else its first image manifest.  *at is the index of that entry in
 * `manifests`; 0 when there is none. */
static int index_pick_image(json_t *index, size_t *at)
{
    struct oci_manifest *m = NULL;
    if (oci_manifest_from_json(json_incref(index), &m, NULL) < 0 || m->kind != OCI_KIND_INDEX) {
        oci_manifest_free(m);
        return 0;
    }
    const struct oci_desc *d = NULL;
    if (oci_descs_pick_platform(m->descs, m->n_descs, OCI_DEFAULT_OS, OCI_DEFAULT_ARCH, &d, NULL) < 0)
        oci_descs_pick_platform(m->descs, m->n_descs, NULL, NULL, &d, NULL);
    if (d)
        *at = (size_t)(d - m->descs);
    oci_manifest_free(m);
    return d != NULL;
}

void export_source_free(struct export_source *s)
{
    if (!s)
        return;
    store_close(s->st);
    free(s->store);
    free(s->ref);
    free(s->ref_name);
    free(s->name);
    free(s->version);
    free(s->channel);
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
DEFINE_CLEANUP(struct store_image, store_image_free)

/* The image's index.json descriptor, rebuilt from what the store resolved. */
static json_t *image_desc(const struct store_image *img)
{
    json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", img->media_type ? img->media_type : OCI_MT_MANIFEST,
                          "digest", img->digest, "size", (json_int_t)img->size);
    if (img->artifact_type)
        json_object_set_new(d, "artifactType", json_string(img->artifact_type));
    json_t *ann = img->annotations ? json_deep_copy(img->annotations) : json_object();
    json_object_del(ann, KILN_ANN_CHANNEL);
    json_object_set_new(ann, KILN_ANN_NAME, json_string(img->name));
    json_object_set_new(ann, KILN_ANN_VERSION, json_string(img->version));
    char *rn = xasprintf("%s:%s", img->name, img->version);
    json_object_set_new(ann, OCI_ANN_REF_NAME, json_string(rn));
    free(rn);
    json_object_set_new(d, "annotations", ann);
    return d;
}

static int64_t created_time(const struct export_source *s)
{
    json_t *c = s->config ? json_object_get(s->config, "created") : NULL;
    if (!c)
        c = json_object_get(json_object_get(s->top, "annotations"), OCI_ANN_CREATED);
    return parse_rfc3339(json_string_value(c));
}

int export_source_load(const char *store, const char *ref, struct export_source **out,
                       struct kiln_err *err)
{
    _cleanup_(export_source_freep) struct export_source *s = xcalloc(1, sizeof(*s));
    s->store = xstrdup(store);
    s->ref = xstrdup(ref);
    int r = store_open(store, 0, &s->st, err);
    if (r < 0)
        return r;

    struct image_ref rf;
    r = image_ref_parse(ref, &rf, err);
    if (r < 0)
        return r;
    if (rf.kind == REF_CHANNEL)
        s->channel = xstrdup(rf.channel);
    image_ref_release(&rf);

    _cleanup_(store_image_freep) struct store_image *img = NULL;
    r = store_resolve(s->st, ref, &img, err);
    if (r < 0)
        return r;
    s->name = xstrdup(img->name);
    s->version = xstrdup(img->version);
    s->ref_name = xasprintf("%s:%s", img->name, img->version);
    s->top = image_desc(img);

    r = export_blob_json(s, img->digest, EXPORT_MAX_JSON, &s->top_doc, err);
    if (r < 0)
        return kiln_err_prefix(err, "image '%s'", ref);

    json_t *image = NULL;
    size_t pick = 0;
    if (json_is_array(json_object_get(s->top_doc, "manifests"))) {
        if (index_pick_image(s->top_doc, &pick))
            image = json_array_get(json_object_get(s->top_doc, "manifests"), pick);
    } else if (json_object_get(s->top_doc, "config"))
        image = s->top;
    if (image) {
        s->image_digest = xstrdup(desc_digest(image));
        if (image == s->top) {
            s->image = json_incref(s->top_doc);
        } else {
            r = export_blob_json(s, s->image_digest, EXPORT_MAX_JSON, &s->image, err);
            if (r < 0)
                return kiln_err_prefix(err, "image '%s'", ref);
        }
        const char *cfg = desc_digest(json_object_get(s->image, "config"));
        if (!digest_valid(cfg))
            return kiln_errf(err, KILN_EINVAL, "image '%s': the manifest has no valid config digest", ref);
        r = export_blob_json(s, cfg, EXPORT_MAX_JSON, &s->config, err);
        if (r < 0)
            return kiln_err_prefix(err, "image '%s'", ref);
    }
    s->created = created_time(s);

    /* The closure, then every referrer of anything in it, until nothing new. */
    struct closure c = { .src = s };
    s->referrers = json_array();
    r = closure_walk(&c, s->top, err);
    for (size_t i = 0; r == 0 && i < c.set.n; i++) {
        struct oci_desc *refs = NULL;
        size_t n = 0;
        r = store_referrers(s->st, c.set.v[i], NULL, &refs, &n, err);
        for (size_t k = 0; r == 0 && k < n; k++) {
            if (strset_has(&c.set, refs[k].digest))
                continue;
            json_t *d = oci_desc_to_json(&refs[k]);
            r = closure_walk(&c, d, err);
            if (r == 0)
                json_array_append(s->referrers, d);
            json_decref(d);
        }
        oci_desc_list_free(refs, n);
    }
    if (r < 0) {
        strv_free(c.set.v);
        return r;
    }
    if (c.set.v)
        qsort(c.set.v, c.set.n, sizeof(*c.set.v), cmp_str);
    s->closure = c.set.v ? c.set.v : xcalloc(1, sizeof(char *));
    *out = TAKE_PTR(s);
    return 0;
}

int export_source_files(const struct export_source *s, json_t **out, struct kiln_err *err)
{
    struct oci_desc top;
    int r = oci_desc_parse(s->top, "image", &top, err);
    if (r == 0)
        r = oci_layout_image_files(store_layout(s->st), &top, out, err);
    oci_desc_release(&top);
    if (r < 0)
        return kiln_err_prefix(err, "image '%s'", s->ref);
    if (!*out)
        return kiln_errf(err, KILN_ENOTFOUND, "image '%s' has no file manifest", s->ref);
    return 0;
}

int export_source_artifact(const struct export_source *s, const char *artifact_type, json_t **out,
                           struct kiln_err *err)
{
    json_t *manifests = json_object_get(s->top_doc, "manifests");
    size_t i;
    json_t *m;
    json_array_foreach(manifests, i, m) {
        const char *at = json_string_value(json_object_get(m, "artifactType"));
        const char *dg = desc_digest(m);
        if (!at || strcmp(at, artifact_type) != 0 || !digest_valid(dg))
            continue;
        int r = export_blob_json(s, dg, EXPORT_MAX_JSON, out, err);
        return r < 0 ? kiln_err_prefix(err, "image '%s'", s->ref) : 0;
    }
    const char *top_at = json_string_value(json_object_get(s->top_doc, "artifactType"));
    if (top_at && strcmp(top_at, artifact_type) == 0) {
        *out = json_incref(s->top_doc);
        return 0;
    }
    return kiln_errf(err, KILN_ENOTFOUND, "image '%s' has no %s artifact", s->ref, artifact_type);
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

/* The output path without trailing slashes (caller-owned), or NULL when it
 * names something export must never replace ("/", ".", ".."). */
static char *output_path(const char *given)
{
    char *p = xstrdup(given);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    if (!p[0] || strcmp(p, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* 1 if the existing path output is dir or one of dir's parents. */
static int output_holds(const char *output, const char *dir)
{
    _cleanup_free_ char *out = realpath(output, NULL);
    _cleanup_free_ char *d = realpath(dir, NULL);
    if (!out || !d)
        return 0;
    size_t n = strlen(out);
    return strcmp(out, "/") == 0 || (strncmp(d, out, n) == 0 && (d[n] == '\0' || d[n] == '/'));
}

/* The work directory of the export in progress, for export_emergency_cleanup(). */
static pthread_mutex_t work_mu = PTHREAD_MUTEX_INITIALIZER;
static char *work_dir;
static int work_committed; /* the output is in place; work_dir is only scratch */

static void work_set(const char *dir)
{
    pthread_mutex_lock(&work_mu);
    free(work_dir);
    work_dir = dir ? xstrdup(dir) : NULL;
    work_committed = 0;
    pthread_mutex_unlock(&work_mu);
}

int export_emergency_cleanup(void)
{
    pthread_mutex_lock(&work_mu);
    /* Not in place yet: what there is of it goes, or nothing was begun. */
    int nothing_written = !work_committed;
    if (work_dir) {
        /* Renamed first: the writer, still running, opens paths under the
         * old name, which no longer exist, so it cannot add to what we remove. */
        _cleanup_free_ char *dead = xasprintf("%s.dead", work_dir);
        if (rename(work_dir, dead) == 0)
            fs_rm_rf(dead, NULL);
        else
            fs_rm_rf(work_dir, NULL);
    }
    pthread_mutex_unlock(&work_mu);
    return nothing_written;
}

int export_run(const struct export_opts *opts, struct export_result *res, struct kiln_err *err)
{
    const struct export_format *fmt = export_format_find(opts->format);
    if (!fmt)
        return kiln_errf(err, KILN_EINVAL, "unknown export format '%s'", opts->format);
    struct export_opts fixed = *opts;
    const struct export_opts *o = &fixed;
    _cleanup_free_ char *output = output_path(opts->output);
    if (!output)
        return kiln_errf(err, KILN_EINVAL, "output '%s' must name a new file or directory", opts->output);
    fixed.output = output;
    if (output_holds(o->output, o->store))
        return kiln_errf(err, KILN_EINVAL, "output '%s' is or holds the store; refusing to replace it",
                         o->output);
    if (!o->force && output_nonempty(o->output))
        return kiln_errf(err, KILN_EEXIST, "'%s' exists and is not empty (use --force)", o->output);

    _cleanup_(export_source_freep) struct export_source *s = NULL;
    int r = export_source_load(o->store, o->ref, &s, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *dir = path_dirname(o->output);
    _cleanup_free_ char *work = NULL;
    /* made and registered under the lock: a signal in between cannot miss it */
    pthread_mutex_lock(&work_mu);
    r = fs_mkdtemp(dir, ".kiln-export.", &work, err);
    if (r == 0)
        work_dir = xstrdup(work);
    pthread_mutex_unlock(&work_mu);
    if (r < 0)
        return kiln_err_prefix(err, "export to '%s'", o->output);
    _cleanup_free_ char *tmp = path_join(work, "out");
    kiln_log(KILN_LOG_INFO, "exporting '%s' as %s to '%s'", o->ref, fmt->name, o->output);
    r = fmt->write(s, tmp, err);
    if (r == 0) {
        /* under the lock: a signal sees the output either not yet or wholly in place */
        pthread_mutex_lock(&work_mu);
        r = commit_output(tmp, o->output, o->force, err);
        work_committed = r == 0;
        pthread_mutex_unlock(&work_mu);
    }
    struct kiln_err ignored = KILN_ERR_INIT;
    fs_rm_rf(work, &ignored);
    work_set(NULL);
    if (r < 0)
        return r;
    if (res) {
        snprintf(res->digest, sizeof(res->digest), "%s", desc_digest(s->top));
        res->ref_name = s->ref_name ? xstrdup(s->ref_name) : NULL;
    }
    return 0;
}
