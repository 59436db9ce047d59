/* cache.c - the build cache on plan keys, as entries of the store (see cache.h). */
#include "builder/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/plan.h"
#include "common/common.h"
#include "common/hash.h"
#include "common/timefmt.h"
#include "images/manifest.h"
#include "common/log.h"
#include "images/ref.h"
#include "registry/registry.h"
#include "common/banned.h"

#define CACHE_ANN_TIME "dev.kiln.cache.time"

struct cache {
    struct store *st;
    json_t *entries; /* key -> index.json entry (the snapshot) */
    /* the shared cache, or none (remote.host NULL) */
    struct registry_ref remote;
    struct registry_push_opts push;
    json_t *remote_misses; /* keys the shared cache does not have */
    int remote_down;       /* it could not be reached: not asked again in this build */
};

DEFINE_CLEANUP(struct oci_manifest, oci_manifest_free)

static void entries_from_index(json_t *index, json_t *out)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(index, "manifests"), i, e) {
        const char *k = json_string_value(json_object_get(json_object_get(e, "annotations"), KILN_ANN_CACHE_KEY));
        if (k)
            json_object_set(out, k, e);
    }
}

int cache_open(struct store *st, struct cache **out, struct kiln_err *err)
{
    *out = NULL;
    json_t *index = NULL;
    int r = store_index_read(st, &index, err);
    if (r < 0)
        return r;
    struct cache *c = xcalloc(1, sizeof(*c));
    c->st = st;
    c->entries = json_object();
    entries_from_index(index, c->entries);
    json_decref(index);
    *out = c;
    return 0;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    json_decref(c->entries);
    json_decref(c->remote_misses);
    registry_ref_release(&c->remote);
    free(c);
}

int cache_set_remote(struct cache *c, const char *dest, int plain_http, const struct registry_opts *conn,
                     struct kiln_err *err)
{
    struct registry_ref r;
    int rc = registry_ref_parse(dest, plain_http, &r, err);
    if (rc < 0)
        return kiln_err_prefix(err, "--cache");
    if (r.tag) {
        registry_ref_release(&r);
        return kiln_errf(err, KILN_EINVAL, "--cache '%s': give REGISTRY/REPO without a tag (each entry is "
                                           "tagged with its key)", dest);
    }
    registry_ref_release(&c->remote);
    c->remote = r;
    c->push.conn = *conn;
    /* A cache that does not answer must not hold the build up for long. */
    if (!c->push.conn.max_attempts)
        c->push.conn.max_attempts = 2;
    if (!c->push.conn.max_retry_ms)
        c->push.conn.max_retry_ms = 5000;
    c->push.jobs = 4;
    c->remote_misses = json_object();
    return 0;
}

static char *remote_tag(const char *key)
{
    return xasprintf("kiln-cache-%s", key);
}

/* Fetches the entry of key from the shared cache and lists it locally.
 * 1 when it did, 0 when the shared cache has none or cannot give it. */
