/* signing-key.c - the signing key a command uses, from its file or the
 * environment (the library never reads the environment). */
#include "cli/cli.h"
#include "signing/signing.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

int cli_signing_key(const char *path, const char *passphrase_env, struct signing_key **out,
                    struct kiln_err *err)
{
    *out = NULL;
    const char *passphrase = NULL;
    if (passphrase_env) {
        passphrase = getenv(passphrase_env);
        if (!passphrase)
            return kiln_errf(err, KILN_EINVAL, "passphrase variable '%s' is not set", passphrase_env);
    } else {
        passphrase = getenv("KILN_SIGNING_PASSPHRASE");
    }
    if (passphrase && !passphrase[0])
        return kiln_errf(err, KILN_EINVAL, "passphrase variable '%s' is empty",
                         passphrase_env ? passphrase_env : "KILN_SIGNING_PASSPHRASE");
    if (path)
        return signing_key_read(path, passphrase, out, err);
    const char *pem = getenv("KILN_SIGNING_KEY");
    if (!pem || !pem[0])
        return kiln_errf(err, KILN_EINVAL, "no signing key: give --key FILE or set KILN_SIGNING_KEY");
    return signing_key_from_pem(pem, strlen(pem), passphrase, "$KILN_SIGNING_KEY", out, err);
}
