/* plan.h - recipe -> ordered build steps, each with a content hash.  No I/O.
 *
 * The order is fixed: base, files, users, hostname, owners (host steps on the
 * tree; files' owners are applied after users so a file may belong to a user
 * the recipe creates, while users still append to a /etc/passwd from files),
 * then one guest step when the recipe needs the in-guest builder (packages,
 * run, services), then one step per output.  A step's hash is the SHA-256 of
 * the previous step's hash and the canonical JSON of the step's own inputs as
 * the recipe states them (paths and declared digests; the contents of host
 * files are hashed while the build copies them and land in the build record).
 * So two plans with the same final hash describe the same build. */
#ifndef KILN_PLAN_H
#define KILN_PLAN_H

#include <jansson.h>

#include "common/err.h"
#include "common/hash.h"
#include "recipes/recipe.h"

enum plan_step_kind {
    PLAN_BASE,
    PLAN_FILES,
    PLAN_USERS,
    PLAN_HOSTNAME,
    PLAN_OWNERS,      /* files' owners, resolved once the users exist */
    PLAN_GUEST,
    PLAN_OUTPUT,
};

struct plan_step {
    enum plan_step_kind kind;
    size_t index;                 /* PLAN_OUTPUT: index into recipe->outputs */
    json_t *inputs;               /* canonical inputs (own reference) */
    char hash[HASH_HEX_LEN + 1];
};

struct build_plan {
    struct plan_step *steps;      /* owned */
    size_t n;
    int needs_guest;
    char hash[HASH_HEX_LEN + 1];  /* the last step's hash */
};

/* *out is owned by the caller: plan_free(). */
int plan_make(const struct recipe *r, struct build_plan **out, struct kiln_err *err);
void plan_free(struct build_plan *p);
const char *plan_step_name(enum plan_step_kind k);

#endif