static int remote_fetch(struct cache *c, const char *key)
{
    if (!c->remote.host || c->remote_down || json_object_get(c->remote_misses, key))
        return 0;
    struct registry_ref src = c->remote;
    _cleanup_free_ char *tag = remote_tag(key);
    src.tag = tag;
    char digest[DIGEST_STR_SIZE];
    struct kiln_err err = KILN_ERR_INIT;
    int r = registry_fetch_artifact(c->st, &src, &c->push.conn, digest, &err);
    struct oci_manifest *ix = NULL;
    if (r == 0 && (r = store_manifest_read(c->st, digest, -1, &ix, &err)) == 0) {
        const char *k = json_string_value(json_object_get(ix->annotations, KILN_ANN_CACHE_KEY));
        if (!ix->artifact_type || strcmp(ix->artifact_type, CACHE_ARTIFACT_TYPE) != 0 || !k || strcmp(k, key) != 0)
            r = kiln_errf(&err, KILN_EVERIFY, "'%s:%s' is not the cache entry of key %.12s", c->remote.repo, tag,
                          key);
    }
    if (r == 0) {
        const char *step = json_string_value(json_object_get(ix->annotations, KILN_ANN_CACHE_STEP));
        json_t *ann = json_pack("{s:s}", KILN_ANN_CACHE_STEP, step ? step : "?");
        json_object_set_new(ann, CACHE_ANN_TIME, json_sprintf("%lld", (long long)time(NULL)));
        struct store_txn *t = NULL;
        if ((r = store_txn_begin(c->st, &t, &err)) == 0) {
            if ((r = store_txn_put_cache(t, key, digest, ann, &err)) == 0)
                r = store_txn_commit(t, &err);
            else
                store_txn_abort(t);
        }
        json_decref(ann);
    }
    oci_manifest_free(ix);
    if (r < 0) {
        if (r != KILN_ENOTFOUND)
            kiln_log(KILN_LOG_WARN, "cache: shared cache %s/%s: %s", c->remote.host, c->remote.repo, err.msg);
        if (r == KILN_EFAIL)
            c->remote_down = 1;
        json_object_set_new(c->remote_misses, key, json_true());
        return 0;
    }
    kiln_log(KILN_LOG_INFO, "cache: entry %.12s fetched from %s/%s", key, c->remote.host, c->remote.repo);
    json_object_set_new(c->entries, key, json_pack("{s:s,s:s}", "mediaType", OCI_MT_INDEX, "digest", digest));
    /* the entry's size, as a descriptor needs it */
    _cleanup_free_ char *p = store_blob_path(c->st, digest);
    struct stat sb;
    if (p && stat(p, &sb) == 0)
        json_object_set_new(json_object_get(c->entries, key), "size", json_integer(sb.st_size));
    return 1;
}

int cache_has_local(const struct cache *c, const char *key)
{
    return key && key[0] && json_object_get(c->entries, key) != NULL;
}

int cache_has(struct cache *c, const char *key)
{
    if (!key || !key[0])
        return 0;
    return json_object_get(c->entries, key) != NULL || remote_fetch(c, key);
}

/* ---- keys known early --------------------------------------------------- */

static int prehash_one(const struct recipe *r, const char *what, const char *path, const char **digests,
                       size_t *n)
{
    struct kiln_err e = KILN_ERR_INIT;
    _cleanup_close_ int fd = recipe_open_input(r, what, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, NULL, &e);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
        return -1;
    char hex[HASH_HEX_LEN + 1];
    if (hash_fd_sha256(fd, path, hex, NULL, &e) < 0)
        return -1;
    digests[(*n)++] = xstrdup(hex);
    return 0;
}

void cache_prehash(const struct recipe *r, struct build_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct plan_step *s = &p->steps[i];
        if (s->key[0])
            continue;
        if (!s->has_inputs)
            return; /* waits for an earlier step */
        const char **d = xcalloc(r->n_files + 1, sizeof(*d));
        size_t n = 0;
        int ok = 0;
        if (s->kind == PLAN_BASE && r->base.kind == BASE_TARBALL)
            ok = prehash_one(r, "base.tarball.path", r->base.path, d, &n) == 0;
        else if (s->kind == PLAN_BASE && r->base.kind == BASE_DISK)
            ok = prehash_one(r, "base.disk.path", r->base.path, d, &n) == 0;
        else if (s->kind == PLAN_FILES || s->kind == PLAN_FILES_LATE) {
            ok = 1;
            int late = s->kind == PLAN_FILES_LATE;
            for (size_t k = 0; k < r->n_files && ok; k++) {
                char what[64];
                snprintf(what, sizeof(what), "files[%zu].src", k);
                if (r->files[k].src && r->files[k].after_run == late)
                    ok = prehash_one(r, what, r->files[k].src, d, &n) == 0;
            }
        }
        struct kiln_err e = KILN_ERR_INIT;
        if (ok)
            ok = plan_complete_step(p, i, d, n, &e) == 0;
        for (size_t k = 0; k < n; k++)
            free((char *)d[k]);
        free(d);
        if (!ok)
            return;
    }
}

