/* signing.h - what the rest of kiln asks of signing/.
 *
 * Keys, signatures and provenance attestations.  Only signing/ includes
 * OpenSSL's key APIs.  Objects returned are owned by the caller.
 *
 * The model (README "Signing and verification"):
 *   - a key is ECDSA P-256 (signed with SHA-256, DER signatures) or Ed25519
 *     (64-byte signatures); its ID is "sha256:<hex of SHA-256 of the DER
 *     SubjectPublicKeyInfo>", the same as `openssl pkey -pubin -outform DER |
 *     sha256sum`;
 *   - a signature covers a small canonical JSON payload naming the image
 *     (name, version, digest, media type, size), the key ID, the algorithm
 *     and the signing time; it is stored as an OCI 1.1 artifact manifest whose
 *     subject is the image, with the payload and the raw signature as its
 *     two layers, so `openssl dgst -verify` runs on the blobs as they are;
 *   - provenance is an in-toto Statement v1 with a SLSA provenance v1
 *     predicate, stored the same way (statement + optional raw signature).
 * A new image is published together with its provenance and signature by
 * signing/publish.h; the functions here sign or attest an image already listed. */
#ifndef KILN_SIGNING_H
#define KILN_SIGNING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct store;        /* images/store.h */
struct signing_key;  /* a loaded private key */
struct signing_pubkey; /* a loaded public key */

#define SIGNING_ALG_ECDSA_P256 "ecdsa-p256"
#define SIGNING_ALG_ED25519 "ed25519"

/* "sha256:" + 64 hex + NUL */
#define SIGNING_KEY_ID_SIZE 72

/* Media and artifact types of what signing/ stores. */
#define SIGNING_AT_SIGNATURE "application/vnd.dev.kiln.signature.v1"
#define SIGNING_MT_PAYLOAD "application/vnd.dev.kiln.signature.payload.v1+json"
#define SIGNING_MT_RAWSIG "application/vnd.dev.kiln.signature.raw.v1"
#define SIGNING_AT_PROVENANCE "application/vnd.dev.kiln.provenance.v1"
#define SIGNING_MT_INTOTO "application/vnd.in-toto+json"
#define SIGNING_PAYLOAD_TYPE "dev.kiln.signature.v1"
#define SIGNING_AT_SBOM_SPDX "application/vnd.dev.kiln.sbom.spdx.v1"
#define SIGNING_AT_SBOM_CYCLONEDX "application/vnd.dev.kiln.sbom.cyclonedx.v1"
#define SIGNING_PREDICATE_SPDX "https://spdx.dev/Document"   /* in-toto predicate types of the SBOMs */
#define SIGNING_PREDICATE_CYCLONEDX "https://cyclonedx.org/bom"
#define SIGNING_AT_CHANNEL "application/vnd.dev.kiln.channel.v1"
#define SIGNING_MT_CHANNEL "application/vnd.dev.kiln.channel.payload.v1+json"
#define SIGNING_CHANNEL_TYPE "dev.kiln.channel.v1"
#define SIGNING_AT_REVOCATION "application/vnd.dev.kiln.revocation.v1"
#define SIGNING_MT_REVOCATION "application/vnd.dev.kiln.revocation.payload.v1+json"
#define SIGNING_REVOCATION_TYPE "dev.kiln.revocation.v1"
#define SIGNING_AT_REBUILD "application/vnd.dev.kiln.rebuild.v1"
#define SIGNING_REBUILD_TYPE "https://kiln.dev/rebuild/v1"
#define SIGNING_ANN_KEY_ID "dev.kiln.signature.key-id"
#define SIGNING_ANN_ALGORITHM "dev.kiln.signature.algorithm"

/* Limits on what verification reads. */
#define SIGNING_PAYLOAD_LIMIT (64u << 10)
#define SIGNING_SIG_LIMIT 1024u
#define SIGNING_STATEMENT_LIMIT (4u << 20)
#define SIGNING_KEY_FILE_LIMIT (64u << 10)
#define SIGNING_MAX_SIGNATURES 256

/* ---- keys ---------------------------------------------------------------- */

/* Makes a key pair: prefix.key (PKCS#8 PEM, mode 0600, created with O_EXCL,
 * encrypted with AES-256-CBC when passphrase is not NULL) and prefix.pub
 * (SubjectPublicKeyInfo PEM).  algorithm: SIGNING_ALG_* (NULL = ecdsa-p256).
 * key_id gets the key ID.  Neither file is left behind on failure. */
