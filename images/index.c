/* index.c - index.json: image refs, versions, channels and referrers.
 *
 * index.json is the only mutable file of the store.  Every change takes
 * DIR/.kiln/index.lock exclusively, re-reads index.json inside the lock,
 * changes it in memory and replaces it atomically (fs_write_atomic), so
 * concurrent builds never lose each other's entries and a reader always
 * sees a whole file. */
#include "images/store-internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/timefmt.h"
#include "common/banned.h"

/* ---- entries ----------------------------------------------------------- */

enum entry_kind { ENTRY_OTHER = 0, ENTRY_IMAGE, ENTRY_CHANNEL, ENTRY_REFERRER };

static const char *ann(json_t *entry, const char *key)
{
    return json_string_value(json_object_get(json_object_get(entry, "annotations"), key));
}

static const char *entry_digest(json_t *entry)
{
    return json_string_value(json_object_get(entry, "digest"));
}

/* Classifies an index entry; for images and channels sets *name, *version
 * (and *channel), borrowed from the entry. */
static enum entry_kind classify(json_t *entry, const char **name, const char **version, const char **channel)
{
    *name = *version = *channel = NULL;
    if (ann(entry, KILN_ANN_SUBJECT))
        return ENTRY_REFERRER;
    const char *ch = ann(entry, KILN_ANN_CHANNEL);
    if (ch) {
        *name = ann(entry, KILN_ANN_NAME);
        *version = ann(entry, KILN_ANN_VERSION);
        *channel = ch;
        if (!*name || !*version)
            return ENTRY_OTHER;
        return ENTRY_CHANNEL;
    }
    const char *n = ann(entry, KILN_ANN_NAME), *v = ann(entry, KILN_ANN_VERSION);
    if (n && v) {
        *name = n;
        *version = v;
        return ENTRY_IMAGE;
    }
    return ENTRY_OTHER;
}

static int is_image(json_t *e, const char *name, const char *version)
{
    const char *n, *v, *c;
    return classify(e, &n, &v, &c) == ENTRY_IMAGE && strcmp(n, name) == 0 && (!version || strcmp(v, version) == 0);
}

static int is_channel(json_t *e, const char *name, const char *channel)
{
    const char *n, *v, *c;
    return classify(e, &n, &v, &c) == ENTRY_CHANNEL && strcmp(n, name) == 0 && (!channel || strcmp(c, channel) == 0);
}

int store_index_read(const struct store *st, json_t **out, struct kiln_err *err)
{
    *out = NULL;
    struct oci_index *ix = NULL;
    int r = oci_layout_index(st->layout, &ix, err);
    if (r < 0)
        return r;
    *out = json_incref(ix->json);
    oci_index_free(ix);
    return 0;
}

/* ---- images ------------------------------------------------------------ */

void store_image_free(struct store_image *img)
{
    if (!img)
        return;
    free(img->name);
    free(img->version);
    free(img->digest);
    free(img->media_type);
    free(img->artifact_type);
    free(img->recipe_digest);
    free(img->created);
    free(img->channel);
    strv_free(img->channels);
    json_decref(img->annotations);
    free(img);
}

void store_image_list_free(struct store_image **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        store_image_free(v[i]);
    free(v);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* A new store_image for an image entry, with the channels that point at it. */
static struct store_image *image_from_entry(json_t *index, json_t *e)
{
    const char *n, *v, *c;
    classify(e, &n, &v, &c);
    struct store_image *img = xcalloc(1, sizeof(*img));
    img->name = xstrdup(n);
    img->version = xstrdup(v);
    img->digest = xstrdup(entry_digest(e));
    img->media_type = dup_or_null(json_string_value(json_object_get(e, "mediaType")));
    img->size = (uint64_t)json_integer_value(json_object_get(e, "size"));
    img->artifact_type = dup_or_null(json_string_value(json_object_get(e, "artifactType")));
    img->recipe_digest = dup_or_null(ann(e, KILN_ANN_RECIPE_DIGEST));
    img->created = dup_or_null(ann(e, OCI_ANN_CREATED));
    json_t *a = json_object_get(e, "annotations");
    img->annotations = a ? json_deep_copy(a) : json_object();
    size_t nch = 0, i;
    json_t *x;
    json_t *m = json_object_get(index, "manifests");
    img->channels = xcalloc(json_array_size(m) + 1, sizeof(char *));
    json_array_foreach(m, i, x) {
        const char *xn, *xv, *xc;
        if (classify(x, &xn, &xv, &xc) == ENTRY_CHANNEL && !strcmp(xn, n) && !strcmp(xv, v))
            img->channels[nch++] = xstrdup(xc);
    }
    return img;
}

/* Checks that a blob listed in an image is present (size only; content is
 * verified when read). */
static int check_present(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    const struct store *st = ud;
    _cleanup_free_ char *p = store_blob_path(st, d->digest);
    struct stat sb;
    if (!p || lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode))
        return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' (%s%s%s) is not in the store", d->digest, d->media_type,
                         parent ? ", listed in " : "", parent ? parent->digest : "");
    if (d->size >= 0 && sb.st_size != d->size)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' has %lld bytes, its descriptor says %lld", d->digest,
                         (long long)sb.st_size, (long long)d->size);
    return 0;
}

