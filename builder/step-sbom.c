/* step-sbom.c - the SBOMs of the finished tree (sbom/sbom.h), made after
 * the last step that changes it and attached by build_publish(). */
#include "builder/ctx.h"
#include "builder/step.h"

#include <string.h>

#include "common/common.h"
#include "common/log.h"
#include "sbom/sbom.h"
#include "signing/signing.h"
#include "common/banned.h"

/* Room for the statement around the document (subject, types). */
#define STATEMENT_OVERHEAD 4096

/* 0 when doc fits an attestation, 1 (with a warning) when it does not. */
static int check_size(json_t *doc, const char *what, struct kiln_err *err)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = s ? strlen(s) : 0;
    free(s);
    if (!len)
        return kiln_errf(err, KILN_EFAIL, "cannot encode the %s SBOM", what);
    if (len + STATEMENT_OVERHEAD <= SIGNING_STATEMENT_LIMIT)
        return 0;
    /* An image is not bad input for having many files: it is built, without SBOMs. */
    kiln_log(KILN_LOG_WARN, "the %s SBOM is %zu bytes, more than an attestation may hold (%u): too many files that "
             "no package owns; the image gets no SBOM", what, len, SIGNING_STATEMENT_LIMIT);
    return 1;
}

int step_sbom_run(struct build_ctx *ctx, json_t **spdx, json_t **cyclonedx, struct kiln_err *err)
{
    *spdx = *cyclonedx = NULL;
    struct sbom *s = NULL;
    int r = sbom_read(ctx->tree, &s, err);
    if (r < 0)
        return r;
    struct sbom_doc_opts o = { ctx->recipe->name, ctx->recipe->version, ctx->sde };
    json_t *a = sbom_spdx(s, &o), *b = sbom_cyclonedx(s, &o);
    sbom_free(s);
    if ((r = check_size(a, "SPDX", err)) != 0 || (r = check_size(b, "CycloneDX", err)) != 0) {
        json_decref(a);
        json_decref(b);
        return r < 0 ? r : 0;
    }
    *spdx = a;
    *cyclonedx = b;
    return 0;
}
