/* export-store.c - export's two questions to the store, answered from the
 * store's index.json (an OCI image layout). */
#include "images/export-store.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/banned.h"


#define STORE_INDEX_MAX (64u << 20)

static int load_index(const char *store, json_t **out, struct kiln_err *err)
{
    _cleanup_free_ char *path = path_join(store, "index.json");
    struct buf b BUF_CLEANUP = BUF_INIT;
    int r = fs_read_file(path, STORE_INDEX_MAX, &b, err);
    if (r == KILN_ENOTFOUND)
        return kiln_errf(err, KILN_ENOTFOUND, "'%s' is not a kiln store (no index.json)", store);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, 0, &je);
    if (!j || !json_is_array(json_object_get(j, "manifests"))) {
        json_decref(j);
        return kiln_errf(err, KILN_EINVAL, "'%s': index.json is not an OCI image index", store);
    }
    *out = j;
    return 0;
}

static const char *ann(json_t *d, const char *key)
{
    return json_string_value(json_object_get(json_object_get(d, "annotations"), key));
}

static void fill(json_t *d, struct export_store_ref *out)
{
    out->desc = json_incref(d);
    const char *n = ann(d, "dev.kiln.name"), *v = ann(d, "dev.kiln.version");
    const char *rn = ann(d, "org.opencontainers.image.ref.name");
    out->name = n ? xstrdup(n) : NULL;
    out->version = v ? xstrdup(v) : NULL;
    if ((!n || !v) && rn && strchr(rn, ':')) {
        const char *c = strrchr(rn, ':');
        free(out->name);
        free(out->version);
        out->name = xstrndup(rn, (size_t)(c - rn));
        out->version = xstrdup(c + 1);
    }
}

int export_store_resolve(const char *store, const char *ref, struct export_store_ref *out,
                         struct kiln_err *err)
{
    _cleanup_(json_decrefp) json_t *index = NULL;
    int r = load_index(store, &index, err);
    if (r < 0)
        return r;
    json_t *manifests = json_object_get(index, "manifests");
    const char *at = strchr(ref, '@');
    const char *digest = at ? at + 1 : (strncmp(ref, "sha256:", 7) == 0 ? ref : NULL);
    size_t name_len = at ? (size_t)(at - ref) : strlen(ref);
    if (digest && (strncmp(digest, "sha256:", 7) != 0 || !hash_is_hex(digest + 7)))
        return kiln_errf(err, KILN_EINVAL, "'%s' is not a valid image reference", ref);

    json_t *best = NULL, *by_digest = NULL;
    const char *best_created = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(manifests, i, d) {
        const char *rn = ann(d, "org.opencontainers.image.ref.name");
        const char *dg = json_string_value(json_object_get(d, "digest"));
        if (!dg)
            continue;
        if (digest) {
            if (strcmp(dg, digest) != 0)
                continue;
            if (at) {
                const char *n = ann(d, "dev.kiln.name");
                if (!n || strlen(n) != name_len || strncmp(n, ref, name_len) != 0)
                    continue;
            }
            if (!by_digest || (rn && !ann(by_digest, "org.opencontainers.image.ref.name")))
                by_digest = d;
            continue;
        }
        if (!rn)
            continue;
        if (strcmp(rn, ref) == 0) {
            fill(d, out);
            return 0;
        }
        /* a bare NAME: the newest of its versions */
        const char *n = ann(d, "dev.kiln.name");
        if (!strchr(ref, ':') && n && strcmp(n, ref) == 0 && !ann(d, "dev.kiln.channel")) {
            const char *created = ann(d, "org.opencontainers.image.created");
            if (!best || (created && (!best_created || strcmp(created, best_created) >= 0))) {
                best = d;
                best_created = created;
            }
        }
    }
    if (by_digest)
        best = by_digest;
    if (!best)
        return kiln_errf(err, KILN_ENOTFOUND, "no image '%s' in the store", ref);
    fill(best, out);
    return 0;
}

int export_store_referrer_candidates(const char *store, json_t **out, struct kiln_err *err)
{
    _cleanup_(json_decrefp) json_t *index = NULL;
    int r = load_index(store, &index, err);
    if (r < 0)
        return r;
    json_t *list = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(index, "manifests"), i, d)
        if (ann(d, "dev.kiln.subject"))
            json_array_append(list, d);
    *out = list;
    return 0;
}