/* Fills d from the manifest blob `digest` (media type, size, artifact type)
 * after checking that everything it reaches is in the store. */
static int describe_manifest(const struct store *st, const char *digest, const char *media_type, uint64_t size,
                             const char *artifact_type, struct oci_desc *d, struct kiln_err *err)
{
    memset(d, 0, sizeof(*d));
    if (!digest_valid(digest))
        return kiln_errf(err, KILN_EINVAL, "'%.80s' is not a digest (sha256:<64 lowercase hex>)",
                         digest ? digest : "(null)");
    struct oci_manifest *m = NULL;
    int r = store_manifest_read(st, digest, size ? (int64_t)size : -1, &m, err);
    if (r < 0)
        return r;
    if (media_type && strcmp(media_type, m->media_type) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "manifest '%s' has media type '%s', not '%s'", digest, m->media_type,
                      media_type);
        oci_manifest_free(m);
        return r;
    }
    _cleanup_free_ char *p = store_blob_path(st, digest);
    struct stat sb;
    stat(p, &sb);
    d->media_type = xstrdup(m->media_type);
    d->digest = xstrdup(digest);
    d->size = sb.st_size;
    d->artifact_type = dup_or_null(artifact_type ? artifact_type : m->artifact_type);
    oci_manifest_free(m);
    if ((r = store_walk(st, d, 0, check_present, (void *)st, err)) < 0)
        oci_desc_release(d);
    return r;
}

/* The highest N of NAME:BASE-nightly.DAY.N in index, 0 when none. */
static unsigned long highest_nightly(json_t *index, const char *name, const char *prefix)
{
    unsigned long best = 0;
    size_t i, pl = strlen(prefix);
    json_t *e;
    json_array_foreach(json_object_get(index, "manifests"), i, e) {
        const char *n, *v, *c;
        if (classify(e, &n, &v, &c) != ENTRY_IMAGE || strcmp(n, name) != 0 || strncmp(v, prefix, pl) != 0)
            continue;
        const char *num = v + pl;
        if (!num[0] || strspn(num, "0123456789") != strlen(num) || strlen(num) > 9)
            continue;
        unsigned long x = strtoul(num, NULL, 10);
        if (x > best)
            best = x;
    }
    return best;
}

static char *nightly_prefix(const char *base, time_t now)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    char day[16];
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    return xasprintf("%s-nightly.%s.", base, day);
}

int store_next_auto_version(struct store *st, const char *name, const char *base, time_t now, char **out,
                            struct kiln_err *err)
{
    *out = NULL;
    int r;
    if ((r = ref_check_name(name, err)) < 0 || (r = ref_check_auto_base(base, err)) < 0)
        return r;
    json_t *index;
    if ((r = store_index_read(st, &index, err)) < 0)
        return r;
    _cleanup_free_ char *prefix = nightly_prefix(base, now ? now : time(NULL));
    *out = xasprintf("%s%lu", prefix, highest_nightly(index, name, prefix) + 1);
    json_decref(index);
    return 0;
}

