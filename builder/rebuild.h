/* rebuild.h - does the recipe rebuild an image bit for bit?  (kiln verify --rebuild)
 *
 * rebuild_verify() reads what the image's provenance recorded (the
 * recipe's digest, SOURCE_DATE_EPOCH, the inputs' digests), builds the
 * recipe again with that SOURCE_DATE_EPOCH in a scratch store in dir (an
 * empty directory the caller makes and removes; the image's own store is
 * only read), and compares: the
 * image's digest, every output's digest in order, and where they differ
 * the file manifests (images/diff.h) and, for disks, which structures
 * (disk_compare(), disk/disk.h).  The downloaded-base cache (a Debian
 * bootstrap, keyed by what it was made from) is the only thing reused; the
 * rebuilt inputs' digests are compared with the recorded ones.
 *
 * The report (a new reference, also when the rebuild differs):
 *   {"image", "name", "version", "recorded", "rebuilt", "identical",
 *    "sourceDateEpoch", "recipe": {"recorded", "rebuilt"},
 *    "inputs": [{"name", "recorded", "rebuilt"}] (only those that differ),
 *    "outputs": [{"type", "recorded", "rebuilt", "identical",
 *                 "disk": [{"region", "detail"}] (differing disks only)}],
 *    "files": {"added", "removed", "changed"} (when the images differ)}
 * Returns 0 when identical, KILN_EVERIFY when the rebuild differs (the
 * message says how), KILN_EFAIL when the rebuild itself failed or the
 * image has no provenance to rebuild from. */
#ifndef KILN_REBUILD_H
#define KILN_REBUILD_H

#include <jansson.h>

#include "builder/build.h"
#include "common/err.h"
#include "images/store.h"
#include "recipes/recipe.h"

/* opts: as for a build (limits, scratch parent, caches); its
 * SOURCE_DATE_EPOCH is replaced by the recorded one. */
int rebuild_verify(struct store *st, const char *ref, const struct recipe *r, const struct build_opts *opts,
                   const char *dir, json_t **report, struct kiln_err *err);

/* The predicate of the signed rebuild statement (signing_attach_rebuild())
 * for a report of an identical rebuild, rebuilt at now (new reference). */
json_t *rebuild_predicate(json_t *report, int64_t now);

#endif