/* ---- reading entries ---------------------------------------------------- */

/* Drops a corrupt or incomplete entry and deletes its bad blob (if known), so
 * that the rebuild stores a good one again. */
static void drop_entry(struct cache *c, const char *key, const char *bad_blob)
{
    if (bad_blob && digest_valid(bad_blob)) {
        _cleanup_free_ char *p = store_blob_path(c->st, bad_blob);
        if (p)
            unlink(p);
    }
    struct store_txn *t = NULL;
    struct kiln_err e = KILN_ERR_INIT;
    if (store_txn_begin(c->st, &t, &e) == 0) {
        if (store_txn_drop_cache(t, key, NULL, &e) == 0)
            store_txn_commit(t, &e);
        else
            store_txn_abort(t);
    }
    json_object_del(c->entries, key);
}

enum entry_kind { ENTRY_TREE, ENTRY_OUTPUT };

/* The entry's index and its state manifest and state, verified, of the
 * shape kind says (a tree: one layer; an output: its manifest next to the
 * state).  1 on success, 0 when the entry is unusable (*why set, entry
 * dropped). */
static int read_entry(struct cache *c, const char *key, enum entry_kind kind, struct oci_manifest **index,
                      struct oci_manifest **sm, json_t **state, char **why)
{
    json_t *e = json_object_get(c->entries, key);
    struct kiln_err er = KILN_ERR_INIT;
    struct oci_desc d;
    const char *bad = NULL;
    *index = *sm = NULL;
    *state = NULL;
    if (oci_desc_parse(e, "cache entry", &d, &er) < 0)
        goto corrupt;
    int r = store_manifest_read(c->st, d.digest, d.size, index, &er);
    if (r == KILN_EVERIFY)
        bad = d.digest;
    if (r < 0)
        goto corrupt_d;
    if ((*index)->n_descs < 1 || !(*index)->artifact_type ||
        strcmp((*index)->artifact_type, CACHE_ARTIFACT_TYPE) != 0) {
        kiln_errf(&er, KILN_EINVAL, "index '%s' is not a cache entry", d.digest);
        goto corrupt_d;
    }
    const struct oci_desc *sd = &(*index)->descs[0];
    if ((r = store_manifest_read(c->st, sd->digest, sd->size, sm, &er)) < 0) {
        if (r == KILN_EVERIFY)
            bad = sd->digest;
        goto corrupt_d;
    }
    if (!(*sm)->config.media_type || strcmp((*sm)->config.media_type, CACHE_STATE_MT) != 0) {
        kiln_errf(&er, KILN_EINVAL, "manifest '%s' is not a cache state", sd->digest);
        goto corrupt_d;
    }
    struct buf b;
    buf_init(&b, CACHE_STATE_LIMIT);
    if ((r = store_blob_read(c->st, (*sm)->config.digest, CACHE_STATE_LIMIT, &b, &er)) < 0) {
        if (r == KILN_EVERIFY)
            bad = (*sm)->config.digest;
        buf_release(&b);
        goto corrupt_d;
    }
    *state = json_loadb(b.data, b.len, 0, NULL);
    buf_release(&b);
    if (!json_is_object(*state)) {
        kiln_errf(&er, KILN_EINVAL, "cache state '%s' is not a JSON object", (*sm)->config.digest);
        goto corrupt_d;
    }
    if (kind == ENTRY_TREE ? (*sm)->n_descs != 1 : (*index)->n_descs != 2) {
        kiln_errf(&er, KILN_EINVAL, "cache entry '%.12s' holds no %s", key, kind == ENTRY_TREE ? "tree" : "output");
        goto corrupt_d;
    }
    oci_desc_release(&d);
    return 1;
corrupt_d:
    *why = xasprintf("%s", er.msg);
    drop_entry(c, key, bad);
    oci_desc_release(&d);
    goto out;
corrupt:
    *why = xasprintf("%s", er.msg);
    drop_entry(c, key, NULL);
out:
    json_decref(*state);
    *state = NULL;
    oci_manifest_free(*index);
    oci_manifest_free(*sm);
    *index = *sm = NULL;
    return 0;
}