static json_t *channel_entry(json_t *image_entry, const char *name, const char *channel, const char *version,
                             time_t now)
{
    json_t *e = json_object();
    json_object_set(e, "mediaType", json_object_get(image_entry, "mediaType"));
    json_object_set(e, "digest", json_object_get(image_entry, "digest"));
    json_object_set(e, "size", json_object_get(image_entry, "size"));
    json_t *at = json_object_get(image_entry, "artifactType");
    if (at)
        json_object_set(e, "artifactType", at);
    json_t *a = json_object();
    json_object_set_new(a, OCI_ANN_REF_NAME, json_sprintf("%s:%s", name, channel));
    json_object_set_new(a, KILN_ANN_NAME, json_string(name));
    json_object_set_new(a, KILN_ANN_VERSION, json_string(version));
    json_object_set_new(a, KILN_ANN_CHANNEL, json_string(channel));
    char ts[RFC3339_SIZE];
    rfc3339_format(now, ts);
    json_object_set_new(a, KILN_ANN_PROMOTED, json_string(ts));
    json_object_set_new(e, "annotations", a);
    return e;
}

/* The container image of a multi-output index: its linux/amd64 image
 * manifest.  NULL when there is none or the index cannot be read (the store
 * lists the index as it is either way). */
static json_t *container_entry_of(const struct store *st, json_t *entry)
{
    const char *mt = json_string_value(json_object_get(entry, "mediaType"));
    if (!mt || !oci_media_type_is_index(mt))
        return NULL;
    struct oci_manifest *idx = NULL;
    if (store_manifest_read(st, entry_digest(entry), json_integer_value(json_object_get(entry, "size")), &idx,
                            NULL) < 0)
        return NULL;
    const struct oci_desc *d = NULL;
    json_t *found = NULL;
    if (oci_descs_pick_platform(idx->descs, idx->n_descs, OCI_DEFAULT_OS, OCI_DEFAULT_ARCH, &d, NULL) == 0)
        found = json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest, "size",
                          (json_int_t)d->size);
    oci_manifest_free(idx);
    return found;
}

/* Rebuilds the `REF.oci` entries: for every version or channel that names a
 * multi-output index, one more entry names its container image alone, so that
 * tools that cannot pick a platform out of an index (umoci) can unpack it. */
static void sync_container_names(const struct store *st, json_t *index)
{
    json_t *m = json_object_get(index, "manifests");
    for (size_t k = json_array_size(m); k-- > 0;)
        if (ann(json_array_get(m, k), KILN_ANN_CONTAINER_OF))
            json_array_remove(m, k);
    size_t n = json_array_size(m);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(m, i);
        const char *name, *version, *channel;
        enum entry_kind kind = classify(e, &name, &version, &channel);
        if (kind != ENTRY_IMAGE && kind != ENTRY_CHANNEL)
            continue;
        json_t *c = container_entry_of(st, e);
        if (!c)
            continue;
        const char *ref = ann(e, OCI_ANN_REF_NAME);
        json_t *a = json_object();
        json_object_set_new(a, OCI_ANN_REF_NAME, json_sprintf("%s%s", ref, KILN_CONTAINER_SUFFIX));
        json_object_set_new(a, KILN_ANN_CONTAINER_OF, json_string(ref));
        json_object_set_new(c, "annotations", a);
        json_array_append_new(m, c);
    }
}

static int index_write(const struct store *st, json_t *index, struct kiln_err *err)
{
    sync_container_names(st, index);
    return store_index_write(st, index, err);
}

/* Points NAME:CHANNEL at the image entry; returns 1 if index changed. */
static int set_channel(json_t *index, json_t *image_entry, const char *name, const char *channel,
                       const char *version, time_t now)
{
    json_t *m = json_object_get(index, "manifests");
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e) {
        if (!is_channel(e, name, channel))
            continue;
        const char *v = ann(e, KILN_ANN_VERSION);
        if (!strcmp(v, version) && json_equal(json_object_get(e, "digest"), json_object_get(image_entry, "digest")))
            return 0;
        json_array_set_new(m, i, channel_entry(image_entry, name, channel, version, now));
        /* Drop any duplicate pointer further on. */
        for (size_t k = json_array_size(m); k-- > i + 1;)
            if (is_channel(json_array_get(m, k), name, channel))
                json_array_remove(m, k);
        return 1;
    }
    json_array_append_new(m, channel_entry(image_entry, name, channel, version, now));
    return 1;
}

