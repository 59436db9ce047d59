/* disk.h - the in-guest stage and VM disk images (libguestfs), for the pipeline.
 *
 * guest_stage_run() takes a rootfs tar and a recipe and, in one appliance
 * launch, lays the tree onto a scratch disk, runs the recipe's in-guest
 * steps (packages with apt-get, run commands with their timeouts,
 * services, sysprep and its checked post-condition), makes the disk
 * bootable when a disk output asks for it, and writes the customised
 * tree back out as a tar.  This header does not include guestfs.h. */
#ifndef KILN_DISK_H
#define KILN_DISK_H

#include <stdint.h>

#include "common/err.h"
#include "recipes/recipe.h"

/* Annotation recording that the sysprep post-condition was checked. */
#define DISK_SYSPREP_ANNOTATION "dev.kiln.sysprep"
#define DISK_MEDIA_TYPE_QCOW2 "application/vnd.dev.kiln.disk.qcow2"
#define DISK_MEDIA_TYPE_RAW "application/vnd.dev.kiln.disk.raw"
#define DISK_ARTIFACT_QCOW2 "application/vnd.dev.kiln.disk.qcow2.v1"
#define DISK_ARTIFACT_RAW "application/vnd.dev.kiln.disk.raw.v1"

#define DISK_MIN_SIZE (64ull << 20)
#define DISK_MAX_SIZE (8ull << 40) /* 8 TiB: refuse anything larger */

struct guest_result {
    char *tree_tar;       /* the customised rootfs as a tar (in workdir); owned */
    char *disk_raw;       /* the raw disk (in workdir) when the recipe has a disk output, else NULL; owned */
    uint64_t disk_size;   /* its virtual size in bytes */
    int sysprep_verified; /* 1: the sysprep post-condition was checked and holds */
};

/* The first qcow2/raw output of the recipe, or NULL. */
const struct recipe_output *disk_first_output(const struct recipe *r);

/* Plans the disk size: o->size when given (checked against the content:
 * KILN_EINVAL "... is too small ..." when it cannot hold it), else the
 * content plus headroom (1.3x + 256 MiB, more when packages are installed),
 * rounded up to a MiB.  content = bytes of the rootfs tar.  No I/O. */
int disk_plan_size(const struct recipe_output *o, uint64_t content, int installs,
                   uint64_t *size, struct kiln_err *err);

/* Runs the stage.  workdir is a scratch directory the caller removes.
 * On failure nothing outside workdir is touched. */
int guest_stage_run(const struct recipe *r, const char *rootfs_tar, const char *workdir,
                    struct guest_result *out, struct kiln_err *err);

void guest_result_release(struct guest_result *res);

/* Writes the raw disk at raw as dest in the output's format (qcow2 compact,
 * compressed when o->compress; raw sparse), through a temp file next to dest. */
int disk_write_output(const char *raw, const struct recipe_output *o, const char *dest,
                      struct kiln_err *err);

#endif
