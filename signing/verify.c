/* verify.c - what `kiln verify` (and `kiln pull`, on what it fetched) checks, in order:
 *
 *   for each signature artifact whose subject is the image:
 *     1. its key ID is one of the trusted keys (compared before any crypto)
 *     2. the signature over the payload bytes is valid for that key
 *     3. the payload names exactly this image: digest, media type, size
 *        (and name and version when the caller asks)
 *   then every blob the image reaches is re-hashed, streamed, against its
 *   descriptor (manifests, configs, layers, dev.kiln.files, nested manifests).
 *
 * It passes when at least one trusted key signed exactly this image, no
 * trusted key revoked it (a revocation referrer, statement.c), and every
 * blob matches.  The report says what was checked and what failed. */
#include "signing/signing.h"

#include <string.h>

#include "common/common.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

static const struct signing_pubkey *find_key(const struct signing_verify_opts *o, const char *id)
{
    for (size_t i = 0; i < o->n_keys; i++)
        if (strcmp(signing_pubkey_id(o->keys[i]), id) == 0)
            return o->keys[i];
    return NULL;
}

/* Checks one signature artifact, already read (from the store or from
 * memory); fills rep; 0 when it is a valid signature by a trusted key over
 * exactly this image. */
static int check_signature(const struct signing_artifact *a, const char *art_digest, const char *digest,
                           const char *media_type, long long size, const struct signing_verify_opts *o, json_t *rep,
                           struct kiln_err *err)
{
    struct signing_payload p;
    if (!a->has_sig)
        return kiln_errf(err, KILN_EVERIFY, "signature '%s' has no signature blob", art_digest);
    int r = signing_payload_parse(a->payload.data, a->payload.len, &p, err);
    if (r < 0) {
        kiln_err_prefix(err, "signature '%s'", art_digest);
        return err ? (err->code = KILN_EVERIFY) : KILN_EVERIFY;
    }
    json_object_set_new(rep, "keyId", json_string(p.key_id));
    json_object_set_new(rep, "algorithm", json_string(p.algorithm));
    json_object_set_new(rep, "created", json_string(p.created));
    /* 1. the key ID, before any crypto */
    const struct signing_pubkey *k = find_key(o, p.key_id);
    json_object_set_new(rep, "trusted", json_boolean(k != NULL));
    if (!k) {
        r = kiln_errf(err, KILN_EVERIFY, "signature '%s' is by unknown key '%s'", art_digest, p.key_id);
        goto out;
    }
    if (strcmp(p.algorithm, signing_pubkey_algorithm(k)) != 0) {
        r = kiln_errf(err, KILN_EVERIFY, "signature '%s' says algorithm '%s' but key '%s' is %s", art_digest,
                      p.algorithm, p.key_id, signing_pubkey_algorithm(k));
        goto out;
    }
    /* 2. the signature over the exact payload bytes */
    if ((r = signing_verify_bytes(k, a->payload.data, a->payload.len, (const unsigned char *)a->sig.data, a->sig.len,
                                  err)) < 0) {
        kiln_err_prefix(err, "signature '%s'", art_digest);
        goto out;
    }
    /* 3. what the payload names */
    if (strcmp(p.digest, digest) != 0) {
        r = kiln_errf(err, KILN_EVERIFY, "signature '%s': payload names another image '%s'", art_digest, p.digest);
    } else if (strcmp(p.media_type, media_type) != 0 || p.size != size) {
        r = kiln_errf(err, KILN_EVERIFY, "signature '%s': payload names media type '%s' and size %lld, the image "
                      "is '%s', %lld bytes", art_digest, p.media_type, p.size, media_type, size);
    } else if (o->name && (!p.name || strcmp(p.name, o->name) != 0)) {
        r = kiln_errf(err, KILN_EVERIFY, "signature '%s': payload names image '%s', not '%s'", art_digest,
                      p.name ? p.name : "(none)", o->name);
    } else if (o->version && (!p.version || strcmp(p.version, o->version) != 0)) {
        r = kiln_errf(err, KILN_EVERIFY, "signature '%s': payload names version '%s', not '%s'", art_digest,
                      p.version ? p.version : "(none)", o->version);
    }
    if (p.name)
        json_object_set_new(rep, "name", json_string(p.name));
    if (p.version)
        json_object_set_new(rep, "version", json_string(p.version));
out:
    signing_payload_release(&p);
    return r;
}

/* The signatures looked at so far: how many, how many good, the error to report. */
struct tally {
    json_t *sigs, *signers;
    int good, seen;
    struct kiln_err first;
};

/* Records one signature's result (r from reading and checking it, e its error) in the report. */
static void tally_add(struct tally *t, const char *art_digest, int r, const struct kiln_err *e, json_t *s)
{
    t->seen++;
    json_object_set_new(s, "artifact", json_string(art_digest));
    json_object_set_new(s, "valid", json_boolean(r == 0));
    if (r == 0) {
        t->good++;
        json_array_append(t->signers, json_object_get(s, "keyId"));
    } else {
        json_object_set_new(s, "error", json_string(e->msg));
        /* Prefer reporting a failure by a trusted key over an unknown key's. */
        if (!t->first.code || (json_is_true(json_object_get(s, "trusted")) && !strstr(e->msg, "unknown key")))
            t->first = *e;
    }
    json_array_append_new(t->sigs, s);
}