int cache_get_tree(struct cache *c, const char *key, const char *scratch, const struct tree_limits *limits,
                   struct tree **tree, json_t **state, char **why, struct kiln_err *err)
{
    *tree = NULL;
    *state = NULL;
    *why = NULL;
    if (!cache_has(c, key))
        return 0;
    _cleanup_(oci_manifest_freep) struct oci_manifest *index = NULL;
    _cleanup_(oci_manifest_freep) struct oci_manifest *sm = NULL;
    json_t *st = NULL;
    if (!read_entry(c, key, ENTRY_TREE, &index, &sm, &st, why))
        return 0;
    const struct oci_desc *layer = &sm->descs[0];
    struct tree_limits lim = *limits;
    lim.allow_devices = 1; /* our own output, as the guest stage's */
    struct tree *t = NULL;
    int r = tree_new(scratch, &lim, &t, err);
    if (r < 0) {
        json_decref(st);
        return r;
    }
    int fd = -1;
    uint64_t size = 0;
    struct kiln_err er = KILN_ERR_INIT;
    char hex[HASH_HEX_LEN + 1] = "";
    uint64_t got = 0;
    if ((r = store_blob_open(c->st, layer->digest, &fd, &size, &er)) == 0) {
        struct tree_read_opts o = { .whiteouts = 0, .sha256_out = hex, .size_out = &got };
        r = tree_read_tar(t, "cached tree", fd, &o, &er);
        close(fd);
    }
    if (r == 0 && (strcmp(hex, digest_hex(layer->digest)) != 0 || (int64_t)got != layer->size)) {
        kiln_errf(&er, KILN_EVERIFY, "blob '%s' does not match its digest", layer->digest);
        r = KILN_EVERIFY;
    }
    if (r < 0) {
        tree_free(t);
        json_decref(st);
        *why = xasprintf("%s", er.msg);
        drop_entry(c, key, r == KILN_ENOTFOUND ? NULL : layer->digest);
        return 0;
    }
    *tree = t;
    *state = st;
    return 1;
}

struct verify_walk {
    const struct store *st;
    char bad[DIGEST_STR_SIZE]; /* the blob that did not check, "" if none */
};

static int verify_blob(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    struct verify_walk *v = ud;
    if (oci_media_type_is_manifest(d->media_type) || oci_media_type_is_index(d->media_type))
        return 0; /* read and verified by the walk */
    int r = store_blob_verify(v->st, d->digest, d->size, err);
    if (r == KILN_EVERIFY)
        snprintf(v->bad, sizeof(v->bad), "%s", d->digest);
    return r;
}

int cache_get_output(struct cache *c, const char *key, json_t **state, char **why, struct kiln_err *err)
{
    (void)err;
    *state = NULL;
    *why = NULL;
    if (!cache_has(c, key))
        return 0;
    _cleanup_(oci_manifest_freep) struct oci_manifest *index = NULL;
    _cleanup_(oci_manifest_freep) struct oci_manifest *sm = NULL;
    json_t *st = NULL;
    if (!read_entry(c, key, ENTRY_OUTPUT, &index, &sm, &st, why))
        return 0;
    struct verify_walk v = { c->st, "" };
    struct kiln_err er = KILN_ERR_INIT;
    int r = store_walk(c->st, &index->descs[1], 0, verify_blob, &v, &er);
    if (r < 0) {
        json_decref(st);
        *why = xasprintf("%s", er.msg);
        drop_entry(c, key, v.bad[0] ? v.bad : NULL);
        return 0;
    }
    *state = st;
    return 1;
}

