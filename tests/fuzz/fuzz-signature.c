/* fuzz-signature.c - hostile signature artifacts, payloads, public key files
 * and raw signatures.  The same bytes go to each parser; none may crash, leak or
 * accept what it should not.  A payload that parses must survive a round
 * trip through signing_payload_make(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "images/manifest.h"
#include "signing/signing.h"
#include "signing/signing-internal.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char trusted_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdzRs4qqMlidCCVw9Ul0xeFNex5uk\n"
    "MiZ9ToI3or21y3Z+V5aeCq1kQQa99NKHPbpbtbVc7MuQ9qPgr3RK7vXV5w==\n"
    "-----END PUBLIC KEY-----\n";

static void same(const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct signing_payload p, q;
    if (signing_payload_parse(data, size, &p, NULL) == 0) {
        char *s = signing_payload_make(&p);
        if (!s || signing_payload_parse(s, strlen(s), &q, NULL) != 0)
            abort();
        same(p.digest, q.digest);
        same(p.key_id, q.key_id);
        same(p.name, q.name);
        same(p.version, q.version);
        if (p.size != q.size)
            abort();
        signing_payload_release(&q);
        signing_payload_release(&p);
        free(s);
    }

    /* The input as a signature artifact manifest. */
    struct oci_manifest *m = NULL;
    if (oci_manifest_parse(data, size, &m, NULL) == 0) {
        const char *subject = m->subject ? m->subject->digest : "sha256:0";
        if (signing_artifact_check(m, SIGNING_AT_SIGNATURE, SIGNING_MT_PAYLOAD, subject, NULL) == 0 &&
            (m->n_descs < 1 || !m->subject))
            abort();
        signing_artifact_check(m, SIGNING_AT_PROVENANCE, SIGNING_MT_INTOTO, subject, NULL);
        oci_manifest_free(m);
    }

    struct signing_pubkey *k = NULL;
    if (signing_pubkey_from_pem((const char *)data, size, "fuzz", &k, NULL) == 0)
        signing_pubkey_free(k);

    /* The input as a signature over itself: never valid, never a crash. */
    k = NULL;
    if (signing_pubkey_from_pem(trusted_pub, strlen(trusted_pub), "trusted", &k, NULL) != 0)
        abort();
    if (signing_verify_bytes(k, data, size, data, size, NULL) == 0)
        abort();
    signing_pubkey_free(k);
    return 0;
}
