/* export-store.h - what export asks of the store: resolve a REF and list
 * the referrer descriptors of index.json.  Kept in one small file so the
 * export code depends on the store through these two calls only. */
#ifndef KILN_EXPORT_STORE_H
#define KILN_EXPORT_STORE_H

#include <jansson.h>

#include "common/err.h"

struct export_store_ref {
    json_t *desc;  /* the index.json descriptor REF names (new reference) */
    char *name;    /* dev.kiln.name, or NULL (caller-owned) */
    char *version; /* dev.kiln.version, or NULL (caller-owned) */
};

/* Resolves REF: "NAME:VERSION", "NAME:CHANNEL", "NAME" (its newest version),
 * "sha256:<hex>" or "NAME@sha256:<hex>". */
int export_store_resolve(const char *store, const char *ref, struct export_store_ref *out,
                         struct kiln_err *err);

/* Every descriptor of index.json that carries dev.kiln.subject (new reference). */
int export_store_referrer_candidates(const char *store, json_t **out, struct kiln_err *err);

#endif