static json_t *find_image(json_t *index, const char *name, const char *version, size_t *at)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(index, "manifests"), i, e) {
        if (is_image(e, name, version)) {
            if (at)
                *at = i;
            return e;
        }
    }
    return NULL;
}

static char *normalise_recipe_digest(const char *d, struct kiln_err *err)
{
    if (!d)
        return NULL;
    if (digest_valid(d))
        return xstrdup(d);
    if (hash_is_hex(d))
        return xasprintf("sha256:%s", d);
    kiln_errf(err, KILN_EINVAL, "recipe digest '%.80s' is not a sha256 digest", d);
    return NULL;
}

/* ---- transactions ------------------------------------------------------ */

struct store_txn {
    struct store *st;
    int lock;      /* DIR/.kiln/index.lock, held until commit or abort */
    json_t *index; /* read inside the lock, changed in memory */
    int changed;   /* something to write */
};

int store_txn_begin(struct store *st, struct store_txn **out, struct kiln_err *err)
{
    *out = NULL;
    int r, lock = -1;
    json_t *index = NULL;
    if ((r = store_require_write(st, err)) < 0 || (r = store_index_lock(st, &lock, err)) < 0)
        return r;
    if ((r = store_index_read(st, &index, err)) < 0) {
        close(lock);
        return r;
    }
    struct store_txn *t = xcalloc(1, sizeof(*t));
    t->st = st;
    t->lock = lock;
    t->index = index;
    *out = t;
    return 0;
}

void store_txn_abort(struct store_txn *t)
{
    if (!t)
        return;
    json_decref(t->index);
    close(t->lock);
    free(t);
}

int store_txn_commit(struct store_txn *t, struct kiln_err *err)
{
    int r = t->changed ? index_write(t->st, t->index, err) : 0;
    store_txn_abort(t);
    return r;
}

/* ---- adding images ----------------------------------------------------- */

int store_image_check(const struct store_image *img, int flags, struct kiln_err *err)
{
    int r;
    if ((r = ref_check_name(img->name, err)) < 0)
        return r;
    if (flags & STORE_ADD_AUTO_VERSION)
        r = ref_check_auto_base(img->version, err);
    else
        r = ref_check_version(img->version, err);
    if (r < 0 || (img->channel && (r = ref_check_channel(img->channel, err)) < 0))
        return r;
    _cleanup_free_ char *recipe = NULL;
    if (img->recipe_digest && !(recipe = normalise_recipe_digest(img->recipe_digest, err)))
        return KILN_EINVAL;
    if (img->media_type && !oci_media_type_is_manifest(img->media_type) && !oci_media_type_is_index(img->media_type))
        return kiln_errf(err, KILN_EINVAL, "image '%s:%s': media type '%s' is not an OCI manifest or index",
                         img->name, img->version, img->media_type);
    return 0;
}

int store_txn_add_image(struct store_txn *t, const struct store_image *img, int flags, char **version_out,
                        struct kiln_err *err)
{
    if (version_out)
        *version_out = NULL;
    struct store *st = t->st;
    int r;
    if ((r = store_image_check(img, flags, err)) < 0)
        return r;
    _cleanup_free_ char *recipe = normalise_recipe_digest(img->recipe_digest, NULL);
    struct oci_desc d;
    if ((r = describe_manifest(st, img->digest, img->media_type, img->size, img->artifact_type, &d, err)) < 0)
        return kiln_err_prefix(err, "image '%s:%s'", img->name, img->version);

