/* recipe-inputs.c - recipe_check_inputs(): the host files a recipe names
 * exist, are the right kind, and match their declared sha256 (streamed). */
#include "recipes/recipe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "images/layout.h"
#include "common/banned.h"

static int pos_errf(const struct recipe *r, struct recipe_pos pos, struct kiln_err *err, int code,
                    const char *fmt, ...) KILN_PRINTF(5, 6);
static int pos_errf(const struct recipe *r, struct recipe_pos pos, struct kiln_err *err, int code,
                    const char *fmt, ...)
{
    char msg[420];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_errf(err, code, "%s:%u:%u: %s", r->source ? r->source : r->path, pos.line, pos.col, msg);
}

static int check_regular(const struct recipe *r, struct recipe_pos pos, const char *what, const char *path,
                         struct kiln_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' cannot be read: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' is not a regular file", what, path);
    if (access(path, R_OK) < 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' cannot be read: %s", what, path, strerror(errno));
    return 0;
}

static int check_digest(const struct recipe *r, struct recipe_pos pos, const char *what, const char *path,
                        const char *want, struct kiln_err *err)
{
    int rc = check_regular(r, pos, what, path, err);
    if (rc < 0 || !want[0])
        return rc;
    char got[HASH_HEX_LEN + 1];
    struct kiln_err e = KILN_ERR_INIT;
    if (hash_file_sha256(path, got, NULL, &e) < 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s", e.msg);
    if (strcmp(got, want) != 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' has sha256 %s, the recipe declares %s", what, path,
                        got, want);
    return 0;
}

static int check_dir(const struct recipe *r, struct recipe_pos pos, const char *what, const char *path,
                     struct kiln_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' cannot be read: %s", what, path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return pos_errf(r, pos, err, KILN_EINVAL, "%s '%s' is not a directory", what, path);
    return 0;
}

/* The layout has an oci-layout file and an index.json entry named ref. */
static int check_oci_ref(const struct recipe *r, struct kiln_err *err)
{
    const struct recipe_base *b = &r->base;
    _cleanup_free_ char *marker = path_join(b->path, "oci-layout");
    if (!fs_exists(marker))
        return pos_errf(r, b->pos, err, KILN_EINVAL, "base OCI layout '%s' has no 'oci-layout' file", b->path);
    struct kiln_err e = KILN_ERR_INIT;
    struct oci_layout *l = NULL;
    struct oci_index *ix = NULL;
    const struct oci_desc *d = NULL;
    int rc = 0;
    if (oci_layout_open(b->path, &l, &e) < 0)
        rc = pos_errf(r, b->pos, err, KILN_EINVAL, "base OCI layout: %s", e.msg);
    else if (oci_layout_index(l, &ix, &e) < 0)
        rc = pos_errf(r, b->pos, err, KILN_EINVAL, "base OCI layout '%s' has no valid index.json (%s)", b->path,
                      e.msg);
    else if (oci_index_resolve(ix, b->ref, &d, &e) < 0)
        rc = pos_errf(r, b->pos, err, KILN_EINVAL, "base OCI layout '%s' has no image named '%s'", b->path,
                      b->ref);
    oci_index_free(ix);
    oci_layout_close(l);
    return rc;
}

int recipe_check_inputs(const struct recipe *r, struct kiln_err *err)
{
    const struct recipe_base *b = &r->base;
    int rc = 0;
    switch (b->kind) {
    case BASE_TARBALL:
        rc = check_digest(r, b->pos, "base tarball", b->path, b->sha256, err);
        break;
    case BASE_DISK:
        rc = check_digest(r, b->pos, "base disk", b->path, b->sha256, err);
        break;
    case BASE_DIRECTORY:
        rc = check_dir(r, b->pos, "base directory", b->path, err);
        break;
    case BASE_OCI: {
        rc = check_dir(r, b->pos, "base OCI layout", b->path, err);
        if (rc == 0)
            rc = check_oci_ref(r, err);
        break;
    }
    case BASE_SCRATCH:
    case BASE_DEBIAN:
        break;
    }
    for (size_t i = 0; rc == 0 && i < r->n_files; i++) {
        const struct recipe_file *f = &r->files[i];
        if (f->src) {
            char what[64];
            snprintf(what, sizeof(what), "files[%zu].src", i);
            rc = check_regular(r, f->pos, what, f->src, err);
        }
    }
    return rc;
}
