/* gc.h - garbage collection of a store (gc.c).
 *
 * Needs a handle opened for writing.  Takes DIR/.kiln/gc.lock exclusively,
 * waiting for live writers (each holds it shared while open), so a blob
 * written but not yet listed in index.json is never removed. */
#ifndef KILN_IMAGES_GC_H
#define KILN_IMAGES_GC_H

#include <stdint.h>

#include "common/err.h"

struct store;

struct store_gc_report {
    uint64_t blobs_kept;
    uint64_t blobs_removed;
    uint64_t bytes_removed;
    uint64_t tmp_removed;   /* stale temp files from interrupted writers */
};

/* Marks every blob reachable from index.json (manifests, indexes, configs,
 * layers, subjects, dev.kiln.files) and deletes the rest and stale temp files.
 * A reachable manifest that is missing or corrupt stops gc with an error and
 * deletes nothing. */
int store_gc(struct store *st, struct store_gc_report *report, struct kiln_err *err);

#endif