    time_t now = img->now ? img->now : time(NULL);
    char created[32];
    rfc3339_format(now, created);
    json_t *index = t->index;
    _cleanup_free_ char *version = NULL;
    if (flags & STORE_ADD_AUTO_VERSION) {
        _cleanup_free_ char *prefix = nightly_prefix(img->version, now);
        version = xasprintf("%s%lu", prefix, highest_nightly(index, img->name, prefix) + 1);
    } else {
        version = xstrdup(img->version);
    }
    json_t *m = json_object_get(index, "manifests");
    size_t at = 0;
    json_t *old = find_image(index, img->name, version, &at);
    int changed = 0;
    if (old && !strcmp(entry_digest(old), d.digest)) {
        /* The same image again: nothing to do (but the channel, if asked). */
    } else {
        if (old && !(flags & STORE_ADD_FORCE)) {
            r = kiln_errf(err, KILN_EEXIST, "image '%s:%s' exists with digest %s; use --force to replace it",
                          img->name, version, entry_digest(old));
            goto out;
        }
        json_t *e = oci_desc_to_json(&d);
        json_t *a = json_object();
        if (img->annotations) {
            const char *k;
            json_t *v;
            json_object_foreach(img->annotations, k, v)
                if (json_is_string(v))
                    json_object_set(a, k, v);
        }
        json_object_set_new(a, OCI_ANN_REF_NAME, json_sprintf("%s:%s", img->name, version));
        json_object_set_new(a, KILN_ANN_NAME, json_string(img->name));
        json_object_set_new(a, KILN_ANN_VERSION, json_string(version));
        json_object_set_new(a, OCI_ANN_CREATED, json_string(img->created ? img->created : created));
        if (recipe)
            json_object_set_new(a, KILN_ANN_RECIPE_DIGEST, json_string(recipe));
        json_object_set_new(e, "annotations", a);
        if (old) {
            json_array_set_new(m, at, e);
            /* Channels on the replaced version follow it to the new digest. */
            size_t i;
            json_t *c;
            json_array_foreach(m, i, c) {
                if (is_channel(c, img->name, NULL) && !strcmp(ann(c, KILN_ANN_VERSION), version))
                    json_array_set_new(m, i, channel_entry(e, img->name, ann(c, KILN_ANN_CHANNEL), version, now));
            }
        } else {
            json_array_append_new(m, e);
        }
        changed = 1;
    }
    if (img->channel && set_channel(index, find_image(index, img->name, version, NULL), img->name, img->channel,
                                    version, now))
        changed = 1;
    if (changed)
        t->changed = 1;
    if (version_out)
        *version_out = TAKE_PTR(version);
    r = 0;
out:
    oci_desc_release(&d);
    return r;
}

int store_image_add(struct store *st, const struct store_image *img, int flags, char **version_out,
                    struct kiln_err *err)
{
    if (version_out)
        *version_out = NULL;
    struct store_txn *t;
    int r;
    if ((r = store_require_write(st, err)) < 0 || (r = store_image_check(img, flags, err)) < 0 ||
        (r = store_txn_begin(st, &t, err)) < 0)
        return r;
    _cleanup_free_ char *version = NULL;
    if ((r = store_txn_add_image(t, img, flags, &version, err)) < 0) {
        store_txn_abort(t);
        return r;
    }
    if ((r = store_txn_commit(t, err)) < 0)
        return r;
    if (version_out)
        *version_out = TAKE_PTR(version);
    return 0;
}

int store_channel_set(struct store *st, const char *name, const char *channel, const char *version,
                      struct kiln_err *err)
{
    int r;
    if ((r = store_require_write(st, err)) < 0 || (r = ref_check_name(name, err)) < 0 ||
        (r = ref_check_channel(channel, err)) < 0 || (r = ref_check_version(version, err)) < 0)
        return r;
    _cleanup_close_ int lock = -1;
    json_t *index = NULL;
    if ((r = store_index_lock(st, &lock, err)) < 0 || (r = store_index_read(st, &index, err)) < 0)
        goto out;
    json_t *e = find_image(index, name, version, NULL);
    if (!e) {
        r = kiln_errf(err, KILN_ENOTFOUND, "image '%s:%s' not found in store '%s'", name, version, st->dir);
        goto out;
    }
    if (set_channel(index, e, name, channel, version, time(NULL)))
        r = index_write(st, index, err);
out:
    json_decref(index);
    return r;
}

/* ---- resolve and list -------------------------------------------------- */

