/* layout.c - reading an OCI image layout directory (see layout.h). */
#include "images/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "images/ref.h"
#include "common/banned.h"

#define LAYOUT_MARKER_LIMIT 4096
#define RESOLVE_MAX_DEPTH 2

struct oci_layout {
    char *dir;
    char *blobs; /* DIR/blobs/sha256 */
};

int oci_layout_open(const char *dir, struct oci_layout **out, struct kiln_err *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(dir, &sb) < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EFAIL, errno, "layout '%s'", dir);
    if (!S_ISDIR(sb.st_mode))
        return kiln_errf(err, KILN_EINVAL, "'%s' is not an OCI image layout: not a directory", dir);
    _cleanup_free_ char *marker = path_join(dir, "oci-layout");
    struct buf b;
    buf_init(&b, 0);
    struct kiln_err e = KILN_ERR_INIT;
    if (fs_read_file(marker, LAYOUT_MARKER_LIMIT, &b, &e) < 0) {
        buf_release(&b);
        return kiln_errf(err, KILN_EINVAL, "'%s' is not an OCI image layout: cannot read 'oci-layout'", dir);
    }
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    buf_release(&b);
    const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
    int r = 0;
    if (!v)
        r = kiln_errf(err, KILN_EINVAL, "'%s' is not an OCI image layout: 'oci-layout' is not valid", dir);
    else if (strcmp(v, OCI_LAYOUT_VERSION) != 0)
        r = kiln_errf(err, KILN_EINVAL, "layout '%s': unsupported image layout version '%.32s'", dir, v);
    json_decref(j);
    if (r < 0)
        return r;
    struct oci_layout *l = xcalloc(1, sizeof(*l));
    l->dir = xstrdup(dir);
    l->blobs = xasprintf("%s/blobs/sha256", dir);
    *out = l;
    return 0;
}

void oci_layout_close(struct oci_layout *l)
{
    if (!l)
        return;
    free(l->dir);
    free(l->blobs);
    free(l);
}

const char *oci_layout_dir(const struct oci_layout *l)
{
    return l->dir;
}

/* ---- documents --------------------------------------------------------- */

/* Parses a manifest or index.  Other tools may leave out the optional
 * mediaType: it is taken from the shape (oci_manifest_from_json refuses a
 * document that has both shapes).  `what` names the document in the
 * "not valid JSON" error. */
static int parse_doc(const void *data, size_t len, const char *what, struct oci_manifest **out,
                     struct kiln_err *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return kiln_errf(err, KILN_EINVAL, "%s is not valid JSON: %s at line %d", what, jerr.text, jerr.line);
    if (json_is_object(j) && !json_object_get(j, "mediaType"))
        json_object_set_new(j, "mediaType",
                            json_string(json_object_get(j, "manifests") ? OCI_MT_INDEX : OCI_MT_MANIFEST));
    int r = oci_manifest_from_json(j, out, err);
    return r < 0 ? kiln_err_prefix(err, "%s", what) : 0;
}

/* Checks index.json's shape and parses its entries into ix.  Not capped at
 * OCI_MAX_DESCS like a manifest: a store lists every version, channel and
 * referrer here (the file's size is capped instead). */
