/* diff.h - what changed between two file manifests.
 *
 * A file manifest is {"files":[{"path":..,"type":..,"mode":..,"uid":..,
 * "gid":..,"size":..,"sha256":..,"target":..,"major":..,"minor":..}],
 * "version":1}.  diff_files() lists every path only in b (added), only in
 * a (removed) or in both with a different entry (changed, with which
 * fields differ), in one list sorted by path. */
#ifndef KILN_DIFF_H
#define KILN_DIFF_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

enum diff_field {
    DIFF_TYPE = 1 << 0,    /* "type" */
    DIFF_CONTENT = 1 << 1, /* "sha256" or "size" */
    DIFF_MODE = 1 << 2,    /* "mode" */
    DIFF_OWNER = 1 << 3,   /* "uid" or "gid" */
    DIFF_TARGET = 1 << 4,  /* "target" of a symlink or hard link */
    DIFF_DEVICE = 1 << 5,  /* "major" or "minor" of a device */
};

struct diff_entry {
    char op;          /* '+' added, '-' removed, '~' changed */
    char *path;       /* owned by the diff */
    unsigned fields;  /* for '~': DIFF_* bits */
};

struct diff {
    struct diff_entry *v; /* sorted by path */
    size_t n;
    size_t added, removed, changed;
};

#define DIFF_MAX_FILES 4000000u

/* Compares two file manifests; d is filled and must be released with
 * diff_release().  Fails with KILN_EINVAL on a malformed manifest. */
int diff_files(json_t *a, json_t *b, struct diff *d, struct kiln_err *err);
void diff_release(struct diff *d);

/* The names of the fields in bits, in a fixed order: "type", "content",
 * "mode", "owner", "target", "device".  Returns how many were written. */
size_t diff_field_names(unsigned bits, const char *names[6]);

/* {"added":[paths],"removed":[paths],"changed":[{"path":..,"fields":[..]}]}
 * as a new reference. */
json_t *diff_to_json(const struct diff *d);

#endif
