/* store-internal.h - what store.c, index.c and gc.c share; not for other modules. */
#ifndef KILN_IMAGES_STORE_INTERNAL_H
#define KILN_IMAGES_STORE_INTERNAL_H

#include "images/store.h"

struct store {
    char *dir;      /* as given */
    char *blobs;    /* DIR/blobs/sha256 */
    char *kdir;     /* DIR/.kiln */
    char *tmp;      /* DIR/.kiln/tmp */
    char *index;    /* DIR/index.json */
    int writable;
    int gc_fd;      /* DIR/.kiln/gc.lock held shared, or -1 */
    struct oci_layout *layout; /* the same directory, for reading */
};

/* KILN_EINVAL unless st was opened for writing. */
int store_require_write(const struct store *st, struct kiln_err *err);
/* Takes DIR/.kiln/index.lock exclusively; *fd is the lock (close it to release). */
int store_index_lock(const struct store *st, int *fd, struct kiln_err *err);
/* Writes index.json atomically (canonical JSON). */
int store_index_write(const struct store *st, json_t *index, struct kiln_err *err);

#endif