static int index_parse(json_t *j, struct oci_index *ix, struct kiln_err *err)
{
    if (!json_is_object(j))
        return kiln_errf(err, KILN_EINVAL, "not a JSON object");
    json_t *sv = json_object_get(j, "schemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return kiln_errf(err, KILN_EINVAL, "'schemaVersion' is not 2");
    json_t *mt = json_object_get(j, "mediaType");
    if (mt && !oci_media_type_is_index(json_string_value(mt)))
        return kiln_errf(err, KILN_EINVAL, "media type '%.100s' is not an OCI image index",
                         json_is_string(mt) ? json_string_value(mt) : "(not a string)");
    if (json_object_get(j, "layers") || json_object_get(j, "config"))
        return kiln_errf(err, KILN_EINVAL, "document has both 'manifests' and 'layers' or 'config': not an index, "
                                        "refused as ambiguous (CVE-2021-41190)");
    json_t *m = json_object_get(j, "manifests");
    if (!json_is_array(m))
        return kiln_errf(err, KILN_EINVAL, "'manifests' is missing or not an array");
    json_t *a = json_object_get(j, "annotations");
    if (a && !json_is_object(a))
        return kiln_errf(err, KILN_EINVAL, "'annotations' is not an object");
    ix->annotations = a ? json_incref(a) : NULL;
    size_t n = json_array_size(m);
    ix->manifests = xcalloc(n ? n : 1, sizeof(*ix->manifests));
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "manifests[%zu]", i);
        int r = oci_desc_parse(json_array_get(m, i), what, &ix->manifests[i], err);
        if (r < 0)
            return r;
        ix->n_manifests = i + 1;
    }
    return 0;
}

int oci_layout_index(const struct oci_layout *l, struct oci_index **out, struct kiln_err *err)
{
    *out = NULL;
    _cleanup_free_ char *path = path_join(l->dir, "index.json");
    struct buf b;
    buf_init(&b, 0);
    int r = fs_read_file(path, OCI_LAYOUT_INDEX_LIMIT, &b, err);
    if (r < 0) {
        buf_release(&b);
        return kiln_err_prefix(err, "layout '%s'", l->dir);
    }
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    buf_release(&b);
    if (!j)
        return kiln_errf(err, KILN_EINVAL, "layout '%s': index.json is not valid JSON: %s at line %d", l->dir,
                         jerr.text, jerr.line);
    struct oci_index *ix = xcalloc(1, sizeof(*ix));
    ix->json = j;
    if ((r = index_parse(j, ix, err)) < 0) {
        oci_index_free(ix);
        return kiln_err_prefix(err, "layout '%s': index.json", l->dir);
    }
    *out = ix;
    return 0;
}

void oci_index_free(struct oci_index *ix)
{
    if (!ix)
        return;
    oci_desc_list_free(ix->manifests, ix->n_manifests);
    json_decref(ix->annotations);
    json_decref(ix->json);
    free(ix);
}

void oci_desc_list_free(struct oci_desc *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        oci_desc_release(&v[i]);
    free(v);
}

/* ---- references -------------------------------------------------------- */

/* 1 if d belongs to image `name`: its dev.kiln.name, or a ref.name "NAME:...". */
static int entry_has_name(const struct oci_desc *d, const char *name)
{
    const char *n = oci_desc_annotation(d, KILN_ANN_NAME);
    if (n)
        return strcmp(n, name) == 0;
    const char *rn = oci_desc_annotation(d, OCI_ANN_REF_NAME);
    size_t len = strlen(name);
    return rn && strncmp(rn, name, len) == 0 && rn[len] == ':';
}

int oci_index_resolve(const struct oci_index *ix, const char *ref, const struct oci_desc **out,
                      struct kiln_err *err)
{
    *out = NULL;
    const char *at = strchr(ref, '@');
    const char *digest = at ? at + 1 : strncmp(ref, "sha256:", 7) == 0 ? ref : NULL;
    if (digest) {
        if (!digest_valid(digest))
            return kiln_errf(err, KILN_EINVAL,
                             "reference '%.200s': '%.80s' is not a digest (sha256:<64 lowercase hex>)", ref, digest);
        _cleanup_free_ char *name = at && at > ref ? xstrndup(ref, (size_t)(at - ref)) : NULL;
        for (size_t i = 0; i < ix->n_manifests; i++) {
            const struct oci_desc *d = &ix->manifests[i];
            if (strcmp(d->digest, digest) == 0 && (!name || entry_has_name(d, name))) {
                *out = d;
                return 0;
            }
        }
        return kiln_errf(err, KILN_ENOTFOUND, "image '%s' is not in the layout's index.json", ref);
    }
    if (!ref[0])
        return kiln_errf(err, KILN_EINVAL, "empty image reference");
    const char *colon = strrchr(ref, ':');
    const struct oci_desc *tag_match = NULL;
    for (size_t i = 0; i < ix->n_manifests; i++) {
        const struct oci_desc *d = &ix->manifests[i];
        const char *rn = oci_desc_annotation(d, OCI_ANN_REF_NAME);
        if (!rn)
            continue;
        if (strcmp(rn, ref) == 0) {
            *out = d;
            return 0;
        }
        if (colon && !tag_match && strcmp(rn, colon + 1) == 0)
            tag_match = d;
    }
    if (tag_match) {
        *out = tag_match;
        return 0;
    }
    return kiln_errf(err, KILN_ENOTFOUND, "no image named '%s' in the layout's index.json", ref);
}

