/* fuzz-registry.c - what a registry sends kiln, on arbitrary bytes: a
 * WWW-Authenticate header, an error body, a DEST.  Never crash, never leak;
 * a parsed Bearer challenge always has a realm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "registry/registry.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *msg = registry_error_body_message((const char *)data, size);
    if (msg && !msg[0])
        abort();
    free(msg);
    if (size > 16384)
        return 0;
    char *s = xstrndup((const char *)data, size);
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_challenge c;
    if (registry_challenge_parse(s, &c, &err) == 0) {
        if (!c.scheme || (!strcasecmp(c.scheme, "Bearer") && (!c.realm || !c.realm[0])))
            abort();
        registry_challenge_release(&c);
    } else if (err.code == 0 || !err.msg[0] || c.scheme) {
        abort();
    }
    struct registry_ref r;
    if (registry_ref_parse(s, 0, &r, &err) == 0) {
        if (!r.host || !r.repo || (r.tag && !registry_tag_valid(r.tag)))
            abort();
        registry_ref_release(&r);
    }
    if (registry_src_parse(s, 0, &r, &err) == 0) {
        if (!r.host || !r.repo || (!r.tag && !r.digest) || (r.digest && !digest_valid(r.digest)))
            abort();
        registry_ref_release(&r);
    }
    free(s);
    return 0;
}
