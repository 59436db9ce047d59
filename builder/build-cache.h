/* build-cache.h - how build.c uses the build cache (builder/cache.h); for build.c only.
 *
 * Cache points:
 *   tree states   the tree after a Debian or disk base (expensive to make,
 *                 key known before the run), the tree the guest stage starts
 *                 from (a changed `run` reruns from there), the tree the
 *                 guest stage made when files come after it (a changed
 *                 after_run file reruns from there), and the tree the outputs
 *                 start from (after the guest stage, or after the last host
 *                 step) unless a disk was made, which is not cached;
 *   outputs       each output's manifest and everything it reaches, listed
 *                 once the build is published (its blobs committed);
 *   whole build   every output's key known and cached: no step runs.
 * Before a step runs, the furthest cached tree state at or after it whose
 * key is known is restored and the steps up to it are skipped.  A tree's tar
 * is held with the build's blobs; every entry is listed only once the build
 * is published, so a failed or interrupted build leaves the store as it was.
 * Failing to write an entry is a warning: the build goes on. */
#ifndef KILN_BUILD_CACHE_INTERNAL_H
#define KILN_BUILD_CACHE_INTERNAL_H

#include <stddef.h>

#include "builder/build.h"
#include "builder/ctx.h"
#include "builder/plan.h"

/* Restores the furthest cached tree state for steps i.. (not outputs); 1 and
 * *last = its step when restored, 0 when nothing was. */
int build_cache_restore(struct build_ctx *ctx, const struct build_plan *plan, size_t i, size_t *last);
/* After step i ran: holds the tree's tar if step i is a cache point. */
void build_cache_save_tree(struct build_ctx *ctx, const struct build_plan *plan, size_t i);
/* 1 when every output is cached and checks: res->outputs filled, ctx's
 * SOURCE_DATE_EPOCH, inputs and file manifest set from the entries. */
int build_cache_all_outputs(struct build_ctx *ctx, const struct build_plan *plan, struct build_result *res);
/* Says, step by step, that the build came from the cache (once it is used). */
void build_cache_log_all(const struct build_plan *plan);
/* Output step s: 1 and *out filled when it is cached. */
int build_cache_output(struct build_ctx *ctx, const struct plan_step *s, struct output_desc *out);
/* Output step s was built into *out: list it in the cache once published. */
void build_cache_note_output(struct build_ctx *ctx, const struct plan_step *s, const struct output_desc *out);
/* After a successful publish: lists the held trees and the noted outputs. */
void build_cache_published(struct build_ctx *ctx);

#endif