int store_resolve(struct store *st, const char *ref, struct store_image **out, struct kiln_err *err)
{
    *out = NULL;
    struct image_ref rf;
    int r = image_ref_parse(ref, &rf, err);
    if (r < 0)
        return r;
    json_t *index = NULL;
    if ((r = store_index_read(st, &index, err)) < 0)
        goto out;
    json_t *best = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(index, "manifests"), i, e) {
        const char *n, *v, *c;
        enum entry_kind k = classify(e, &n, &v, &c);
        if (!n || strcmp(n, rf.name) != 0)
            continue;
        if (rf.kind == REF_CHANNEL) {
            if (k == ENTRY_CHANNEL && !strcmp(c, rf.channel))
                best = e;
            continue;
        }
        if (k != ENTRY_IMAGE || ref_check_version(v, NULL) < 0)
            continue;
        if (rf.kind == REF_VERSION && strcmp(v, rf.version) != 0)
            continue;
        if (rf.kind == REF_DIGEST && strcmp(entry_digest(e), rf.digest) != 0)
            continue;
        if (!best || semver_cmp(v, ann(best, KILN_ANN_VERSION)) > 0)
            best = e;
    }
    if (!best) {
        r = kiln_errf(err, KILN_ENOTFOUND, "image '%s' not found in store '%s'", ref, st->dir);
        goto out;
    }
    if (rf.kind == REF_CHANNEL) {
        /* The version the channel points at, when it is still listed. */
        json_t *img = find_image(index, rf.name, ann(best, KILN_ANN_VERSION), NULL);
        if (img && !strcmp(entry_digest(img), entry_digest(best)))
            best = img;
    }
    *out = image_from_entry(index, best);
    if (rf.kind == REF_CHANNEL) {
        /* A channel entry read as an image: give it the image's identity. */
        json_object_del((*out)->annotations, KILN_ANN_CHANNEL);
    }
    r = 0;
out:
    json_decref(index);
    image_ref_release(&rf);
    return r;
}

static int image_cmp(const void *a, const void *b)
{
    const struct store_image *x = *(struct store_image *const *)a, *y = *(struct store_image *const *)b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    c = semver_cmp(x->version, y->version);
    return c ? c : strcmp(x->version, y->version);
}

int store_list(struct store *st, const char *name, struct store_image ***out, size_t *n, struct kiln_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *index;
    int r = store_index_read(st, &index, err);
    if (r < 0)
        return r;
    json_t *m = json_object_get(index, "manifests");
    struct store_image **v = xcalloc(json_array_size(m) + 1, sizeof(*v));
    size_t cnt = 0, i;
    json_t *e;
    json_array_foreach(m, i, e) {
        const char *en, *ev, *ec;
        if (classify(e, &en, &ev, &ec) != ENTRY_IMAGE || (name && strcmp(en, name) != 0))
            continue;
        if (ref_check_name(en, NULL) < 0 || ref_check_version(ev, NULL) < 0)
            continue; /* not an entry kiln wrote */
        v[cnt++] = image_from_entry(index, e);
    }
    json_decref(index);
    qsort(v, cnt, sizeof(*v), image_cmp);
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- rm ---------------------------------------------------------------- */

/* 1 if some image or channel entry still has this digest. */
static int digest_listed(json_t *m, const char *digest)
{
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e) {
        const char *n, *v, *c;
        enum entry_kind k = classify(e, &n, &v, &c);
        if ((k == ENTRY_IMAGE || k == ENTRY_CHANNEL || k == ENTRY_OTHER) && !strcmp(entry_digest(e), digest))
            return 1;
    }
    return 0;
}

