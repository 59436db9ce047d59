/* attest.c - in-toto Statement v1 attestations of an image (provenance,
 * SBOMs), stored and read back.
 *
 * An attestation is an artifact whose subject is the image: layer 0 the
 * statement (application/vnd.in-toto+json, canonical JSON: compact, sorted
 * keys) and, when a key is given, layer 1 the raw signature over the
 * statement bytes, made and checked exactly like an image signature.  Each
 * kind has its own artifactType (SIGNING_AT_PROVENANCE, SIGNING_AT_SBOM_*),
 * so the store's referrers list finds it without reading it. */
#include "signing/signing.h"

#include <string.h>

#include "common/common.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

json_t *signing_attestation_statement(const char *name, const char *version, const char *digest,
                                      const char *predicate_type, json_t *predicate)
{
    _cleanup_free_ char *subject_name = version ? xasprintf("%s:%s", name, version) : xstrdup(name ? name : "");
    const char *hex = digest && strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
    return json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:O}", "_type", "https://in-toto.io/Statement/v1", "subject",
                     "name", subject_name, "digest", "sha256", hex ? hex : "", "predicateType", predicate_type,
                     "predicate", predicate);
}

int signing_statement_put(struct store *st, const struct oci_desc *subject, const char *artifact_type, json_t *stmt,
                          const struct signing_key *key, struct signing_made *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_free_ char *text = stmt ? json_dumps(stmt, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!text)
        return kiln_errf(err, KILN_EINVAL, "cannot encode the statement");
    size_t len = strlen(text);
    /* What verify and pull read of a statement: a larger one could be stored but never checked. */
    if (len > SIGNING_STATEMENT_LIMIT)
        return kiln_errf(err, KILN_EINVAL, "the statement is %zu bytes, more than the %u an attestation may hold", len,
                         SIGNING_STATEMENT_LIMIT);
    _cleanup_free_ char *created = key ? signing_now_rfc3339() : NULL;
    _cleanup_free_ unsigned char *sig = NULL;
    size_t sig_len = 0;
    int r = key ? signing_sign_bytes(key, text, len, &sig, &sig_len, err) : 0;
    if (r == 0)
        r = signing_artifact_put(st, subject, artifact_type, SIGNING_MT_INTOTO, text, len, sig, sig_len, key, created,
                                 out, err);
    return r;
}

int signing_attestation_put(struct store *st, const struct oci_desc *subject, const char *name, const char *version,
                            const char *artifact_type, const char *predicate_type, json_t *predicate,
                            const struct signing_key *key, struct signing_made *out, struct kiln_err *err)
{
    json_t *stmt = signing_attestation_statement(name, version, subject->digest, predicate_type, predicate);
    int r = signing_statement_put(st, subject, artifact_type, stmt, key, out, err);
    json_decref(stmt);
    if (r < 0)
        kiln_err_prefix(err, "attestation '%s'", predicate_type);
    return r;
}

/* Reads one attestation into a result object; never fails (errors go in "error"). */
static json_t *read_one(struct store *st, const struct oci_desc *d, const char *artifact_type,
                        const char *predicate_type, const char *digest, struct signing_pubkey *const *keys,
                        size_t n_keys)
{
    struct signing_artifact a;
    struct kiln_err e = KILN_ERR_INIT;
    json_t *res = json_object();
    json_object_set_new(res, "artifact", json_string(d->digest));
    json_object_set_new(res, "signed", json_false());
    if (signing_artifact_read(st, d, artifact_type, SIGNING_MT_INTOTO, SIGNING_STATEMENT_LIMIT, digest, &a, &e) < 0) {
        json_object_set_new(res, "error", json_string(e.msg));
        return res;
    }
    json_error_t je;
    json_t *stmt = json_loadb(a.payload.data, a.payload.len, JSON_REJECT_DUPLICATES, &je);
    const char *sub = json_string_value(
        json_object_get(json_object_get(json_array_get(json_object_get(stmt, "subject"), 0), "digest"), "sha256"));
    const char *pt = json_string_value(json_object_get(stmt, "predicateType"));
    if (!json_is_object(stmt) || !sub || strcmp(sub, digest + 7) != 0)
        json_object_set_new(res, "error", json_string("the statement does not name this image"));
    else if (predicate_type && (!pt || strcmp(pt, predicate_type) != 0))
        json_object_set_new(res, "error", json_string("the statement's predicateType is not the artifact's"));
    else
        json_object_set(res, "statement", stmt);
    json_decref(stmt);
    json_object_set_new(res, "signed", json_boolean(a.has_sig));
    const char *kid = json_string_value(json_object_get(a.m->annotations, SIGNING_ANN_KEY_ID));
    if (a.has_sig && kid)
        json_object_set_new(res, "keyId", json_string(kid));
    if (a.has_sig && n_keys) {
        int verified = 0, trusted = 0;
        /* The key ID first, then the signature over the exact statement bytes. */
        for (size_t k = 0; k < n_keys && kid && !verified; k++)
            if (strcmp(signing_pubkey_id(keys[k]), kid) == 0) {
                trusted = 1;
                verified = signing_verify_bytes(keys[k], a.payload.data, a.payload.len, (unsigned char *)a.sig.data,
                                                a.sig.len, NULL) == 0;
            }
        json_object_set_new(res, "trusted", json_boolean(trusted));
        json_object_set_new(res, "verified", json_boolean(verified));
    }
    signing_artifact_release(&a);
    return res;
}