int signing_keygen(const char *prefix, const char *algorithm, const char *passphrase,
                   char key_id[SIGNING_KEY_ID_SIZE], struct kiln_err *err);

/* Loads a private key from the file at path, decrypted with passphrase when
 * it is encrypted (NULL: none).  A key file readable by group or others is
 * refused.  Wrong passphrase, unparsable key, unsupported algorithm:
 * KILN_EINVAL.  (Where the key and passphrase come from, the environment
 * included, is the program's business.) */
int signing_key_read(const char *path, const char *passphrase, struct signing_key **out,
                     struct kiln_err *err);
/* Like signing_key_read() with the PEM text in memory (what names it in errors). */
int signing_key_from_pem(const char *pem, size_t len, const char *passphrase, const char *what,
                         struct signing_key **out, struct kiln_err *err);
/* Wipes and frees k (NULL is fine). */
void signing_key_free(struct signing_key *k);
/* Borrowed from k. */
const char *signing_key_id(const struct signing_key *k);
const char *signing_key_algorithm(const struct signing_key *k);

/* Loads a public key (one SubjectPublicKeyInfo PEM block, nothing else).  A
 * file that holds a private key, a certificate or anything unparsable, or a key
 * of an unsupported algorithm or curve, is KILN_EINVAL naming what it found. */
int signing_pubkey_load(const char *path, struct signing_pubkey **out, struct kiln_err *err);
int signing_pubkey_from_pem(const char *pem, size_t len, const char *what,
                            struct signing_pubkey **out, struct kiln_err *err);
void signing_pubkey_free(struct signing_pubkey *k);
const char *signing_pubkey_id(const struct signing_pubkey *k);
const char *signing_pubkey_algorithm(const struct signing_pubkey *k);

/* ---- raw signatures --------------------------------------------------------- */

/* Signs data: *sig (caller-owned, free()) gets a DER ECDSA signature or a
 * 64-byte Ed25519 signature. */
int signing_sign_bytes(const struct signing_key *k, const void *data, size_t len,
                       unsigned char **sig, size_t *sig_len, struct kiln_err *err);
/* 0 if sig is k's valid signature over data; KILN_EVERIFY ("bad signature")
 * otherwise. */
int signing_verify_bytes(const struct signing_pubkey *k, const void *data, size_t len,
                         const unsigned char *sig, size_t sig_len, struct kiln_err *err);

/* ---- the signature payload ------------------------------------------------ */

/* What a signature payload says (all strings owned by the struct). */
struct signing_payload {
    char *type;        /* SIGNING_PAYLOAD_TYPE */
    char *name;        /* image name, may be NULL */
    char *version;     /* image version, may be NULL */
    char *digest;      /* manifest or index digest */
    char *media_type;
    long long size;
    char *key_id;
    char *algorithm;
    char *created;     /* RFC 3339 UTC */
};

/* The canonical JSON payload (sorted keys, compact), caller-owned (free()). */
char *signing_payload_make(const struct signing_payload *p);
/* Parses and checks a payload (bounded by SIGNING_PAYLOAD_LIMIT); KILN_EINVAL
 * naming what is wrong.  Release with signing_payload_release(). */
int signing_payload_parse(const void *data, size_t len, struct signing_payload *out,
                          struct kiln_err *err);
void signing_payload_release(struct signing_payload *p);

/* ---- channel statements (statement.c) ------------------------------------------ */

/* A signed statement that the image `digest` is NAME's CHANNEL at VERSION,
 * made at `created` and valid until `expires` (RFC 3339 UTC, seconds); or,
 * of SIGNING_REVOCATION_TYPE, that NAME:VERSION `digest` is revoked since
 * `created` (channel and expires NULL). */
struct signing_statement {
    char *type;        /* SIGNING_CHANNEL_TYPE or SIGNING_REVOCATION_TYPE */
    char *name, *channel, *version;
    char *digest;
    char *key_id, *algorithm;
    char *created, *expires;
    int64_t created_t, expires_t; /* the same, as Unix times (set by the parser) */
};

/* The canonical JSON payload (sorted keys, compact), caller-owned. */
char *signing_statement_make(const struct signing_statement *s);
/* Parses and checks a payload: at most SIGNING_PAYLOAD_LIMIT bytes, exactly
 * the nine members (seven for a revocation: no channel, no expires), each a printable string of at most 256 bytes, the type,
 * sha256 digest and key ID, a known algorithm, times YYYY-MM-DDTHH:MM:SSZ
 * with expires after created.  KILN_EINVAL naming what is wrong.  Release
 * with signing_statement_release(). */
