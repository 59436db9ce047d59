/* signing-internal.h - helpers shared by sign.c, provenance.c and verify.c. */
#ifndef KILN_SIGNING_INTERNAL_H
#define KILN_SIGNING_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "images/store.h"
#include "signing/signing.h"

/* The descriptor of the stored manifest or index `digest` (media type and
 * size read from the verified blob).  out: oci_desc_release(). */
int signing_subject_desc(struct store *st, const char *digest, struct oci_desc *out, struct kiln_err *err);

/* An artifact manifest stored as a blob, not yet listed in index.json. */
struct signing_made {
    char digest[DIGEST_STR_SIZE]; /* of the artifact manifest */
    uint64_t size;
    const char *artifact_type;    /* static */
    json_t *annotations;          /* for its index entry (own reference) */
};
void signing_made_release(struct signing_made *m);

/* Stores an artifact manifest with subject, artifactType, the empty config,
 * layer 0 = payload (payload_mt) and, when sig is not NULL, layer 1 = the raw
 * signature made by key.  created (may be NULL: no date) is the manifest's
 * org.opencontainers.image.created.  Only blobs are written: *out says what
 * to list (signing_made_list() / signing_made_attach()). */
int signing_artifact_put(struct store *st, const struct oci_desc *subject, const char *artifact_type,
                         const char *payload_mt, const void *payload, size_t payload_len,
                         const unsigned char *sig, size_t sig_len, const struct signing_key *key,
                         const char *created, struct signing_made *out, struct kiln_err *err);
/* The signature artifact of subject as NAME:VERSION, signed now by key
 * (blobs only, like signing_artifact_put()). */
int signing_signature_put(struct store *st, const struct oci_desc *subject, const char *name,
                          const char *version, const struct signing_key *key, struct signing_made *out,
                          struct kiln_err *err);
/* The provenance artifact of subject as NAME:VERSION from build_record,
 * signed when key is not NULL (blobs only). */
int signing_provenance_put(struct store *st, const struct oci_desc *subject, const char *name,
                           const char *version, json_t *build_record, const struct signing_key *key,
                           struct signing_made *out, struct kiln_err *err);
/* Stores the in-toto statement stmt (canonical JSON, at most
 * SIGNING_STATEMENT_LIMIT bytes) as an artifact of artifact_type, signed when
 * key is not NULL (blobs only). */
int signing_statement_put(struct store *st, const struct oci_desc *subject, const char *artifact_type, json_t *stmt,
                          const struct signing_key *key, struct signing_made *out, struct kiln_err *err);
/* The attestation of subject as NAME:VERSION with predicate_type and
 * predicate, stored as artifact_type (blobs only, signed when key is given). */
int signing_attestation_put(struct store *st, const struct oci_desc *subject, const char *name, const char *version,
                            const char *artifact_type, const char *predicate_type, json_t *predicate,
                            const struct signing_key *key, struct signing_made *out, struct kiln_err *err);
/* Lists m as a referrer of subject_digest inside transaction t. */
int signing_made_list(struct store_txn *t, const char *subject_digest, const struct signing_made *m,
                      struct kiln_err *err);
/* Lists m as a referrer of subject_digest in its own index transaction. */
int signing_made_attach(struct store *st, const char *subject_digest, const struct signing_made *m,
                        struct kiln_err *err);

/* An artifact read back: the manifest, the payload and the raw signature
 * (sig NULL when unsigned).  Release with signing_artifact_release(). */
struct signing_artifact {
    struct oci_manifest *m;
    struct buf payload;
    struct buf sig;
    int has_sig;
};

/* Checks the shape of an artifact manifest: artifactType, subject, layers
 * (payload of payload_mt, then optionally a raw signature).  No I/O. */
int signing_artifact_check(const struct oci_manifest *m, const char *artifact_type, const char *payload_mt,
                           const char *subject_digest, struct kiln_err *err);

/* Reads the artifact `d` (a referrer descriptor) of type artifact_type whose
 * subject must be subject_digest: KILN_EVERIFY naming what is wrong. */
int signing_artifact_read(struct store *st, const struct oci_desc *d, const char *artifact_type,
                          const char *payload_mt, size_t payload_limit, const char *subject_digest,
                          struct signing_artifact *out, struct kiln_err *err);
/* signing_artifact_read() on an artifact held in memory: its manifest is
 * hashed against h->digest, its payload and signature found among h->blobs
 * and hashed against their descriptors.  Returns 1 (out left empty) when the
 * manifest is not of artifact_type. */
int signing_artifact_from_held(const struct signing_held_artifact *h, const char *artifact_type,
                               const char *payload_mt, size_t payload_limit, const char *subject_digest,
                               struct signing_artifact *out, struct kiln_err *err);
void signing_artifact_release(struct signing_artifact *a);

/* The current UTC time as RFC 3339 ("2026-01-02T03:04:05Z"), caller-owned. */
char *signing_now_rfc3339(void);

#endif