/* 0 when a trusted key signed the image, else KILN_EVERIFY saying why not. */
static int tally_result(const struct tally *t, const char *digest, struct kiln_err *err)
{
    if (t->good)
        return 0;
    if (!t->seen)
        return kiln_errf(err, KILN_EVERIFY, "image '%s' has no signature", digest);
    if (t->seen == 1)
        return kiln_errf(err, KILN_EVERIFY, "%s", t->first.msg);
    return kiln_errf(err, KILN_EVERIFY, "no valid signature by a trusted key among %d (%s)", t->seen, t->first.msg);
}

static json_t *report_new(const char *digest, const char *media_type, long long size, struct tally *t)
{
    json_t *rep = json_pack("{s:s, s:s, s:I}", "digest", digest, "mediaType", media_type, "size", (json_int_t)size);
    t->sigs = json_array();
    t->signers = json_array();
    json_object_set_new(rep, "signatures", t->sigs);
    json_object_set_new(rep, "signers", t->signers);
    return rep;
}

int signing_verify_held(const struct signing_held_artifact *arts, size_t n, const char *digest,
                        const char *media_type, long long size, const struct signing_verify_opts *o,
                        json_t **report, struct kiln_err *err)
{
    struct tally t = { 0 };
    json_t *rep = report_new(digest, media_type, size, &t);
    *report = rep;
    for (size_t i = 0; i < n && t.seen < SIGNING_MAX_SIGNATURES; i++) {
        struct signing_artifact a;
        struct kiln_err e = KILN_ERR_INIT;
        int r = signing_artifact_from_held(&arts[i], SIGNING_AT_SIGNATURE, SIGNING_MT_PAYLOAD, SIGNING_PAYLOAD_LIMIT,
                                           digest, &a, &e);
        if (r == 1)
            continue; /* not a signature: provenance and other artifacts are no concern here */
        json_t *s = json_object();
        if (r < 0) {
            kiln_err_prefix(&e, "signature '%s'", arts[i].digest);
        } else {
            r = check_signature(&a, arts[i].digest, digest, media_type, size, o, s, &e);
            signing_artifact_release(&a);
        }
        tally_add(&t, arts[i].digest, r, &e, s);
    }
    int r = tally_result(&t, digest, err);
    json_object_set_new(rep, "verified", json_boolean(r == 0));
    return r;
}

struct walk_ctx {
    struct store *st;
    json_t *blobs;
    struct kiln_err first;
};

static const char *role_of(const struct oci_desc *d, const struct oci_desc *parent)
{
    if (!parent)
        return oci_media_type_is_index(d->media_type) ? "index" : "manifest";
    if (oci_media_type_is_manifest(d->media_type))
        return "manifest";
    if (oci_media_type_is_index(d->media_type))
        return "index";
    if (strcmp(d->media_type, KILN_MT_FILES) == 0)
        return "file manifest";
    if (strcmp(d->media_type, OCI_MT_CONFIG) == 0 || strcmp(d->media_type, OCI_MT_EMPTY) == 0)
        return "config";
    return "layer";
}

static int walk_blob(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)err;
    struct walk_ctx *w = ud;
    const char *role = role_of(d, parent);
    struct kiln_err e = KILN_ERR_INIT;
    int r = store_blob_verify(w->st, d->digest, d->size, &e);
    json_t *b = json_pack("{s:s, s:s, s:s, s:b}", "digest", d->digest, "mediaType", d->media_type, "role", role,
                          "ok", r == 0);
    if (d->size >= 0) /* the files blob's size is not written in the manifest */
        json_object_set_new(b, "size", json_integer(d->size));
    if (r < 0) {
        if (r == KILN_ENOTFOUND)
            kiln_errf(&e, KILN_EVERIFY, "missing blob '%s' (%s)", d->digest, role);
        else
            kiln_err_prefix(&e, "digest mismatch in %s", role);
        json_object_set_new(b, "error", json_string(e.msg));
        if (!w->first.code) {
            w->first = e;
            w->first.code = KILN_EVERIFY;
        }
    }
    json_array_append_new(w->blobs, b);
    /* A broken manifest cannot be walked into; the walk would fail on it. */
    return r < 0 && (oci_media_type_is_manifest(d->media_type) || oci_media_type_is_index(d->media_type)) ? 1 : 0;
}

