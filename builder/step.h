/* step.h - the host steps (step-*.c): files, users, hostname and the files'
 * owners, run in that order on ctx->tree, and the helpers they share; then
 * the guest step.  They
 * edit the tree the way a file system inside the image would: recipe paths
 * resolve through the tree's own symlinks, never outside its root. */
#ifndef KILN_STEP_H
#define KILN_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "builder/ctx.h"

/* The files before the guest step, or, run as the files-after-run step, the
 * files marked after_run with their owners. */
int step_files_run(struct build_ctx *ctx, struct kiln_err *err);
int step_users_run(struct build_ctx *ctx, struct kiln_err *err);
int step_hostname_run(struct build_ctx *ctx, struct kiln_err *err);
/* Applies the owners of the files before the guest step (after users, so
 * recipe users can own files). */
int step_owners_run(struct build_ctx *ctx, struct kiln_err *err);

/* The SBOMs of the finished tree (step-sbom.c): an SPDX 2.3 and a
 * CycloneDX 1.6 document (new references); both NULL, with a warning, when
 * one is larger than an attestation may hold.  Hostile dpkg data in the
 * tree fails the build. */
int step_sbom_run(struct build_ctx *ctx, json_t **spdx, json_t **cyclonedx, struct kiln_err *err);

/* The guest step (build-disk.c): the rootfs in in_tar through disk/disk.h's
 * host path when the disk can be laid out without an appliance, else one
 * appliance launch; the new rootfs in out_tar, the raw disk (if any) kept in
 * the scratch directory for the disk outputs.  Without lay_out_disk (the
 * plan has a disk step) the appliance runs the in-guest steps only. */
int step_guest_run(struct build_ctx *ctx, const char *in_tar, const char *out_tar, int lay_out_disk,
                   struct kiln_err *err);
/* The disk step: the disk laid out from the tree (in in_tar too) after the
 * files that come after the guest step, on the host, or by the appliance
 * when the recipe runs nothing inside the image; the new rootfs in out_tar. */
int step_disk_run(struct build_ctx *ctx, const char *in_tar, const char *out_tar, struct kiln_err *err);
/* KILN_EINVAL when files come after the guest step and the disk must be laid
 * out by the appliance inside it (which runs before them): checked before a
 * build starts. */
int step_disk_possible(const struct recipe *r, struct kiln_err *err);

#define STEP_TEXT_LIMIT (16u << 20) /* /etc/passwd and friends read from a base */

/* The path dest resolves to in the tree: its parent resolved through
 * symlinks, its last component as is.  *out is caller-owned. */
int step_resolve_dest(struct build_ctx *ctx, const char *what, const char *dest, char **out,
                      struct kiln_err *err);

/* Resolves "USER[:GROUP]" or "UID[:GID]" against the tree's /etc/passwd and
 * /etc/group.  USER alone gives the user's primary group. */
int step_owner(struct build_ctx *ctx, const char *what, const char *owner, uint32_t *uid, uint32_t *gid,
               struct kiln_err *err);

/* Reads a text file of the tree (following symlinks inside the tree); a
 * missing file gives an empty string.  *out caller-owned. */
int step_read_text(struct build_ctx *ctx, const char *path, char **out, size_t *len, struct kiln_err *err);

/* Replaces the content of path (resolved inside the tree); a new file gets
 * mode and owner, an existing one keeps them.  mtime becomes SOURCE_DATE_EPOCH. */
int step_write_text(struct build_ctx *ctx, const char *what, const char *path, const char *data, size_t len,
                    unsigned mode, uint32_t uid, uint32_t gid, struct kiln_err *err);

/* Looks NAME up in a passwd/group style text: field 3 (the id) and, for
 * passwd, field 4 (the group).  Returns 1 if found. */
int step_db_lookup(const char *text, const char *name, long *id, long *gid);
/* 1 if some line of the text has id in field 3. */
int step_db_has_id(const char *text, long id);

#endif