/* ---- writing entries ---------------------------------------------------- */

static json_t *desc_json(const char *mt, const char *digest, uint64_t size)
{
    return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)size);
}

static int put_json(struct store *st, json_t *j, char digest[DIGEST_STR_SIZE], uint64_t *size,
                    struct kiln_err *err)
{
    _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return kiln_errf(err, KILN_EFAIL, "cannot encode a cache document");
    *size = strlen(s);
    return store_blob_put(st, s, *size, digest, err);
}

/* Stores the state manifest (config = state, layers), the entry's index
 * (the state manifest, then extra) and lists it under key. */
static int put_entry(struct cache *c, const char *key, const char *step, json_t *state, json_t *layers,
                     json_t *extra, struct kiln_err *err)
{
    char sdig[DIGEST_STR_SIZE], mdig[DIGEST_STR_SIZE], idig[DIGEST_STR_SIZE];
    uint64_t ssize, msize, isize;
    int r = put_json(c->st, state, sdig, &ssize, err);
    if (r < 0)
        return r;
    json_t *m = json_pack("{s:i,s:s,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
                          "artifactType", CACHE_ARTIFACT_TYPE, "config", desc_json(CACHE_STATE_MT, sdig, ssize),
                          "layers", layers);
    r = put_json(c->st, m, mdig, &msize, err);
    json_decref(m);
    if (r < 0)
        return r;
    json_t *manifests = json_array();
    json_array_append_new(manifests, desc_json(OCI_MT_MANIFEST, mdig, msize));
    if (extra)
        json_array_append(manifests, extra);
    json_t *ix = json_pack("{s:i,s:s,s:s,s:o,s:{s:s,s:s}}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
                           "artifactType", CACHE_ARTIFACT_TYPE, "manifests", manifests, "annotations",
                           KILN_ANN_CACHE_KEY, key, KILN_ANN_CACHE_STEP, step);
    r = put_json(c->st, ix, idig, &isize, err);
    json_decref(ix);
    if (r < 0)
        return r;
    time_t now = time(NULL);
    char created[RFC3339_SIZE];
    rfc3339_format(now, created);
    json_t *ann = json_pack("{s:s,s:s,s:s}", KILN_ANN_CACHE_STEP, step, OCI_ANN_CREATED, created, CACHE_ANN_TIME,
                            "");
    json_object_set_new(ann, CACHE_ANN_TIME, json_sprintf("%lld", (long long)now));
    struct store_txn *t = NULL;
    if ((r = store_txn_begin(c->st, &t, err)) < 0) {
        json_decref(ann);
        return r;
    }
    if ((r = store_txn_put_cache(t, key, idig, ann, err)) < 0) {
        store_txn_abort(t);
        json_decref(ann);
        return r;
    }
    json_decref(ann);
    if ((r = store_txn_commit(t, err)) < 0)
        return r;
    json_object_set_new(c->entries, key, desc_json(OCI_MT_INDEX, idig, isize));
    if (!c->remote.host || c->remote_down)
        return 0;
    struct registry_ref dest = c->remote;
    _cleanup_free_ char *tag = remote_tag(key);
    dest.tag = tag;
    struct registry_push_result res;
    if ((r = registry_push_artifact(c->st, OCI_MT_INDEX, idig, isize, &dest, &c->push, &res, err)) < 0) {
        if (r == KILN_EFAIL)
            c->remote_down = 1;
        return kiln_err_prefix(err, "shared cache %s/%s", c->remote.host, c->remote.repo);
    }
    registry_push_result_release(&res);
    return 0;
}

int cache_put_tree(struct cache *c, const char *key, const char *step, const char *tar_digest, uint64_t tar_size,
                   json_t *state, struct kiln_err *err)
{
    json_t *layers = json_array();
    json_array_append_new(layers, desc_json(OCI_MT_LAYER_TAR, tar_digest, tar_size));
    int r = put_entry(c, key, step, state, layers, NULL, err);
    json_decref(layers);
    return r;
}