int oci_descs_pick_platform(const struct oci_desc *descs, size_t n, const char *os, const char *arch,
                            const struct oci_desc **out, struct kiln_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct oci_desc *d = &descs[i];
        if (!oci_media_type_is_manifest(d->media_type) || d->artifact_type)
            continue;
        if (os && !(d->platform_os && strcmp(d->platform_os, os) == 0 && d->platform_arch &&
                    strcmp(d->platform_arch, arch) == 0))
            continue;
        *out = d;
        return 0;
    }
    if (os)
        return kiln_errf(err, KILN_ENOTFOUND, "the index has no %s/%s image manifest", os, arch);
    return kiln_errf(err, KILN_ENOTFOUND, "the index has no image manifest");
}

/* ---- blobs ------------------------------------------------------------- */

char *oci_layout_blob_path(const struct oci_layout *l, const char *digest)
{
    if (!digest_valid(digest))
        return NULL;
    return xasprintf("%s/%s", l->blobs, digest_hex(digest));
}

static int bad_digest(const struct oci_layout *l, const char *digest, struct kiln_err *err)
{
    return kiln_errf(err, KILN_EINVAL, "layout '%s': '%.80s' is not a digest (sha256:<64 lowercase hex>)", l->dir,
                     digest ? digest : "(null)");
}

int oci_layout_blob_open(const struct oci_layout *l, const char *digest, int *fd, uint64_t *size,
                         struct kiln_err *err)
{
    *fd = -1;
    _cleanup_free_ char *p = oci_layout_blob_path(l, digest);
    if (!p)
        return bad_digest(l, digest, err);
    int f = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0) {
        if (errno == ENOENT)
            return kiln_errf(err, KILN_ENOTFOUND, "blob '%s' is missing from '%s'", digest, l->dir);
        if (errno == ELOOP)
            return kiln_errf(err, KILN_EVERIFY, "blob '%s' in '%s' is a symbolic link", digest, l->dir);
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open blob '%s' in '%s'", digest, l->dir);
    }
    struct stat sb;
    if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' in '%s' is not a regular file", digest, l->dir);
    }
    if (size)
        *size = (uint64_t)sb.st_size;
    *fd = f;
    return 0;
}

int oci_layout_blob_read(const struct oci_layout *l, const char *digest, int64_t size, size_t limit,
                         struct buf *out, struct kiln_err *err)
{
    if (!limit)
        limit = OCI_LAYOUT_DOC_LIMIT;
    _cleanup_close_ int fd = -1;
    uint64_t fsize;
    int r = oci_layout_blob_open(l, digest, &fd, &fsize, err);
    if (r < 0)
        return r;
    if (size >= 0 && fsize != (uint64_t)size)
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' has %llu bytes, its descriptor says %lld", digest,
                         (unsigned long long)fsize, (long long)size);
    if (fsize > limit)
        return kiln_errf(err, KILN_EINVAL, "blob '%s' is larger than %zu bytes", digest, limit);
    size_t start = out->len;
    out->limit = start + limit;
    if ((r = buf_grow(out, (size_t)fsize, err)) < 0)
        return r;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kiln_errno(err, KILN_EFAIL, errno, "cannot read blob '%s'", digest);
        }
        if (n == 0)
            break;
        if ((r = buf_add(out, chunk, (size_t)n, err)) < 0)
            return kiln_err_prefix(err, "blob '%s'", digest);
    }
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(out->data + start, out->len - start, hex);
    if (strcmp(hex, digest_hex(digest)) != 0) {
        out->len = start;
        out->data[start] = '\0';
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' is corrupt: its content has digest 'sha256:%s'", digest, hex);
    }
    if (size >= 0 && out->len - start != (uint64_t)size) {
        out->len = start;
        out->data[start] = '\0';
        return kiln_errf(err, KILN_EVERIFY, "blob '%s' changed size while it was read", digest);
    }
    return 0;
}

