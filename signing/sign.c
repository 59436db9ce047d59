/* sign.c - the signature payload and signature artifacts.
 *
 * A signature is an OCI 1.1 artifact manifest:
 *   artifactType  application/vnd.dev.kiln.signature.v1
 *   subject       the image (manifest or index) descriptor
 *   config        the empty descriptor ("{}")
 *   layers[0]     the payload: canonical JSON naming the image and the key
 *   layers[1]     the raw signature over the payload bytes (DER ECDSA or
 *                 64-byte Ed25519)
 * Both layers are plain blobs, so `openssl dgst -verify` / `openssl pkeyutl
 * -verify` run on blobs/sha256/<hex> as they are. */
#include "signing/signing.h"

#include <string.h>
#include <time.h>

#include "common/common.h"
#include "common/hash.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/timefmt.h"
#include "common/banned.h"

char *signing_now_rfc3339(void)
{
    char s[RFC3339_SIZE];
    rfc3339_format((int64_t)time(NULL), s);
    return xstrdup(s);
}

/* ---- payload ------------------------------------------------------------------ */

char *signing_payload_make(const struct signing_payload *p)
{
    json_t *img = json_pack("{s:s, s:s, s:I}", "digest", p->digest, "mediaType", p->media_type,
                            "size", (json_int_t)p->size);
    if (!img)
        return NULL;
    if (p->name)
        json_object_set_new(img, "name", json_string(p->name));
    if (p->version)
        json_object_set_new(img, "version", json_string(p->version));
    json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:s}", "algorithm", p->algorithm, "created", p->created,
                          "image", img, "keyId", p->key_id, "type", p->type ? p->type : SIGNING_PAYLOAD_TYPE);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

void signing_payload_release(struct signing_payload *p)
{
    free(p->type);
    free(p->name);
    free(p->version);
    free(p->digest);
    free(p->media_type);
    free(p->key_id);
    free(p->algorithm);
    free(p->created);
    memset(p, 0, sizeof(*p));
}

static int is_digest(const char *s)
{
    return s && strncmp(s, "sha256:", 7) == 0 && hash_is_hex(s + 7);
}

/* A string member of o, copied; NULL when absent (optional) or an error. */
static int get_str(json_t *o, const char *key, int required, char **out, struct kiln_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return kiln_errf(err, KILN_EINVAL, "signature payload has no '%s'", key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return kiln_errf(err, KILN_EINVAL, "signature payload: '%s' is not a valid string", key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

int signing_payload_parse(const void *data, size_t len, struct signing_payload *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > SIGNING_PAYLOAD_LIMIT)
        return kiln_errf(err, KILN_EINVAL, "signature payload is larger than %u bytes", SIGNING_PAYLOAD_LIMIT);
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return kiln_errf(err, KILN_EINVAL, "signature payload is not JSON: %s", je.text);
    int r = 0;
    json_t *img = json_object_get(j, "image");
    if (!json_is_object(j) || !json_is_object(img)) {
        r = kiln_errf(err, KILN_EINVAL, "signature payload names no image");
        goto out;
    }
    if ((r = get_str(j, "type", 1, &out->type, err)) < 0 || (r = get_str(j, "keyId", 1, &out->key_id, err)) < 0 ||
        (r = get_str(j, "algorithm", 1, &out->algorithm, err)) < 0 ||
        (r = get_str(j, "created", 1, &out->created, err)) < 0 ||
        (r = get_str(img, "digest", 1, &out->digest, err)) < 0 ||
        (r = get_str(img, "mediaType", 1, &out->media_type, err)) < 0 ||
        (r = get_str(img, "name", 0, &out->name, err)) < 0 || (r = get_str(img, "version", 0, &out->version, err)) < 0)
        goto out;
    if (strcmp(out->type, SIGNING_PAYLOAD_TYPE) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "signature payload has type '%s', not '%s'", out->type, SIGNING_PAYLOAD_TYPE);
        goto out;
    }
    if (!is_digest(out->key_id) || !is_digest(out->digest)) {
        r = kiln_errf(err, KILN_EINVAL, "signature payload: 'keyId' or 'image.digest' is not sha256:<hex>");
        goto out;
    }
    if (strcmp(out->algorithm, SIGNING_ALG_ECDSA_P256) != 0 && strcmp(out->algorithm, SIGNING_ALG_ED25519) != 0) {
        r = kiln_errf(err, KILN_EINVAL, "signature payload: unsupported algorithm '%s'", out->algorithm);
        goto out;
    }
    json_t *size = json_object_get(img, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0) {
        r = kiln_errf(err, KILN_EINVAL, "signature payload: 'image.size' is not a size");
        goto out;
    }
    out->size = (long long)json_integer_value(size);
out:
    json_decref(j);
    if (r < 0)
        signing_payload_release(out);
    return r;
}

/* ---- artifacts ------------------------------------------------------------------- */

int signing_subject_desc(struct store *st, const char *digest, struct oci_desc *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    struct buf b;
    buf_init(&b, 0);
    int r = store_blob_read(st, digest, STORE_MANIFEST_LIMIT, &b, err);
    struct oci_manifest *m = NULL;
    if (r == 0 && (r = oci_manifest_parse(b.data, b.len, &m, err)) < 0)
        kiln_err_prefix(err, "image '%s'", digest);
    if (r == 0) {
        out->media_type = xstrdup(m->media_type);
        out->digest = xstrdup(digest);
        out->size = (int64_t)b.len;
    }
    oci_manifest_free(m);
    buf_release(&b);
    return r;
}

static json_t *desc_json(const char *mt, const char *digest, uint64_t size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)size);
}

