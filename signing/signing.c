/* signing.c - interim: signing is not implemented yet; provenance is not recorded. */
#include "signing/signing.h"

#include "common/common.h"
#include "common/banned.h"

int signing_key_load(const char *path, const char *passphrase_env, struct signing_key **out,
                     struct kiln_err *err)
{
    (void)path;
    (void)passphrase_env;
    *out = NULL;
    return kiln_errf(err, KILN_EFAIL, "signing is not available in this build");
}

void signing_key_free(struct signing_key *k)
{
    (void)k;
}

int signing_sign_image(struct store *st, const char *name, const char *version, const char *digest,
                       const struct signing_key *key, struct kiln_err *err)
{
    (void)st, (void)name, (void)version, (void)digest, (void)key;
    return kiln_errf(err, KILN_EFAIL, "signing is not available in this build");
}

int signing_attach_provenance(struct store *st, const char *name, const char *version,
                              const char *digest, json_t *build_record,
                              const struct signing_key *key, struct kiln_err *err)
{
    (void)st, (void)name, (void)version, (void)digest, (void)build_record, (void)key, (void)err;
    return 0;
}
