/* publish.h - making an image visible in a store: all of it, or nothing.
 *
 * publish_image() is the one path by which an image enters index.json: a
 * finished build (builder's build_publish()), and any other set of verified
 * blobs (a pull, a rebuild).  It takes the blobs (held in the store's temp
 * area, or already committed) and the image record, and:
 *
 *   1. checks the reference (publish_ref_check()) and the record, no I/O;
 *   2. unless force or an auto version: refuses NAME:VERSION when it names
 *      another digest (KILN_EEXIST), and with no_downgrade a VERSION lower
 *      than the highest stored for NAME (KILN_EVERIFY), before any blob is
 *      committed, so a refused publish leaves the store byte-identical;
 *   3. commits the held blobs, each checked against its digest;
 *   4. opens an index transaction (images/store.h: the index lock is held
 *      from here to the end) and adds the image: an auto version is
 *      allocated, the taken check is made again (this one decides), every
 *      blob the image reaches must be in the store;
 *   5. lists the given referrers (signatures and attestations that came
 *      with the image, as a pull fetched them), then stores the provenance
 *      statement (when a build record is given), the given attestations
 *      (the SBOMs) and the signature (when a key is given) as artifact
 *      blobs naming the version just allocated, each statement signed with
 *      the same key, and adds them as referrers of the image;
 *   6. writes index.json once.
 *
 * After success the image, its channel, its provenance and its signature are
 * all listed; after a failure none of them is: index.json is as it was.
 * Blobs committed by a failed publish are listed nowhere and go at the next
 * gc (the write handle's gc lock keeps them until then).  A process killed
 * at any point leaves the old index.json or the new one.  Publishing the
 * image a version already names again is accepted (a rebuild that gave the
 * same digest): the image entry stays, the new provenance and signature are
 * added.
 *
 * Where it lives.  Publishing needs the store's index transaction (images/)
 * and the statement and signature blobs (signing/, the only OpenSSL user).
 * signing/ already sits on images/ and under builder/ and cli/, so here both
 * are in reach without a cycle, and builder/ (a build) and a future pull or
 * rebuild reach it from above.  It never prints, never reads the
 * environment, and knows nothing of signals: a caller that must not be
 * stopped half-way (a build) brackets the call itself.
 *
 * Ownership: strings are borrowed.  The held blobs are taken over: each is
 * committed or removed, and its writer pointer set to NULL, whatever the
 * result. */
#ifndef KILN_SIGNING_PUBLISH_H
#define KILN_SIGNING_PUBLISH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"
#include "images/ref.h"

struct store;
struct store_blob_writer;
struct signing_key;

/* The reference an image is published under. */
struct publish_ref {
    const char *name;
    const char *version;  /* NAME:VERSION; with auto_version the MAJOR.MINOR.PATCH base */
    int auto_version;     /* store as VERSION-nightly.YYYYMMDD.N (N allocated under the lock) */
    const char *channel;  /* optional: also point NAME:CHANNEL at it */
    int force;            /* replace NAME:VERSION even when it names another digest */
    int no_downgrade;     /* refuse a VERSION lower than the highest stored for NAME */
};

/* A blob written into the store's temp area (store_blob_begin()), not yet committed. */
struct publish_blob {
    struct store_blob_writer *w;  /* taken over and set to NULL by publish_image() */
    char digest[DIGEST_STR_SIZE]; /* what its content must hash to */
};

/* An artifact manifest (held or stored) whose subject is the image, listed with it. */
struct publish_referrer {
    const char *digest;
    const char *media_type;
    const char *artifact_type;     /* optional */
    uint64_t size;
    json_t *annotations;           /* optional, borrowed: its index entry's annotations */
};

/* An attestation to attach (an SBOM): stored as an in-toto statement naming
 * NAME:VERSION, signed with the image's key when one is given. */
struct publish_attestation {
    const char *artifact_type;     /* SIGNING_AT_SBOM_* */
    const char *predicate_type;
    json_t *predicate;             /* borrowed */
};

struct publish_request {
    struct publish_ref ref;
    const char *digest;            /* the manifest or index NAME:VERSION names */
    const char *media_type;        /* optional: checked against the blob */
    uint64_t size;                 /* 0 = the blob's size */
    const char *artifact_type;     /* optional */
    const char *recipe_digest;     /* optional: "sha256:<hex>" of the recipe */
    struct publish_blob *blobs;    /* n_blobs held blobs (the rest must be in the store) */
    size_t n_blobs;
    const struct publish_referrer *referrers; /* n_referrers artifacts to list as the image's referrers */
    size_t n_referrers;
    json_t *build_record;          /* optional: attach a provenance statement made from it */
    const struct publish_attestation *attestations; /* n_attestations to attach (step 5) */
    size_t n_attestations;
    const struct signing_key *key; /* optional: sign the image (and the provenance) */
    time_t now;                    /* `created` and the auto version's day; 0 = time(NULL) */
};

/* Checks what a publish under ref would store (name, version or auto base,
 * channel) with no I/O: KILN_EINVAL naming the bad value.  A build calls it
 * before any work. */
int publish_ref_check(const struct publish_ref *ref, struct kiln_err *err);

/* Rollback protection: KILN_EVERIFY when st holds a version of name higher
 * than version ("refusing to downgrade").  A pull calls it before fetching
 * anything big, and publish_image() again with ref.no_downgrade.  Like the
 * taken check of step 2 it reads index.json before the transaction: a
 * higher version published by another writer in between is not seen. */
int publish_downgrade_check(struct store *st, const char *name, const char *version, struct kiln_err *err);

/* Publishes req into st (opened for writing), as described above.
 * version_out (may be NULL) gets the version stored, caller-owned. */
int publish_image(struct store *st, struct publish_request *req, char **version_out, struct kiln_err *err);

#endif
