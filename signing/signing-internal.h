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

/* Stores an artifact manifest with subject, artifactType, the empty config,
 * layer 0 = payload (payload_mt) and, when sig is not NULL, layer 1 = the raw
 * signature made by key; lists it as a referrer of subject.  created (may be
 * NULL: no date) is the manifest's org.opencontainers.image.created.
 * digest_out gets the artifact manifest's digest. */
int signing_artifact_store(struct store *st, const struct oci_desc *subject, const char *artifact_type,
                           const char *payload_mt, const void *payload, size_t payload_len,
                           const unsigned char *sig, size_t sig_len, const struct signing_key *key,
                           const char *created, char digest_out[DIGEST_STR_SIZE], struct kiln_err *err);

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
void signing_artifact_release(struct signing_artifact *a);

/* The current UTC time as RFC 3339 ("2026-01-02T03:04:05Z"), caller-owned. */
char *signing_now_rfc3339(void);

#endif
