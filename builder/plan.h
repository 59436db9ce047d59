/* plan.h - recipe -> ordered build steps, each with the key of exactly what
 * can change its result.  build_run() runs these steps, in this order, each
 * getting its plan step (ctx->step); it records every step's key in the build
 * record (and so in the provenance), where a build cache can look them up.
 *
 * The order is fixed: base, files, users, hostname, owners (host steps on the
 * tree; files' owners are applied after users so a file may belong to a user
 * the recipe creates, while users still append to a /etc/passwd from files),
 * then one guest step when the recipe needs the in-guest builder (packages,
 * run, services) or has a disk output, then one step per output.  Files
 * marked after_run come in a step of their own after the guest step (their
 * owners with them), so that a change to one of them starts from the tree
 * the guest step made; a disk is then laid out by a disk step after them
 * instead of by the guest step.
 *
 * Outputs are siblings: each starts from the last step that changed the tree,
 * not from the output before it.
 *
 * A step's section is the canonical JSON of everything its run reads from
 * the recipe and the build options (SOURCE_DATE_EPOCH in the base step, the
 * --compression override in the oci outputs).  Its key is
 *   SHA-256("kiln-step-v1", kiln's version, the key of the step it starts from,
 *           the step's name, its section, the digests of its inputs)
 * so a key changes with its own section, its inputs' bytes, or any earlier
 * step, and with nothing else.  The inputs are the host content a step reads
 * (a base's tarball, directory, OCI image, Debian tar or disk; the files'
 * src): only the run reads them, so a step with host inputs (has_inputs) and
 * every step after it have an empty key until the run completes it with
 * plan_complete_step(), the digests being those the step records in the
 * build record (sha256 of the bytes read; a directory's file manifest).
 * A debian base is completed before it runs, with the digests of its
 * suites' signed InRelease files (base_debian_begin(), builder/base.h).
 * What a guest step downloads from the network (packages) is not in its key.
 *
 * plan_make() and plan_complete_step() do no I/O. */
#ifndef KILN_PLAN_H
#define KILN_PLAN_H

#include <jansson.h>
#include <stdint.h>

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
    PLAN_FILES_LATE,  /* files with after_run, owners included */
    PLAN_DISK,        /* the disk laid out from the tree, when files come after the guest step */
    PLAN_OUTPUT,
};

/* The build options that change a build's result. */
struct plan_opts {
    int has_source_date_epoch;
    int64_t source_date_epoch;
    int has_compression;          /* overrides every oci output */
    enum recipe_compression compression;
};

struct plan_step {
    enum plan_step_kind kind;
    size_t index;                 /* PLAN_OUTPUT: index into recipe->outputs */
    json_t *section;              /* canonical recipe section (own reference) */
    int has_inputs;               /* 1: the run reads host content; the key waits for its digests */
    json_t *digests;              /* its inputs' digests once completed (array of hex), or NULL; own reference */
    char key[HASH_HEX_LEN + 1];   /* "" until known */
};

struct build_plan {
    struct plan_step *steps;      /* owned */
    size_t n;
    int needs_guest;
    char key[HASH_HEX_LEN + 1];   /* the hash of every output's key, "" until known */
};

/* *out is owned by the caller: plan_free().  opts may be NULL (none). */
int plan_make(const struct recipe *r, const struct plan_opts *opts, struct build_plan **out,
              struct kiln_err *err);
/* Completes step i with the sha256 (hex) of each input it read, in order
 * (n may be 0), and computes the keys from i on as far as they are known.
 * KILN_EFAIL when the previous step's key is not known yet. */
int plan_complete_step(struct build_plan *p, size_t i, const char *const *sha256, size_t n,
                       struct kiln_err *err);
/* 1 when the plan has a step of that kind. */
int plan_has(const struct build_plan *p, enum plan_step_kind kind);
/* The keys as recorded in the build record: [{"step": name, "key": hex}, ...].
 * New reference. */
json_t *plan_keys_json(const struct build_plan *p);
void plan_free(struct build_plan *p);
const char *plan_step_name(enum plan_step_kind k);

#endif