void signing_made_release(struct signing_made *m)
{
    json_decref(m->annotations);
    memset(m, 0, sizeof(*m));
}

int signing_artifact_put(struct store *st, const struct oci_desc *subject, const char *artifact_type,
                         const char *payload_mt, const void *payload, size_t payload_len, const unsigned char *sig,
                         size_t sig_len, const struct signing_key *key, const char *created,
                         struct signing_made *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    char empty[DIGEST_STR_SIZE], pd[DIGEST_STR_SIZE], sd[DIGEST_STR_SIZE];
    int r;
    if ((r = store_blob_put(st, "{}", 2, empty, err)) < 0 ||
        (r = store_blob_put(st, payload, payload_len, pd, err)) < 0)
        return r;
    json_t *layers = json_array();
    json_array_append_new(layers, desc_json(payload_mt, pd, payload_len));
    json_t *ann = json_object();
    if (created)
        json_object_set_new(ann, OCI_ANN_CREATED, json_string(created));
    if (sig) {
        if ((r = store_blob_put(st, sig, sig_len, sd, err)) < 0) {
            json_decref(layers);
            json_decref(ann);
            return r;
        }
        json_array_append_new(layers, desc_json(SIGNING_MT_RAWSIG, sd, sig_len));
        json_object_set_new(ann, SIGNING_ANN_KEY_ID, json_string(signing_key_id(key)));
        json_object_set_new(ann, SIGNING_ANN_ALGORITHM, json_string(signing_key_algorithm(key)));
    }
    json_t *m = json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
                          "artifactType", artifact_type, "config", desc_json(OCI_MT_EMPTY, empty, 2), "layers",
                          layers, "subject", desc_json(subject->media_type, subject->digest, (uint64_t)subject->size),
                          "annotations", ann);
    if (!m)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    _cleanup_free_ char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *entry_ann = json_deep_copy(json_object_get(m, "annotations"));
    json_decref(m);
    if (!text || !entry_ann) {
        json_decref(entry_ann);
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    }
    size_t len = strlen(text);
    if ((r = store_blob_put(st, text, len, out->digest, err)) < 0) {
        json_decref(entry_ann);
        return r;
    }
    out->size = len;
    out->artifact_type = artifact_type;
    out->annotations = entry_ann;
    return 0;
}

int signing_made_list(struct store_txn *t, const char *subject_digest, const struct signing_made *m,
                      struct kiln_err *err)
{
    return store_txn_add_referrer(t, subject_digest, m->digest, OCI_MT_MANIFEST, m->artifact_type, m->size,
                                  m->annotations, err);
}

int signing_made_attach(struct store *st, const char *subject_digest, const struct signing_made *m,
                         struct kiln_err *err)
{
    return store_referrer_add(st, subject_digest, m->digest, OCI_MT_MANIFEST, m->artifact_type, m->size,
                              m->annotations, err);
}