int signing_statement_parse(const void *data, size_t len, struct signing_statement *out, struct kiln_err *err);
void signing_statement_release(struct signing_statement *s);
/* "YYYY-MM-DDTHH:MM:SSZ" -> Unix time; -1 when s is not exactly that (or no such date). */
int signing_rfc3339_parse(const char *s, int64_t *out);

struct oci_desc;    /* images/manifest.h */
/* Signs the channel statement "subject is name's channel at version, from
 * now for lifetime seconds" with key and stores it (blobs only, listed
 * nowhere) as an artifact of type SIGNING_AT_CHANNEL whose subject is the
 * image; *out (oci_desc_release()) is the artifact manifest's descriptor. */
int signing_channel_put(struct store *st, const struct oci_desc *subject, const char *name, const char *channel,
                        const char *version, int64_t now, int64_t lifetime, const struct signing_key *key,
                        struct oci_desc *out, struct kiln_err *err);
/* Among artifacts held in memory (see signing_verify_held), the newest (by
 * `created`) channel statement for `channel` that a trusted key signed,
 * naming exactly `digest` and `name` (when not NULL), not expired at `now`.
 * *out gets it (signing_statement_release()).  KILN_EVERIFY when there is
 * none, naming why the first candidate was refused. */
struct signing_held_artifact;
int signing_channel_check_held(const struct signing_held_artifact *arts, size_t n, const char *digest,
                               const char *name, const char *channel, struct signing_pubkey *const *keys,
                               size_t n_keys, int64_t now, struct signing_statement *out, struct kiln_err *err);

/* Signs a revocation of subject (name:version) made now and stores it (blobs
 * only) as an artifact of type SIGNING_AT_REVOCATION; *out its descriptor. */
int signing_revocation_put(struct store *st, const struct oci_desc *subject, const char *name, const char *version,
                           int64_t now, const struct signing_key *key, struct oci_desc *out, struct kiln_err *err);
/* The revocations of the image `digest` among held artifacts, or among its
 * referrers in st: each is appended to the array rep ({"artifact", "trusted",
 * "keyId", "created", ... or "error"}); KILN_EVERIFY ("image ... is revoked")
 * when a trusted key signed one naming exactly `digest`.  An untrusted or
 * broken revocation is reported, not honoured. */
int signing_revocation_check_held(const struct signing_held_artifact *arts, size_t n, const char *digest,
                                  struct signing_pubkey *const *keys, size_t n_keys, json_t *rep,
                                  struct kiln_err *err);
int signing_revocation_check_store(struct store *st, const char *digest, struct signing_pubkey *const *keys,
                                   size_t n_keys, json_t *rep, struct kiln_err *err);

/* ---- signing images ------------------------------------------------------- */

/* Signs the image (manifest or index) `digest` stored as name:version, and
 * stores the signature in the store as an artifact whose subject is the image.
 * sig_digest (may be NULL) gets the signature artifact's manifest digest. */
int signing_sign_image_ex(struct store *st, const char *name, const char *version,
                          const char *digest, const struct signing_key *key,
                          char sig_digest[SIGNING_KEY_ID_SIZE], struct kiln_err *err);
int signing_sign_image(struct store *st, const char *name, const char *version, const char *digest,
                       const struct signing_key *key, struct kiln_err *err);

/* Builds an in-toto statement with a SLSA provenance v1 predicate from the
 * build record (see builder: recipe, inputs, times, host) and attaches it to
 * the image as an attestation; signed with key when key is not NULL.  The
 * statement carries the build's start and finish times (runDetails.metadata). */
int signing_attach_provenance(struct store *st, const char *name, const char *version,
                              const char *digest, json_t *build_record,
                              const struct signing_key *key, struct kiln_err *err);

/* Attaches to the image a statement, signed with key, that rebuilding it
 * gave the same bytes: an in-toto Statement v1 whose predicate (type
 * SIGNING_REBUILD_TYPE; borrowed) says what was rebuilt from what
 * (builder/rebuild.h makes it), stored like provenance as an artifact of
 * type SIGNING_AT_REBUILD.  signing_rebuild_statement(): the statement
 * alone (new reference). */
int signing_attach_rebuild(struct store *st, const char *name, const char *version, const char *digest,
                           json_t *predicate, const struct signing_key *key, struct kiln_err *err);
json_t *signing_rebuild_statement(const char *name, const char *version, const char *digest, json_t *predicate);

/* The statement alone (new reference). */
json_t *signing_provenance_statement(const char *name, const char *version, const char *digest,
                                     json_t *build_record);

