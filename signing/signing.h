/* signing.h - what the rest of kiln asks of signing/.
 *
 * Keys, signatures and provenance attestations.  Only signing/ includes
 * OpenSSL's key APIs.  Objects returned are owned by the caller. */
#ifndef KILN_SIGNING_H
#define KILN_SIGNING_H

#include <jansson.h>

#include "common/err.h"

struct store;        /* images/store.h */
struct signing_key;  /* a loaded private key */

/* Loads a private key from path, or from $KILN_SIGNING_KEY when path is NULL.
 * The passphrase comes from the environment variable passphrase_env, else
 * $KILN_SIGNING_PASSPHRASE.  A key file readable by group or others is refused. */
int signing_key_load(const char *path, const char *passphrase_env, struct signing_key **out,
                     struct kiln_err *err);
void signing_key_free(struct signing_key *k);

/* Signs the image (manifest or index) `digest` stored as name:version, and
 * stores the signature in the store as an artifact whose subject is the image. */
int signing_sign_image(struct store *st, const char *name, const char *version, const char *digest,
                       const struct signing_key *key, struct kiln_err *err);

/* Builds an in-toto statement with a SLSA provenance v1 predicate from the
 * build record (see builder: recipe, inputs, times, host) and attaches it to
 * the image as an attestation; signed with key when key is not NULL. */
int signing_attach_provenance(struct store *st, const char *name, const char *version,
                              const char *digest, json_t *build_record,
                              const struct signing_key *key, struct kiln_err *err);

#endif