int cache_put_output(struct cache *c, const char *key, const char *manifest_media_type,
                     const char *manifest_digest, uint64_t manifest_size, json_t *state, struct kiln_err *err)
{
    json_t *layers = json_array();
    json_t *out = desc_json(manifest_media_type, manifest_digest, manifest_size);
    int r = put_entry(c, key, "output", state, layers, out, err);
    json_decref(out);
    json_decref(layers);
    return r;
}

/* ---- ls / prune ----------------------------------------------------------- */

static int sum_size(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    (void)err;
    uint64_t *sum = ((void **)ud)[0];
    const struct store *st = ((void **)ud)[1];
    if (d->size >= 0) {
        *sum += (uint64_t)d->size;
    } else {
        _cleanup_free_ char *p = store_blob_path(st, d->digest);
        struct stat sb;
        if (p && stat(p, &sb) == 0)
            *sum += (uint64_t)sb.st_size;
    }
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct cache_entry *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return strcmp(x->key, y->key);
}

void cache_entries_free(struct cache_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].step);
        free(v[i].digest);
    }
    free(v);
}

int cache_list(struct store *st, struct cache_entry **out, size_t *n, struct kiln_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *index = NULL;
    int r = store_index_read(st, &index, err);
    if (r < 0)
        return r;
    json_t *entries = json_object();
    entries_from_index(index, entries);
    json_decref(index);
    struct cache_entry *v = xcalloc(json_object_size(entries) + 1, sizeof(*v));
    size_t k = 0;
    const char *key;
    json_t *e;
    json_object_foreach(entries, key, e) {
        struct oci_desc d;
        if (strlen(key) != HASH_HEX_LEN || oci_desc_parse(e, "cache entry", &d, err) < 0)
            continue;
        struct cache_entry *ce = &v[k++];
        memcpy(ce->key, key, HASH_HEX_LEN + 1);
        const char *step = oci_desc_annotation(&d, KILN_ANN_CACHE_STEP);
        ce->step = xstrdup(step ? step : "?");
        ce->digest = xstrdup(d.digest);
        const char *t = oci_desc_annotation(&d, CACHE_ANN_TIME);
        ce->time = t ? strtoll(t, NULL, 10) : 0;
        void *ud[2] = { &ce->size, st };
        struct kiln_err ignore = KILN_ERR_INIT;
        store_walk(st, &d, 0, sum_size, ud, &ignore); /* a damaged entry shows what it still has */
        oci_desc_release(&d);
    }
    json_decref(entries);
    qsort(v, k, sizeof(*v), entry_cmp);
    *out = v;
    *n = k;
    return 0;
}

int cache_prune(struct store *st, int64_t keep_seconds, time_t now, size_t *removed, struct kiln_err *err)
{
    *removed = 0;
    struct store_txn *t = NULL;
    int r = store_txn_begin(st, &t, err);
    if (r < 0)
        return r;
    json_t *index = NULL;
    if ((r = store_index_read(st, &index, err)) < 0) {
        store_txn_abort(t);
        return r;
    }
    json_t *entries = json_object();
    entries_from_index(index, entries);
    json_decref(index);
    const char *key;
    json_t *e;
    json_object_foreach(entries, key, e) {
        const char *ts = json_string_value(json_object_get(json_object_get(e, "annotations"), CACHE_ANN_TIME));
        int64_t when = ts ? strtoll(ts, NULL, 10) : 0;
        if (keep_seconds > 0 && when >= (int64_t)now - keep_seconds)
            continue;
        int gone = 0;
        if ((r = store_txn_drop_cache(t, key, &gone, err)) < 0)
            break;
        *removed += (size_t)gone;
    }
    json_decref(entries);
    if (r < 0) {
        store_txn_abort(t);
        return r;
    }
    return store_txn_commit(t, err);
}
