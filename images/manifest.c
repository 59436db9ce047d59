/* manifest.c - OCI descriptors, image manifests and image indexes (jansson). */
#include "images/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "images/ref.h"
#include "common/banned.h"

/* Media types are RFC 6838 names: bounded and printable. */
static int media_type_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || !strchr(s, '/'))
        return 0;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~')
            return 0;
    return 1;
}

int oci_media_type_is_manifest(const char *mt)
{
    return mt && strcmp(mt, OCI_MT_MANIFEST) == 0;
}

int oci_media_type_is_index(const char *mt)
{
    return mt && strcmp(mt, OCI_MT_INDEX) == 0;
}

void oci_desc_release(struct oci_desc *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->digest);
    free(d->artifact_type);
    free(d->platform_os);
    free(d->platform_arch);
    json_decref(d->annotations);
    memset(d, 0, sizeof(*d));
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void oci_desc_copy(struct oci_desc *dst, const struct oci_desc *src)
{
    dst->media_type = dup_or_null(src->media_type);
    dst->digest = dup_or_null(src->digest);
    dst->size = src->size;
    dst->artifact_type = dup_or_null(src->artifact_type);
    dst->annotations = src->annotations ? json_deep_copy(src->annotations) : NULL;
    dst->platform_os = dup_or_null(src->platform_os);
    dst->platform_arch = dup_or_null(src->platform_arch);
}

static int by_size_desc(const void *a, const void *b)
{
    const struct oci_desc *x = a, *y = b;
    return (x->size < y->size) - (x->size > y->size);
}

void oci_desc_sort_largest_first(struct oci_desc *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), by_size_desc);
}

const char *oci_desc_annotation(const struct oci_desc *d, const char *key)
{
    if (!d || !d->annotations)
        return NULL;
    return json_string_value(json_object_get(d->annotations, key));
}

static int check_annotations(json_t *a, const char *what, struct kiln_err *err)
{
    if (!json_is_object(a))
        return kiln_errf(err, KILN_EINVAL, "%s: 'annotations' is not an object", what);
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v) {
        if (!json_is_string(v))
            return kiln_errf(err, KILN_EINVAL, "%s: annotation '%s' is not a string", what, k);
    }
    return 0;
}

int oci_desc_parse(json_t *j, const char *what, struct oci_desc *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j))
        return kiln_errf(err, KILN_EINVAL, "%s: descriptor is not an object", what);
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (!mt || !media_type_ok(mt))
        return kiln_errf(err, KILN_EINVAL, "%s: descriptor has no valid 'mediaType'", what);
    json_t *dj = json_object_get(j, "digest");
    const char *dg = json_string_value(dj);
    if (!dg)
        return kiln_errf(err, KILN_EINVAL, "%s: descriptor has no 'digest'", what);
    if (!digest_valid(dg))
        return kiln_errf(err, KILN_EINVAL, "%s: digest '%.80s' is not sha256:<64 lowercase hex>", what, dg);
    json_t *sz = json_object_get(j, "size");
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return kiln_errf(err, KILN_EINVAL, "%s: descriptor 'size' is missing or negative", what);
    json_t *at = json_object_get(j, "artifactType");
    if (at && (!json_is_string(at) || !media_type_ok(json_string_value(at))))
        return kiln_errf(err, KILN_EINVAL, "%s: 'artifactType' is not a media type", what);
    json_t *ann = json_object_get(j, "annotations");
    int r;
    if (ann && (r = check_annotations(ann, what, err)) < 0)
        return r;
    json_t *plat = json_object_get(j, "platform");
    if (plat && !json_is_object(plat))
        return kiln_errf(err, KILN_EINVAL, "%s: 'platform' is not an object", what);
    out->media_type = xstrdup(mt);
    out->digest = xstrdup(dg);
    out->size = (int64_t)json_integer_value(sz);
    out->artifact_type = dup_or_null(json_string_value(at));
    out->annotations = ann ? json_incref(ann) : NULL;
    if (plat) {
        out->platform_os = dup_or_null(json_string_value(json_object_get(plat, "os")));
        out->platform_arch = dup_or_null(json_string_value(json_object_get(plat, "architecture")));
    }
    return 0;
}

json_t *oci_desc_to_json(const struct oci_desc *d)
{
    json_t *j = json_object();
    json_object_set_new(j, "mediaType", json_string(d->media_type));
    json_object_set_new(j, "digest", json_string(d->digest));
    json_object_set_new(j, "size", json_integer(d->size < 0 ? 0 : d->size));
    if (d->artifact_type)
        json_object_set_new(j, "artifactType", json_string(d->artifact_type));
    if (d->annotations && json_object_size(d->annotations))
        json_object_set_new(j, "annotations", json_deep_copy(d->annotations));
    if (d->platform_os || d->platform_arch) {
        json_t *p = json_object();
        if (d->platform_arch)
            json_object_set_new(p, "architecture", json_string(d->platform_arch));
        if (d->platform_os)
            json_object_set_new(p, "os", json_string(d->platform_os));
        json_object_set_new(j, "platform", p);
    }
    return j;
}