int store_rm(struct store *st, const char *ref, int flags, struct kiln_err *err)
{
    struct image_ref rf;
    int r;
    if ((r = store_require_write(st, err)) < 0 || (r = image_ref_parse(ref, &rf, err)) < 0)
        return r;
    _cleanup_close_ int lock = -1;
    json_t *index = NULL;
    json_t *gone = json_array(); /* digests whose entries were removed */
    if (rf.kind == REF_LATEST) {
        r = kiln_errf(err, KILN_EINVAL, "'%s' names every version: remove 'NAME:VERSION', 'NAME:CHANNEL' or "
                                        "'NAME@sha256:...'", ref);
        goto out;
    }
    if ((r = store_index_lock(st, &lock, err)) < 0 || (r = store_index_read(st, &index, err)) < 0)
        goto out;
    json_t *m = json_object_get(index, "manifests");
    size_t removed = 0;
    if (rf.kind == REF_CHANNEL) {
        for (size_t k = json_array_size(m); k-- > 0;) {
            json_t *e = json_array_get(m, k);
            if (is_channel(e, rf.name, rf.channel)) {
                json_array_append_new(gone, json_string(entry_digest(e)));
                json_array_remove(m, k);
                removed++;
            }
        }
    } else {
        /* The versions to remove. */
        json_t *versions = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(m, i, e) {
            if (!is_image(e, rf.name, rf.version))
                continue;
            if (rf.kind == REF_DIGEST && strcmp(entry_digest(e), rf.digest) != 0)
                continue;
            json_array_append_new(versions, json_string(ann(e, KILN_ANN_VERSION)));
        }
        /* Channels on them: refuse, or remove them with force. */
        for (size_t k = json_array_size(m); k-- > 0 && r == 0;) {
            e = json_array_get(m, k);
            if (!is_channel(e, rf.name, NULL))
                continue;
            size_t vi;
            json_t *v;
            json_array_foreach(versions, vi, v) {
                if (strcmp(json_string_value(v), ann(e, KILN_ANN_VERSION)) != 0)
                    continue;
                if (!(flags & STORE_RM_FORCE)) {
                    r = kiln_errf(err, KILN_EFAIL,
                                  "image '%s:%s' is on channel '%s'; promote the channel to another version "
                                  "first, or use --force to remove the channel too",
                                  rf.name, json_string_value(v), ann(e, KILN_ANN_CHANNEL));
                    break;
                }
                json_array_append_new(gone, json_string(entry_digest(e)));
                json_array_remove(m, k);
                break;
            }
        }
        if (r == 0) {
            for (size_t k = json_array_size(m); k-- > 0;) {
                e = json_array_get(m, k);
                size_t vi;
                json_t *v;
                json_array_foreach(versions, vi, v) {
                    if (is_image(e, rf.name, json_string_value(v)) &&
                        (rf.kind != REF_DIGEST || !strcmp(entry_digest(e), rf.digest))) {
                        json_array_append_new(gone, json_string(entry_digest(e)));
                        json_array_remove(m, k);
                        removed++;
                        break;
                    }
                }
            }
        }
        json_decref(versions);
        if (r < 0)
            goto out;
    }
    if (!removed) {
        r = kiln_errf(err, KILN_ENOTFOUND, "image '%s' not found in store '%s'", ref, st->dir);
        goto out;
    }
    /* Signatures and attestations of images no longer listed go too. */
    for (size_t k = json_array_size(m); k-- > 0;) {
        json_t *e = json_array_get(m, k);
        const char *subj = ann(e, KILN_ANN_SUBJECT);
        if (!subj)
            continue;
        size_t gi;
        json_t *g;
        json_array_foreach(gone, gi, g) {
            if (!strcmp(subj, json_string_value(g)) && !digest_listed(m, subj)) {
                json_array_remove(m, k);
                break;
            }
        }
    }
    r = index_write(st, index, err);
out:
    json_decref(gone);
    json_decref(index);
    image_ref_release(&rf);
    return r;
}

/* ---- referrers --------------------------------------------------------- */

int store_txn_add_referrer(struct store_txn *t, const char *subject_digest, const char *manifest_digest,
                           const char *media_type, const char *artifact_type, uint64_t size, json_t *annotations,
                           struct kiln_err *err)
{
    struct store *st = t->st;
    int r;
    if (!digest_valid(subject_digest))
        return kiln_errf(err, KILN_EINVAL, "subject '%.80s' is not a digest (sha256:<64 lowercase hex>)",
                         subject_digest ? subject_digest : "(null)");
    if (annotations && !json_is_object(annotations))
        return kiln_errf(err, KILN_EINVAL, "referrer annotations are not an object");
    struct oci_desc d;
    struct oci_manifest *m = NULL;
    if ((r = describe_manifest(st, manifest_digest, media_type, size, artifact_type, &d, err)) < 0)
        return kiln_err_prefix(err, "referrer");
    /* A manifest that names a subject must name this one. */
    if ((r = store_manifest_read(st, d.digest, d.size, &m, err)) < 0)
        goto out;
    if (m->subject && strcmp(m->subject->digest, subject_digest) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "referrer '%s' has subject '%s', not '%s'", d.digest, m->subject->digest,
                      subject_digest);
        goto out;
    }
    json_t *entries = json_object_get(t->index, "manifests");
    if (!digest_listed(entries, subject_digest)) {
        r = kiln_errf(err, KILN_ENOTFOUND, "image '%s' is not listed in store '%s'", subject_digest, st->dir);
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *subj = ann(e, KILN_ANN_SUBJECT);
        if (subj && !strcmp(subj, subject_digest) && !strcmp(entry_digest(e), d.digest))
            goto out; /* listed already */
    }
    e = oci_desc_to_json(&d);
    json_t *a = json_object();
    if (annotations) {
        const char *k;
        json_t *v;
        json_object_foreach(annotations, k, v)
            if (json_is_string(v) && strcmp(k, OCI_ANN_REF_NAME) != 0)
                json_object_set(a, k, v);
    }
    json_object_set_new(a, KILN_ANN_SUBJECT, json_string(subject_digest));
    json_object_set_new(e, "annotations", a);
    json_array_append_new(entries, e);
    t->changed = 1;
