/* publish.c - publish_image(): an image, its provenance and its signature,
 * listed by one write of index.json.  The steps are numbered as in publish.h. */
#include "signing/publish.h"

#include <string.h>

#include "common/common.h"
#include "images/store.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

static int add_flags(const struct publish_ref *ref)
{
    return (ref->force ? STORE_ADD_FORCE : 0) | (ref->auto_version ? STORE_ADD_AUTO_VERSION : 0);
}

int publish_ref_check(const struct publish_ref *ref, struct kiln_err *err)
{
    struct store_image img = {
        .name = (char *)ref->name,
        .version = (char *)ref->version,
        .channel = (char *)ref->channel,
    };
    return store_image_check(&img, add_flags(ref), err);
}

/* Removes the held blobs not yet committed. */
static void drop_blobs(struct publish_request *req)
{
    for (size_t i = 0; i < req->n_blobs; i++) {
        store_blob_abort(req->blobs[i].w);
        req->blobs[i].w = NULL;
    }
}

/* 2. NAME:VERSION naming another digest is refused before anything is written. */
static int check_not_taken(struct store *st, const struct publish_request *req, struct kiln_err *err)
{
    if (req->ref.force || req->ref.auto_version)
        return 0;
    _cleanup_free_ char *ref = xasprintf("%s:%s", req->ref.name, req->ref.version);
    struct store_image *old = NULL;
    int r = store_resolve(st, ref, &old, err);
    if (r == KILN_ENOTFOUND) {
        kiln_err_clear(err);
        return 0;
    }
    if (r < 0)
        return r;
    if (strcmp(old->digest, req->digest) != 0)
        r = kiln_errf(err, KILN_EEXIST, "image '%s' exists with another digest (%s); use --force to replace it", ref,
                      old->digest);
    store_image_free(old);
    return r;
}

int publish_downgrade_check(struct store *st, const char *name, const char *version, struct kiln_err *err)
{
    struct store_image *top = NULL;
    int r = store_resolve(st, name, &top, err);
    if (r == KILN_ENOTFOUND) {
        kiln_err_clear(err);
        return 0;
    }
    if (r < 0)
        return r;
    if (semver_cmp(version, top->version) < 0)
        r = kiln_errf(err, KILN_EVERIFY, "refusing to downgrade '%s' to %s: the store has %s (--allow-downgrade "
                      "to accept it)", name, version, top->version);
    store_image_free(top);
    return r;
}

/* 3. Commits the held blobs, each against its digest; after a failure the
 * rest are removed. */
static int commit_blobs(struct publish_request *req, struct kiln_err *err)
{
    int r = 0;
    for (size_t i = 0; i < req->n_blobs; i++) {
        struct store_blob_writer *w = req->blobs[i].w;
        req->blobs[i].w = NULL;
        if (!w)
            continue;
        if (r == 0)
            r = store_blob_commit(w, req->blobs[i].digest, NULL, NULL, err);
        else
            store_blob_abort(w);
    }
    return r;
}

/* 5. The provenance and signature blobs for NAME:VERSION, listed in t. */
static int add_referrers(struct store *st, struct store_txn *t, const struct publish_request *req,
                         const char *version, struct kiln_err *err)
{
    struct oci_desc subject;
    int r = signing_subject_desc(st, req->digest, &subject, err);
    if (r < 0)
        return r;
    struct signing_made made;
    if (req->build_record) {
        if ((r = signing_provenance_put(st, &subject, req->ref.name, version, req->build_record, req->key, &made,
                                        err)) == 0) {
            if ((r = signing_made_list(t, subject.digest, &made, err)) < 0)
                kiln_err_prefix(err, "provenance");
            signing_made_release(&made);
        }
    }
    for (size_t i = 0; i < req->n_attestations && r == 0; i++) {
        const struct publish_attestation *a = &req->attestations[i];
        if ((r = signing_attestation_put(st, &subject, req->ref.name, version, a->artifact_type, a->predicate_type,
                                         a->predicate, req->key, &made, err)) == 0) {
            r = signing_made_list(t, subject.digest, &made, err);
            signing_made_release(&made);
        }
    }
    for (size_t i = 0; i < req->n_referrers && r == 0; i++) {
        const struct publish_referrer *f = &req->referrers[i];
        if ((r = store_txn_add_referrer(t, subject.digest, f->digest, f->media_type, f->artifact_type, f->size,
                                        f->annotations, err)) < 0)
            kiln_err_prefix(err, "referrer '%s'", f->digest);
    }
    if (r == 0 && req->key) {
        if ((r = signing_signature_put(st, &subject, req->ref.name, version, req->key, &made, err)) == 0) {
            r = signing_made_list(t, subject.digest, &made, err);
            signing_made_release(&made);
        }
        if (r < 0)
            kiln_err_prefix(err, "signature");
    }
    oci_desc_release(&subject);
    return r;
}

int publish_image(struct store *st, struct publish_request *req, char **version_out, struct kiln_err *err)
{
    if (version_out)
        *version_out = NULL;
    struct store_image img = {
        .name = (char *)req->ref.name,
        .version = (char *)req->ref.version,
        .digest = (char *)req->digest,
        .media_type = (char *)req->media_type,
        .size = req->size,
        .artifact_type = (char *)req->artifact_type,
        .recipe_digest = (char *)req->recipe_digest,
        .channel = (char *)req->ref.channel,
        .now = req->now,
    };
    int flags = add_flags(&req->ref);
    int r;
    /* 1, 2: nothing is written when these fail. */
    if ((r = store_image_check(&img, flags, err)) < 0 || (r = check_not_taken(st, req, err)) < 0 ||
        (req->ref.no_downgrade && (r = publish_downgrade_check(st, req->ref.name, req->ref.version, err)) < 0)) {
        drop_blobs(req);
        return r;
    }
    /* 3. */
    if ((r = commit_blobs(req, err)) < 0)
        return r;
    /* 4, 5, 6: one transaction. */
    struct store_txn *t = NULL;
    _cleanup_free_ char *version = NULL;
    if ((r = store_txn_begin(st, &t, err)) < 0)
        return r;
    if ((r = store_txn_add_image(t, &img, flags, &version, err)) < 0) {
        store_txn_abort(t);
        return r;
    }
    if ((r = add_referrers(st, t, req, version, err)) < 0) {
        store_txn_abort(t);
        kiln_err_prefix(err, "image '%s:%s' not published", req->ref.name, version);
        return r;
    }
    if ((r = store_txn_commit(t, err)) < 0)
        return r;
    if (version_out)
        *version_out = TAKE_PTR(version);
    return 0;
}