int oci_layout_manifest_read(const struct oci_layout *l, const char *digest, int64_t size,
                             struct oci_manifest **out, struct kiln_err *err)
{
    *out = NULL;
    struct buf b;
    buf_init(&b, 0);
    int r = oci_layout_blob_read(l, digest, size, OCI_LAYOUT_DOC_LIMIT, &b, err);
    if (r == 0) {
        _cleanup_free_ char *what = xasprintf("manifest '%s'", digest);
        r = parse_doc(b.data, b.len, what, out, err);
    }
    buf_release(&b);
    return r;
}

/* ---- images ------------------------------------------------------------ */

int oci_layout_resolve_image(const struct oci_layout *l, const char *ref, const char *os, const char *arch,
                             struct oci_desc *desc_out, struct oci_manifest **out, struct kiln_err *err)
{
    if (desc_out)
        memset(desc_out, 0, sizeof(*desc_out));
    if (out)
        *out = NULL;
    if (!os) {
        os = OCI_DEFAULT_OS;
        arch = OCI_DEFAULT_ARCH;
    }
    struct oci_index *ix = NULL;
    int r = oci_layout_index(l, &ix, err);
    if (r < 0)
        return r;
    const struct oci_desc *d;
    if ((r = oci_index_resolve(ix, ref, &d, err)) < 0) {
        oci_index_free(ix);
        return kiln_err_prefix(err, "layout '%s'", l->dir);
    }
    struct oci_desc cur;
    oci_desc_copy(&cur, d);
    oci_index_free(ix);
    for (int depth = 0;; depth++) {
        struct oci_manifest *m = NULL;
        if ((r = oci_layout_manifest_read(l, cur.digest, cur.size, &m, err)) < 0)
            break;
        if (strcmp(m->media_type, cur.media_type) != 0) {
            r = kiln_errf(err, KILN_EINVAL, "manifest '%s' has media type '%s' but is listed as '%s'", cur.digest,
                          m->media_type, cur.media_type);
            oci_manifest_free(m);
            break;
        }
        if (m->kind == OCI_KIND_MANIFEST) {
            if (desc_out)
                *desc_out = cur;
            else
                oci_desc_release(&cur);
            if (out)
                *out = m;
            else
                oci_manifest_free(m);
            return 0;
        }
        const struct oci_desc *pick = NULL;
        if (depth >= RESOLVE_MAX_DEPTH)
            r = kiln_errf(err, KILN_EINVAL, "index '%s' is nested more than %d levels deep", cur.digest,
                          RESOLVE_MAX_DEPTH);
        else if ((r = oci_descs_pick_platform(m->descs, m->n_descs, os, arch, &pick, err)) < 0)
            kiln_err_prefix(err, "image '%s'", ref);
        if (r < 0) {
            oci_manifest_free(m);
            break;
        }
        oci_desc_release(&cur);
        oci_desc_copy(&cur, pick);
        oci_manifest_free(m);
    }
    oci_desc_release(&cur);
    return r;
}

/* Reads the manifest d names: *refers = 1 when its `subject` is subject,
 * *at = its artifact type as the OCI referrers API gives it (artifactType,
 * else the config's media type; caller-owned).  Nothing when it does not read. */