int signing_verify_image(struct store *st, const char *digest, const char *media_type, long long size,
                         const struct signing_verify_opts *o, json_t **report, struct kiln_err *err)
{
    struct tally t = { 0 };
    json_t *rep = report_new(digest, media_type, size, &t);
    *report = rep;

    struct oci_desc *refs = NULL;
    size_t n = 0;
    int r = store_referrers(st, digest, NULL, &refs, &n, err);
    if (r < 0) {
        json_object_set_new(rep, "verified", json_false());
        return r;
    }
    for (size_t i = 0; i < n && t.seen < SIGNING_MAX_SIGNATURES; i++) {
        /* Only signatures; provenance and other artifacts are reported apart.
         * An entry without artifactType (a layout written by another tool)
         * has its manifest's (store_referrers); one whose manifest does not
         * read has none and is checked, so that the failure is reported. */
        if (refs[i].artifact_type && strcmp(refs[i].artifact_type, SIGNING_AT_SIGNATURE) != 0)
            continue;
        json_t *s = json_object();
        struct kiln_err e = KILN_ERR_INIT;
        struct signing_artifact a;
        int cr = signing_artifact_read(st, &refs[i], SIGNING_AT_SIGNATURE, SIGNING_MT_PAYLOAD, SIGNING_PAYLOAD_LIMIT,
                                       digest, &a, &e);
        if (cr < 0) {
            kiln_err_prefix(&e, "signature '%s'", refs[i].digest);
        } else {
            cr = check_signature(&a, refs[i].digest, digest, media_type, size, o, s, &e);
            signing_artifact_release(&a);
        }
        tally_add(&t, refs[i].digest, cr, &e, s);
    }
    oci_desc_list_free(refs, n);

    /* Every blob, streamed. */
    struct walk_ctx w = { .st = st, .blobs = json_array() };
    json_object_set_new(rep, "blobs", w.blobs);
    struct oci_desc root = { .media_type = (char *)media_type, .digest = (char *)digest, .size = size };
    struct kiln_err we = KILN_ERR_INIT;
    int wr = o->signatures_only ? 0 : store_walk(st, &root, 0, walk_blob, &w, &we);
    if (wr < 0 && !w.first.code) {
        w.first = we;
        w.first.code = KILN_EVERIFY;
    }

    json_t *prov = NULL;
    struct kiln_err pe = KILN_ERR_INIT;
    _cleanup_free_ char *subject_name = o->name && o->version ? xasprintf("%s:%s", o->name, o->version) : NULL;
    if (signing_provenance_find(st, digest, subject_name, o->keys, o->n_keys, &prov, &pe) == 0 && prov) {
        json_t *stmt = json_object_get(prov, "statement");
        json_t *summary = json_pack("{s:O, s:O}", "artifact", json_object_get(prov, "artifact"), "signed",
                                    json_object_get(prov, "signed"));
        if (stmt)
            json_object_set(summary, "subject", json_array_get(json_object_get(stmt, "subject"), 0));
        json_t *pred = json_object_get(stmt, "predicate");
        json_t *bd = json_object_get(pred, "buildDefinition");
        json_t *rd = json_object_get(pred, "runDetails");
        const char *keys[][2] = { { "keyId", NULL }, { "verified", NULL }, { "error", NULL } };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
            if (json_object_get(prov, keys[i][0]))
                json_object_set(summary, keys[i][0], json_object_get(prov, keys[i][0]));
        if (bd) {
            json_object_set(summary, "recipe", json_object_get(json_object_get(bd, "externalParameters"), "recipe"));
            json_object_set(summary, "inputs", json_object_get(bd, "resolvedDependencies"));
        }
        if (rd) {
            json_object_set(summary, "builder", json_object_get(rd, "builder"));
            json_object_set(summary, "startedOn", json_object_get(json_object_get(rd, "metadata"), "startedOn"));
            json_object_set(summary, "finishedOn", json_object_get(json_object_get(rd, "metadata"), "finishedOn"));
        }
        json_object_set_new(rep, "provenance", summary);
        json_decref(prov);
    }

    /* The SBOM attestations: a broken one, or one of a trusted key whose
     * signature does not verify, fails the image; others are reported. */
    json_t *sboms = json_array();
    json_object_set_new(rep, "sboms", sboms);
    struct kiln_err ae = KILN_ERR_INIT;
    int ar = signing_attestations_check(st, digest, SIGNING_AT_SBOM_SPDX, SIGNING_PREDICATE_SPDX, o->keys,
                                        o->n_keys, sboms, &ae);
    if (ar == 0)
        ar = signing_attestations_check(st, digest, SIGNING_AT_SBOM_CYCLONEDX, SIGNING_PREDICATE_CYCLONEDX, o->keys,
                                        o->n_keys, sboms, &ae);

    /* A revocation signed by a trusted key fails the image; others are reported. */
    json_t *revs = json_array();
    json_object_set_new(rep, "revocations", revs);
    struct kiln_err re = KILN_ERR_INIT;
    int rr = signing_revocation_check_store(st, digest, o->keys, o->n_keys, revs, &re);

    int sr = tally_result(&t, digest, err);
    if (sr == 0 && rr < 0)
        sr = (*err = re, re.code);
    if (sr == 0 && ar < 0)
        sr = (*err = ae, ae.code);
    int ok = sr == 0 && !w.first.code;
    json_object_set_new(rep, "verified", json_boolean(ok));
    if (ok)
        return 0;
    if (sr < 0)
        return sr;
    return kiln_errf(err, KILN_EVERIFY, "%s", w.first.msg);
}