void signing_artifact_release(struct signing_artifact *a)
{
    oci_manifest_free(a->m);
    buf_release(&a->payload);
    buf_release(&a->sig);
    memset(a, 0, sizeof(*a));
}

int signing_artifact_check(const struct oci_manifest *m, const char *artifact_type, const char *payload_mt,
                           const char *subject_digest, struct kiln_err *err)
{
    if (m->kind != OCI_KIND_MANIFEST || !m->artifact_type || strcmp(m->artifact_type, artifact_type) != 0)
        return kiln_errf(err, KILN_EVERIFY, "not of type '%s'", artifact_type);
    if (!m->subject || strcmp(m->subject->digest, subject_digest) != 0)
        return kiln_errf(err, KILN_EVERIFY, "is for another image ('%s')", m->subject ? m->subject->digest : "none");
    if (m->n_descs < 1 || m->n_descs > 2 || strcmp(m->descs[0].media_type, payload_mt) != 0 ||
        (m->n_descs == 2 && strcmp(m->descs[1].media_type, SIGNING_MT_RAWSIG) != 0))
        return kiln_errf(err, KILN_EVERIFY, "does not have the layers of a '%s'", artifact_type);
    if (m->descs[0].size < 0 || (m->n_descs == 2 && (m->descs[1].size <= 0 || m->descs[1].size > SIGNING_SIG_LIMIT)))
        return kiln_errf(err, KILN_EVERIFY, "has a payload or signature of an impossible size");
    return 0;
}

/* The bytes of the held blob `d` names, hashed against it, into out. */
static int held_take(const struct signing_held_artifact *h, const struct oci_desc *d, size_t limit, struct buf *out,
                     struct kiln_err *err)
{
    for (size_t i = 0; i < h->n_blobs; i++) {
        const struct signing_held_blob *b = &h->blobs[i];
        if (strcmp(b->digest, d->digest) != 0)
            continue;
        char hex[HASH_HEX_LEN + 1];
        hash_sha256_hex(b->data, b->len, hex);
        if (strcmp(hex, digest_hex(d->digest)) != 0)
            return kiln_errf(err, KILN_EVERIFY, "blob '%s' does not match its digest", d->digest);
        if (b->len > limit)
            return kiln_errf(err, KILN_EVERIFY, "blob '%s' is larger than %zu bytes", d->digest, limit);
        return buf_add(out, b->data, b->len, err);
    }
    return kiln_errf(err, KILN_EVERIFY, "blob '%s' is missing", d->digest);
}

/* Layer i of the artifact (payload or signature), from the store or from h,
 * checked against its descriptor. */
static int layer_read(struct store *st, const struct signing_held_artifact *h, const char *art,
                      const struct oci_desc *d, size_t limit, struct buf *out, struct kiln_err *err)
{
    int r = h ? held_take(h, d, limit, out, err) : store_blob_read(st, d->digest, limit, out, err);
    if (r == 0 && out->len != (size_t)d->size)
        r = kiln_errf(err, KILN_EVERIFY, "artifact '%s': %s size differs from its descriptor", art,
                      strcmp(d->media_type, SIGNING_MT_RAWSIG) ? "payload" : "signature");
    return r;
}

/* The rest of reading an artifact whose manifest out->m is parsed (from st,
 * or held in h): its shape, its payload and its signature.  On failure out
 * is released and the code is KILN_EVERIFY (or KILN_ENOMEM). */
static int artifact_finish(struct store *st, const struct signing_held_artifact *h, const char *art,
                           const char *artifact_type, const char *payload_mt, size_t payload_limit,
                           const char *subject_digest, int r, struct signing_artifact *out, struct kiln_err *err)
{
    struct oci_manifest *m = out->m;
    if (r == 0 && (r = signing_artifact_check(m, artifact_type, payload_mt, subject_digest, err)) < 0)
        kiln_err_prefix(err, "artifact '%s'", art);
    if (r == 0)
        r = layer_read(st, h, art, &m->descs[0], payload_limit, &out->payload, err);
    if (r == 0 && m->n_descs == 2) {
        r = layer_read(st, h, art, &m->descs[1], SIGNING_SIG_LIMIT, &out->sig, err);
        out->has_sig = r == 0;
    }
    if (r == 0)
        return 0;
    if (r != KILN_ENOMEM)
        r = KILN_EVERIFY;
    if (err)
        err->code = r;
    signing_artifact_release(out);
    return r;
}