int signing_attestation_find(struct store *st, const char *digest, const char *artifact_type,
                             const char *predicate_type, const char *subject_name, struct signing_pubkey *const *keys,
                             size_t n_keys, json_t **out, struct kiln_err *err)
{
    *out = NULL;
    struct oci_desc *refs = NULL;
    size_t n = 0;
    int r = store_referrers(st, digest, artifact_type, &refs, &n, err);
    if (r < 0)
        return r;
    /* One image (digest) may have been built more than once, under several
     * versions: prefer the statement naming subject_name, then one verified
     * by a given key, then a signed one, then the newest (listed last). */
    int best = -1;
    for (size_t i = 0; i < n && i < SIGNING_MAX_SIGNATURES; i++) {
        json_t *res = read_one(st, &refs[i], artifact_type, predicate_type, digest, keys, n_keys);
        const char *name = json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(res, "statement"), "subject"), 0), "name"));
        int score = (json_object_get(res, "statement") ? 8 : 0) +
                    (subject_name && name && strcmp(name, subject_name) == 0 ? 4 : 0) +
                    (json_is_true(json_object_get(res, "verified")) ? 2 : 0) +
                    (json_is_true(json_object_get(res, "signed")) ? 1 : 0);
        if (score >= best) {
            best = score;
            json_decref(*out);
            *out = res;
        } else {
            json_decref(res);
        }
    }
    oci_desc_list_free(refs, n);
    return 0;
}

int signing_attestations_check(struct store *st, const char *digest, const char *artifact_type,
                               const char *predicate_type, struct signing_pubkey *const *keys, size_t n_keys,
                               json_t *rep, struct kiln_err *err)
{
    struct oci_desc *refs = NULL;
    size_t n = 0;
    int r = store_referrers(st, digest, artifact_type, &refs, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && i < SIGNING_MAX_SIGNATURES; i++) {
        json_t *res = read_one(st, &refs[i], artifact_type, predicate_type, digest, keys, n_keys);
        json_t *stmt = json_object_get(res, "statement");
        json_t *sum = json_pack("{s:O, s:s, s:O}", "artifact", json_object_get(res, "artifact"), "predicateType",
                                predicate_type, "signed", json_object_get(res, "signed"));
        static const char *const copy[] = { "keyId", "trusted", "verified", "error" };
        for (size_t k = 0; k < ARRAY_SIZE(copy); k++)
            if (json_object_get(res, copy[k]))
                json_object_set(sum, copy[k], json_object_get(res, copy[k]));
        if (stmt)
            json_object_set(sum, "subject", json_array_get(json_object_get(stmt, "subject"), 0));
        const char *e = json_string_value(json_object_get(res, "error"));
        if (r == 0 && e)
            r = kiln_errf(err, KILN_EVERIFY, "attestation '%s' (%s): %s", refs[i].digest, predicate_type, e);
        else if (r == 0 && json_is_true(json_object_get(res, "trusted")) &&
                 !json_is_true(json_object_get(res, "verified")))
            r = kiln_errf(err, KILN_EVERIFY, "attestation '%s' (%s): bad signature by trusted key '%s'",
                          refs[i].digest, predicate_type, json_string_value(json_object_get(res, "keyId")));
        json_array_append_new(rep, sum);
        json_decref(res);
    }
    oci_desc_list_free(refs, n);
    return r;
}
