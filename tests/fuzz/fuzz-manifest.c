/* fuzz-manifest.c - oci_manifest_parse() and image_ref_parse() on arbitrary
 * bytes: never crash, never leak; what parses has only checked digests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "images/manifest.h"
#include "images/ref.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct oci_manifest *m = NULL;
    if (oci_manifest_parse(data, size, &m, &err) == 0) {
        if (!m || (m->kind != OCI_KIND_MANIFEST && m->kind != OCI_KIND_INDEX))
            abort();
        if (m->kind == OCI_KIND_MANIFEST && !digest_valid(m->config.digest))
            abort();
        for (size_t i = 0; i < m->n_descs; i++) {
            if (!digest_valid(m->descs[i].digest) || m->descs[i].size < 0 || !m->descs[i].media_type)
                abort();
            json_decref(oci_desc_to_json(&m->descs[i]));
        }
        if (m->subject && !digest_valid(m->subject->digest))
            abort();
        if (m->files_digest && !digest_valid(m->files_digest))
            abort();
        oci_manifest_free(m);
    } else if (m || err.code == 0 || !err.msg[0]) {
        abort();
    }
    /* The same bytes as a reference (NUL-terminated, bounded). */
    if (size < 512) {
        char *s = xstrndup((const char *)data, size);
        struct image_ref r;
        if (image_ref_parse(s, &r, &err) == 0) {
            if (ref_check_name(r.name, NULL) < 0 || (r.version && ref_check_version(r.version, NULL) < 0) ||
                (r.channel && ref_check_channel(r.channel, NULL) < 0) || (r.digest && !digest_valid(r.digest)))
                abort();
            if (r.version && semver_cmp(r.version, r.version) != 0)
                abort();
            image_ref_release(&r);
        }
        free(s);
    }
    return 0;
}