void oci_manifest_free(struct oci_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    free(m->artifact_type);
    oci_desc_release(&m->config);
    for (size_t i = 0; i < m->n_descs; i++)
        oci_desc_release(&m->descs[i]);
    free(m->descs);
    if (m->subject) {
        oci_desc_release(m->subject);
        free(m->subject);
    }
    json_decref(m->annotations);
    free(m->files_digest);
    json_decref(m->json);
    free(m);
}

static int parse_descs(json_t *arr, const char *key, struct oci_manifest *m, struct kiln_err *err)
{
    if (!json_is_array(arr))
        return kiln_errf(err, KILN_EINVAL, "'%s' is missing or not an array", key);
    size_t n = json_array_size(arr);
    if (n > OCI_MAX_DESCS)
        return kiln_errf(err, KILN_EINVAL, "'%s' has %zu entries, more than %d", key, n, OCI_MAX_DESCS);
    m->descs = xcalloc(n ? n : 1, sizeof(*m->descs));
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "%s[%zu]", key, i);
        int r = oci_desc_parse(json_array_get(arr, i), what, &m->descs[i], err);
        if (r < 0)
            return r;
        m->n_descs = i + 1;
    }
    return 0;
}

int oci_manifest_parse(const void *data, size_t len, struct oci_manifest **out, struct kiln_err *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return kiln_errf(err, KILN_EINVAL, "not valid JSON: %s at line %d", jerr.text, jerr.line);
    return oci_manifest_from_json(j, out, err);
}

int oci_manifest_from_json(json_t *j, struct oci_manifest **out, struct kiln_err *err)
{
    *out = NULL;
    struct oci_manifest *m = xcalloc(1, sizeof(*m));
    m->json = j;
    int r;
    if (!json_is_object(j)) {
        r = kiln_errf(err, KILN_EINVAL, "not a JSON object");
        goto fail;
    }
    json_t *sv = json_object_get(j, "schemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        r = kiln_errf(err, KILN_EINVAL, "'schemaVersion' is not 2");
        goto fail;
    }
    if (json_object_get(j, "manifests") && (json_object_get(j, "layers") || json_object_get(j, "config"))) {
        r = kiln_errf(err, KILN_EINVAL, "document has both 'manifests' and 'layers' or 'config': neither an "
                                        "image manifest nor an index, refused as ambiguous (CVE-2021-41190)");
        goto fail;
    }
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (!mt) {
        r = kiln_errf(err, KILN_EINVAL, "'mediaType' is missing");
        goto fail;
    }
    m->media_type = xstrdup(mt);
    json_t *at = json_object_get(j, "artifactType");
    if (at) {
        if (!json_is_string(at) || !media_type_ok(json_string_value(at))) {
            r = kiln_errf(err, KILN_EINVAL, "'artifactType' is not a media type");
            goto fail;
        }
        m->artifact_type = xstrdup(json_string_value(at));
    }
    if (oci_media_type_is_manifest(mt)) {
        m->kind = OCI_KIND_MANIFEST;
        if ((r = oci_desc_parse(json_object_get(j, "config"), "config", &m->config, err)) < 0)
            goto fail;
        if ((r = parse_descs(json_object_get(j, "layers"), "layers", m, err)) < 0)
            goto fail;
    } else if (oci_media_type_is_index(mt)) {
        m->kind = OCI_KIND_INDEX;
        if ((r = parse_descs(json_object_get(j, "manifests"), "manifests", m, err)) < 0)
            goto fail;
    } else {
        r = kiln_errf(err, KILN_EINVAL, "media type '%.100s' is not an OCI image manifest or index", mt);
        goto fail;
    }
    json_t *subj = json_object_get(j, "subject");
    if (subj) {
        m->subject = xcalloc(1, sizeof(*m->subject));
        if ((r = oci_desc_parse(subj, "subject", m->subject, err)) < 0)
            goto fail;
    }
    json_t *ann = json_object_get(j, "annotations");
    if (ann) {
        if ((r = check_annotations(ann, "manifest", err)) < 0)
            goto fail;
        m->annotations = json_incref(ann);
        const char *files = json_string_value(json_object_get(ann, KILN_ANN_FILES));
        if (files) {
            if (!digest_valid(files)) {
                r = kiln_errf(err, KILN_EINVAL, "annotation '%s' is not a digest: '%.80s'", KILN_ANN_FILES, files);
                goto fail;
            }
            m->files_digest = xstrdup(files);
        }
    }
    *out = m;
    return 0;
fail:
    oci_manifest_free(m);
    return r;
}