int signing_artifact_read(struct store *st, const struct oci_desc *d, const char *artifact_type,
                          const char *payload_mt, size_t payload_limit, const char *subject_digest,
                          struct signing_artifact *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    buf_init(&out->payload, 0);
    buf_init(&out->sig, 0);
    int r = store_manifest_read(st, d->digest, d->size, &out->m, err);
    return artifact_finish(st, NULL, d->digest, artifact_type, payload_mt, payload_limit, subject_digest, r, out,
                           err);
}

int signing_artifact_from_held(const struct signing_held_artifact *h, const char *artifact_type,
                               const char *payload_mt, size_t payload_limit, const char *subject_digest,
                               struct signing_artifact *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    buf_init(&out->payload, 0);
    buf_init(&out->sig, 0);
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(h->manifest, h->manifest_len, hex);
    int r = 0;
    if (!digest_valid(h->digest) || strcmp(hex, digest_hex(h->digest)) != 0)
        r = kiln_errf(err, KILN_EVERIFY, "artifact '%s' does not match its digest", h->digest);
    else if (h->manifest_len > STORE_MANIFEST_LIMIT)
        r = kiln_errf(err, KILN_EVERIFY, "artifact '%s' is larger than %u bytes", h->digest, STORE_MANIFEST_LIMIT);
    else
        r = oci_manifest_parse(h->manifest, h->manifest_len, &out->m, err);
    if (r == 0 && (!out->m->artifact_type || strcmp(out->m->artifact_type, artifact_type) != 0)) {
        signing_artifact_release(out);
        return 1;
    }
    return artifact_finish(NULL, h, h->digest, artifact_type, payload_mt, payload_limit, subject_digest, r, out, err);
}

/* ---- signing an image ------------------------------------------------------------ */

int signing_signature_put(struct store *st, const struct oci_desc *subject, const char *name,
                          const char *version, const struct signing_key *key, struct signing_made *out,
                          struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_free_ char *created = signing_now_rfc3339();
    struct signing_payload p = {
        .type = (char *)SIGNING_PAYLOAD_TYPE,
        .name = (char *)name,
        .version = (char *)version,
        .digest = subject->digest,
        .media_type = subject->media_type,
        .size = (long long)subject->size,
        .key_id = (char *)signing_key_id(key),
        .algorithm = (char *)signing_key_algorithm(key),
        .created = created,
    };
    _cleanup_free_ char *payload = signing_payload_make(&p);
    _cleanup_free_ unsigned char *sig = NULL;
    size_t sig_len = 0;
    int r;
    if (!payload)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    if ((r = signing_sign_bytes(key, payload, strlen(payload), &sig, &sig_len, err)) < 0)
        return r;
    return signing_artifact_put(st, subject, SIGNING_AT_SIGNATURE, SIGNING_MT_PAYLOAD, payload, strlen(payload), sig,
                                sig_len, key, created, out, err);
}

int signing_sign_image_ex(struct store *st, const char *name, const char *version, const char *digest,
                          const struct signing_key *key, char sig_digest[SIGNING_KEY_ID_SIZE],
                          struct kiln_err *err)
{
    struct oci_desc subject;
    int r = signing_subject_desc(st, digest, &subject, err);
    if (r < 0)
        return r;
    struct signing_made made;
    if ((r = signing_signature_put(st, &subject, name, version, key, &made, err)) == 0) {
        r = signing_made_attach(st, subject.digest, &made, err);
        if (r == 0 && sig_digest)
            snprintf(sig_digest, SIGNING_KEY_ID_SIZE, "%s", made.digest);
        signing_made_release(&made);
    }
    oci_desc_release(&subject);
    return r;
}

int signing_sign_image(struct store *st, const char *name, const char *version, const char *digest,
                       const struct signing_key *key, struct kiln_err *err)
{
    return signing_sign_image_ex(st, name, version, digest, key, NULL, err);
}
