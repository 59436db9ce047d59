/* gc.c - store_gc(): mark every blob reachable from index.json, sweep the rest.
 *
 * Runs under the exclusive gc lock (writers hold it shared from store_open()
 * to store_close()), so no blob that a live writer wrote but has not yet
 * listed in index.json is ever removed.  The mark walks every index.json
 * entry with STORE_WALK_SUBJECT; a missing or corrupt reachable manifest
 * stops gc before anything is deleted. */
#include "images/gc.h"

#include "images/store-internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/banned.h"

static int gc_mark(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    (void)err;
    json_object_set_new((json_t *)ud, d->digest, json_true());
    return 0;
}

/* Removes every entry of dir whose name starts with prefix (all when prefix is ""). */
static void remove_matching(const char *dir, const char *prefix, uint64_t *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    size_t pl = strlen(prefix);
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (strncmp(e->d_name, prefix, pl) != 0)
            continue;
        _cleanup_free_ char *p = path_join(dir, e->d_name);
        if (fs_rm_rf(p, NULL) == 0)
            (*count)++;
    }
    closedir(d);
}

int store_gc(struct store *st, struct store_gc_report *report, struct kiln_err *err)
{
    memset(report, 0, sizeof(*report));
    int r = store_require_write(st, err);
    if (r < 0)
        return r;
    /* Wait until no other handle can be between writing a blob and listing it. */
    if (flock(st->gc_fd, LOCK_EX | LOCK_NB) < 0) {
        kiln_log(KILN_LOG_INFO, "waiting for other writers of store '%s' to finish", st->dir);
        while (flock(st->gc_fd, LOCK_EX) < 0)
            if (errno != EINTR)
                return kiln_errno(err, KILN_EFAIL, errno, "cannot lock store '%s' for gc", st->dir);
    }
    json_t *index = NULL;
    json_t *marked = json_object();
    DIR *d = NULL;
    if ((r = store_index_read(st, &index, err)) < 0)
        goto out;
    json_t *entries = json_object_get(index, "manifests");
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        struct oci_desc desc;
        char what[64];
        snprintf(what, sizeof(what), "index.json manifests[%zu]", i);
        if ((r = oci_desc_parse(e, what, &desc, err)) < 0)
            goto out;
        r = store_walk(st, &desc, STORE_WALK_SUBJECT, gc_mark, marked, err);
        oci_desc_release(&desc);
        if (r < 0) {
            kiln_err_prefix(err, "gc: nothing removed");
            goto out;
        }
    }
    d = opendir(st->blobs);
    if (!d) {
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", st->blobs);
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!hash_is_hex(de->d_name))
            continue; /* not a blob name: not ours to judge */
        char digest[DIGEST_STR_SIZE];
        snprintf(digest, sizeof(digest), "sha256:%s", de->d_name);
        if (json_object_get(marked, digest)) {
            report->blobs_kept++;
            continue;
        }
        _cleanup_free_ char *p = path_join(st->blobs, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) < 0)
            continue;
        if (unlink(p) < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot remove blob '%s'", digest);
            goto out;
        }
        report->blobs_removed++;
        report->bytes_removed += (uint64_t)sb.st_size;
    }
    if ((r = fs_fsync_dir(st->blobs, err)) < 0)
        goto out;
    /* Every writer is waiting or gone: what is left in tmp is from interrupted ones. */
    remove_matching(st->tmp, "", &report->tmp_removed);
    remove_matching(st->dir, "index.json.tmp.", &report->tmp_removed);
    remove_matching(st->dir, "oci-layout.tmp.", &report->tmp_removed);
    r = 0;
out:
    if (d)
        closedir(d);
    json_decref(index);
    json_decref(marked);
    flock(st->gc_fd, LOCK_SH);
    return r;
}