static void manifest_referrer_info(const struct oci_layout *l, const struct oci_desc *d, const char *subject,
                                   int *refers, char **at)
{
    *refers = 0;
    *at = NULL;
    struct oci_manifest *m = NULL;
    if (oci_layout_manifest_read(l, d->digest, d->size, &m, NULL) < 0)
        return;
    *refers = m->subject && strcmp(m->subject->digest, subject) == 0;
    if (m->artifact_type)
        *at = xstrdup(m->artifact_type);
    else if (m->kind == OCI_KIND_MANIFEST)
        *at = xstrdup(m->config.media_type);
    oci_manifest_free(m);
}

int oci_layout_referrers(const struct oci_layout *l, const struct oci_index *ix, const char *subject,
                         const char *artifact_type, struct oci_desc **out, size_t *n, struct kiln_err *err)
{
    *out = NULL;
    *n = 0;
    if (!digest_valid(subject))
        return kiln_errf(err, KILN_EINVAL, "subject '%.80s' is not a digest (sha256:<64 lowercase hex>)",
                         subject ? subject : "(null)");
    struct oci_desc *v = xcalloc(ix->n_manifests + 1, sizeof(*v));
    size_t cnt = 0;
    for (size_t i = 0; i < ix->n_manifests; i++) {
        const struct oci_desc *d = &ix->manifests[i];
        const char *subj = oci_desc_annotation(d, KILN_ANN_SUBJECT);
        char *manifest_at = NULL;
        int refers = 0;
        if (subj) {
            if (strcmp(subj, subject) != 0)
                continue;
            if (!d->artifact_type && oci_media_type_is_manifest(d->media_type))
                manifest_referrer_info(l, d, subject, &refers, &manifest_at);
        } else {
            if (oci_desc_annotation(d, OCI_ANN_REF_NAME) || !oci_media_type_is_manifest(d->media_type))
                continue;
            manifest_referrer_info(l, d, subject, &refers, &manifest_at);
            if (!refers) {
                free(manifest_at);
                continue;
            }
        }
        const char *at = d->artifact_type ? d->artifact_type : manifest_at;
        if (artifact_type && (!at || strcmp(at, artifact_type) != 0)) {
            free(manifest_at);
            continue;
        }
        oci_desc_copy(&v[cnt], d);
        if (!v[cnt].artifact_type)
            v[cnt].artifact_type = manifest_at;
        else
            free(manifest_at);
        cnt++;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int oci_layout_image_files(const struct oci_layout *l, const struct oci_desc *image, json_t **out,
                           struct kiln_err *err)
{
    *out = NULL;
    struct oci_manifest *top = NULL;
    int r = oci_layout_manifest_read(l, image->digest, image->size, &top, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *files = top->files_digest ? xstrdup(top->files_digest) : NULL;
    if (!files && top->kind == OCI_KIND_INDEX) {
        const struct oci_desc *pick = NULL;
        if (oci_descs_pick_platform(top->descs, top->n_descs, OCI_DEFAULT_OS, OCI_DEFAULT_ARCH, &pick, NULL) < 0)
            oci_descs_pick_platform(top->descs, top->n_descs, NULL, NULL, &pick, NULL);
        struct oci_manifest *m = NULL;
        if (pick && (r = oci_layout_manifest_read(l, pick->digest, pick->size, &m, err)) < 0) {
            oci_manifest_free(top);
            return r;
        }
        if (m && m->files_digest)
            files = xstrdup(m->files_digest);
        oci_manifest_free(m);
    }
    oci_manifest_free(top);
    if (!files)
        return 0; /* none: *out stays NULL */
    struct buf b;
    buf_init(&b, 0);
    if ((r = oci_layout_blob_read(l, files, -1, OCI_LAYOUT_FILES_LIMIT, &b, err)) < 0) {
        buf_release(&b);
        return kiln_err_prefix(err, "file manifest");
    }
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    buf_release(&b);
    if (!json_is_array(json_object_get(j, "files"))) {
        json_decref(j);
        return kiln_errf(err, KILN_EINVAL, "file manifest '%s' has no \"files\" array", files);
    }
    *out = j;
    return 0;
}