out:
    oci_manifest_free(m);
    oci_desc_release(&d);
    return r;
}

int store_referrer_add(struct store *st, const char *subject_digest, const char *manifest_digest,
                       const char *media_type, const char *artifact_type, uint64_t size, json_t *annotations,
                       struct kiln_err *err)
{
    struct store_txn *t;
    int r;
    if ((r = store_txn_begin(st, &t, err)) < 0)
        return r;
    if ((r = store_txn_add_referrer(t, subject_digest, manifest_digest, media_type, artifact_type, size,
                                    annotations, err)) < 0) {
        store_txn_abort(t);
        return r;
    }
    return store_txn_commit(t, err);
}

int store_referrers(struct store *st, const char *subject_digest, const char *artifact_type, struct oci_desc **out,
                    size_t *n, struct kiln_err *err)
{
    *out = NULL;
    *n = 0;
    struct oci_index *ix = NULL;
    int r = oci_layout_index(st->layout, &ix, err);
    if (r < 0)
        return r;
    r = oci_layout_referrers(st->layout, ix, subject_digest, artifact_type, out, n, err);
    oci_index_free(ix);
    return r;
}

/* ---- build cache entries ----------------------------------------------- */

static int cache_key_valid(const char *key)
{
    return key && strlen(key) == HASH_HEX_LEN && hash_is_hex(key);
}

int store_txn_drop_cache(struct store_txn *t, const char *key, int *removed, struct kiln_err *err)
{
    if (removed)
        *removed = 0;
    if (!cache_key_valid(key))
        return kiln_errf(err, KILN_EINVAL, "cache key '%.80s' is not 64 hex digits", key ? key : "(null)");
    json_t *m = json_object_get(t->index, "manifests");
    for (size_t k = json_array_size(m); k-- > 0;) {
        const char *ck = ann(json_array_get(m, k), KILN_ANN_CACHE_KEY);
        if (ck && !strcmp(ck, key)) {
            json_array_remove(m, k);
            t->changed = 1;
            if (removed)
                *removed = 1;
        }
    }
    return 0;
}

int store_txn_put_cache(struct store_txn *t, const char *key, const char *index_digest, json_t *annotations,
                        struct kiln_err *err)
{
    if (annotations && !json_is_object(annotations))
        return kiln_errf(err, KILN_EINVAL, "cache entry annotations are not an object");
    int r = store_txn_drop_cache(t, key, NULL, err);
    if (r < 0)
        return r;
    struct oci_desc d;
    if ((r = describe_manifest(t->st, index_digest, OCI_MT_INDEX, 0, NULL, &d, err)) < 0)
        return kiln_err_prefix(err, "cache entry");
    json_t *e = oci_desc_to_json(&d);
    oci_desc_release(&d);
    json_t *a = json_object();
    if (annotations) {
        const char *k;
        json_t *v;
        json_object_foreach(annotations, k, v)
            if (json_is_string(v) && strcmp(k, OCI_ANN_REF_NAME) != 0 && strcmp(k, KILN_ANN_SUBJECT) != 0)
                json_object_set(a, k, v);
    }
    json_object_set_new(a, KILN_ANN_CACHE_KEY, json_string(key));
    json_object_set_new(e, "annotations", a);
    json_array_append_new(json_object_get(t->index, "manifests"), e);
    t->changed = 1;
    return 0;
}
