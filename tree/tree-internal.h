/* tree-internal.h - struct tree, shared by the tree's own files only
 * (tree.c, tree-tar.c, tree-dir.c). */
#ifndef KILN_TREE_INTERNAL_H
#define KILN_TREE_INTERNAL_H

#include "tree/tree.h"

struct tree {
    struct tree_limits limits;
    struct tree_entry *root;
    struct tree_entry **buckets;   /* path -> entry, chained through hnext */
    size_t nbuckets;
    size_t count;                  /* entries in the table, root included */
    uint64_t added;                /* entries ever added (the entry limit) */
    uint64_t bytes;                /* content bytes ever read in (the size limit) */
    unsigned layer;
    int64_t epoch;
    int64_t newest;           /* the newest mtime any added entry carried */

    int spool_fd;
    char *spool_path;
    uint64_t spool_len;            /* logical length, buffered bytes included */
    unsigned char *wbuf;           /* write buffer, SPOOL_BUF bytes */
    size_t wlen;
    uint64_t cur_off;              /* start of the content being written */
    struct hash_ctx *cur_hash;
};

void tree_content_unref(struct tree_content *c);
/* 1 if s has no control character (below 0x20, or 0x7f).  Any other bytes
 * are a name, UTF-8 or not: kiln keeps names byte for byte. */
int tree_valid_name(const char *s);

#endif