/* Finds the image's provenance attestation.  *out gets a new reference to
 * {"statement": {...}, "artifact": "sha256:..", "signed": bool, "keyId": ..}
 * or NULL when there is none (returns 0).  With keys (n_keys > 0), a signed
 * attestation is checked: "verified" is true when a given key signed it.
 * When the same image was built under several versions, the statement whose
 * subject is subject_name ("NAME:VERSION", may be NULL) is preferred. */
int signing_provenance_find(struct store *st, const char *digest, const char *subject_name,
                            struct signing_pubkey *const *keys, size_t n_keys, json_t **out,
                            struct kiln_err *err);

/* ---- attestations (attest.c) ---------------------------------------------- */

/* An in-toto Statement v1 naming the image NAME:VERSION `digest` as its
 * subject, with predicate (a new reference). */
json_t *signing_attestation_statement(const char *name, const char *version, const char *digest,
                                      const char *predicate_type, json_t *predicate);

/* Like signing_provenance_find() for any attestation stored as artifact_type
 * (SIGNING_AT_PROVENANCE, SIGNING_AT_SBOM_*): when predicate_type is not
 * NULL the statement must say it.  The result also has "trusted": true when
 * its key ID is one of keys (a trusted key's attestation whose signature does
 * not verify has "trusted" true and "verified" false), and "error" when the
 * artifact does not read or its statement names another image. */
int signing_attestation_find(struct store *st, const char *digest, const char *artifact_type,
                             const char *predicate_type, const char *subject_name, struct signing_pubkey *const *keys,
                             size_t n_keys, json_t **out, struct kiln_err *err);

/* Checks every attestation of the image `digest` stored as artifact_type:
 * each is appended to the array rep ({"artifact", "predicateType",
 * "signed", "trusted", "verified", "keyId", "subject" or "error"}).
 * KILN_EVERIFY when one does not read, names another image or another
 * predicate type, or carries a trusted key's ID with a signature that does
 * not verify; unsigned ones and those of unknown keys are reported only. */
int signing_attestations_check(struct store *st, const char *digest, const char *artifact_type,
                               const char *predicate_type, struct signing_pubkey *const *keys, size_t n_keys,
                               json_t *rep, struct kiln_err *err);

/* ---- verification ----------------------------------------------------------- */

struct signing_verify_opts {
    struct signing_pubkey *const *keys; /* trusted keys (borrowed) */
    size_t n_keys;
    const char *name;    /* when not NULL: the payload must name this image */
    const char *version; /* when not NULL: ... and this version */
    int signatures_only; /* 1: the signatures (and revocations) alone, no blob re-hashed:
                            for a caller that checks every blob it reads itself */
};

/* Verifies the image `digest` (described by its index.json descriptor) in st:
 * at least one signature by a trusted key over a payload naming exactly this
 * image, and every blob the image reaches re-hashed (streamed) against its
 * descriptor (unless opts->signatures_only).  *report gets a new reference to the auditor's report (also on
 * failure, when it got that far).  Returns 0, or KILN_EVERIFY with a message
 * naming the first failure (other codes for I/O errors). */
int signing_verify_image(struct store *st, const char *digest, const char *media_type,
                         long long size, const struct signing_verify_opts *opts, json_t **report,
                         struct kiln_err *err);

/* A referrer artifact held in memory, not in a store (what `kiln pull` fetched
 * before anything enters the store): its manifest's digest and bytes, and
 * the bytes of the blobs it lists that the caller holds.  All borrowed. */
struct signing_held_blob {
    const char *digest;
    const void *data;
    size_t len;
};
struct signing_held_artifact {
    const char *digest;
    const void *manifest;
    size_t manifest_len;
    const struct signing_held_blob *blobs;
    size_t n_blobs;
};

/* The signature check of signing_verify_image() (the same one) on artifacts
 * held in memory: those of them that are signatures are checked against the
 * image `digest` (media type, size), every byte hashed against the digest
 * that names it; others are skipped.  No blob of the image is looked at.
 * *report gets a new reference to {"signatures": [...], "signers": [...],
 * "verified": bool}, each signature with the name and version its payload
 * names.  Returns 0 when a trusted key signed exactly this image, else
 * KILN_EVERIFY naming why not. */
int signing_verify_held(const struct signing_held_artifact *arts, size_t n, const char *digest,
                        const char *media_type, long long size, const struct signing_verify_opts *opts,
                        json_t **report, struct kiln_err *err);

#endif
